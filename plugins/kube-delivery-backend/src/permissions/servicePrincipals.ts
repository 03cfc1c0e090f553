import type { BackstageCredentials } from '@backstage/backend-plugin-api';
import type { Config } from '@backstage/config';
import { kubeDeliveryPermissions } from '@internal/plugin-kube-delivery-common';

/** Where the grants are configured. */
export const SERVICE_PRINCIPALS_KEY = 'kubeDelivery.servicePrincipals';

/**
 * One entry of `kubeDelivery.servicePrincipals`: what a caller that is not a
 * user (a static CI token, another plugin, a JWKS-verified machine) may do.
 */
export interface ServicePrincipalGrant {
  /**
   * The principal's subject, exactly as Backstage authenticates it: the
   * configured `subject` of a `backend.auth.externalAccess` static token
   * (`ci` in the shipped app-config), `external:<sub>` (or
   * `external:<subjectPrefix>:<sub>`) for a JWKS token,
   * `external:backstage-plugin` for a legacy key, `plugin:<pluginId>` for
   * another backend plugin's own token.
   */
  subject: string;
  /** Kube Delivery permission names, e.g. `kube-delivery.deployment.create`. */
  permissions: string[];
  /** Where the environment-scoped ones apply; absent: every environment. */
  environments?: string[];
}

/** What is asked: a permission, and the environment it is used in when it is used in one. */
export interface ServicePrincipalRequest {
  permission: string | { name: string };
  /**
   * The environment the action happens in (deploy, promote, route,
   * certificate…). Leave it out only for what is not in an environment
   * (reading an entity's releases, creating a release): the grant's
   * `environments` then do not apply.
   */
  environment?: string;
}

/**
 * - `not-a-service`: a user (also a plugin acting on behalf of a user, e.g.
 *   the scaffolder with `getInitiatorCredentials()`), or nobody: ask the
 *   permission policy as usual.
 * - `allow`: a service principal granted the permission (there) by config.
 * - `deny`: any other service principal; `message` names the subject and
 *   says what it may do instead, for the 403.
 */
export type ServicePrincipalDecision =
  | { result: 'not-a-service' }
  | { result: 'allow'; subject: string }
  | { result: 'deny'; subject: string; message: string };

/**
 * Backstage's permission client allows every service principal without
 * asking the policy (only a token's `accessRestrictions` limit it). Kube
 * Delivery asks this first: a service principal may do only what
 * `kubeDelivery.servicePrincipals` grants its subject.
 */
export function servicePrincipalDecision(
  credentials: BackstageCredentials,
  request: ServicePrincipalRequest,
  grants: readonly ServicePrincipalGrant[],
): ServicePrincipalDecision {
  const principal = credentials.principal as {
    type?: string;
    subject?: string;
  };
  if (principal.type !== 'service') return { result: 'not-a-service' };
  const subject = String(principal.subject);
  const permission =
    typeof request.permission === 'string'
      ? request.permission
      : request.permission.name;
  const own = grants.filter(g => g.subject === subject);
  const granting = own.filter(g => g.permissions.includes(permission));
  const allowed = granting.some(
    g =>
      request.environment === undefined ||
      g.environments === undefined ||
      g.environments.includes(request.environment),
  );
  if (allowed) return { result: 'allow', subject };

  let message: string;
  if (own.length === 0) {
    message = `Service principal "${subject}" may not use Kube Delivery: ${SERVICE_PRINCIPALS_KEY} grants it nothing. A platform admin adds { subject: ${subject}, permissions: [...], environments: [...] } there, or the caller acts on behalf of a user`;
  } else if (granting.length === 0) {
    const has = [...new Set(own.flatMap(g => g.permissions))].join(', ');
    message = `Service principal "${subject}" may not ${permission}; ${SERVICE_PRINCIPALS_KEY} grants it ${has}`;
  } else {
    const where = [
      ...new Set(granting.flatMap(g => g.environments ?? [])),
    ].join(', ');
    message = `Service principal "${subject}" may not ${permission} in ${
      request.environment
    }; ${SERVICE_PRINCIPALS_KEY} grants it ${
      where ? `only in ${where}` : 'in no environment'
    }`;
  }
  return { result: 'deny', subject, message };
}

const SUBJECT = /^\S{1,200}$/;

/**
 * Reads and checks `kubeDelivery.servicePrincipals`: every permission must
 * be one of Kube Delivery's, and every environment (when `environments` is
 * given) a configured one, so a typo fails the start instead of silently
 * granting nothing. Absent: no service principal may do anything.
 */
export function readServicePrincipals(
  config: Config,
  options: { environments?: readonly string[] } = {},
): ServicePrincipalGrant[] {
  const known = new Set(kubeDeliveryPermissions.map(p => p.name));
  const entries = config.getOptionalConfigArray(SERVICE_PRINCIPALS_KEY) ?? [];
  return entries.map((entry, index) => {
    const at = `${SERVICE_PRINCIPALS_KEY}[${index}]`;
    const subject = entry.getString('subject');
    if (!SUBJECT.test(subject)) {
      throw new Error(
        `${at}.subject must be a principal's subject without spaces, e.g. ci or plugin:scaffolder`,
      );
    }
    const permissions = entry.getStringArray('permissions');
    if (permissions.length === 0) {
      throw new Error(`${at}.permissions must name at least one permission`);
    }
    for (const permission of permissions) {
      if (!known.has(permission)) {
        throw new Error(
          `${at}.permissions: "${permission}" is not a Kube Delivery permission; the permissions are ${[
            ...known,
          ].join(', ')}`,
        );
      }
    }
    const environments = entry.getOptionalStringArray('environments');
    if (environments && options.environments) {
      for (const environment of environments) {
        if (!options.environments.includes(environment)) {
          throw new Error(
            `${at}.environments: "${environment}" is not a configured environment; they are ${options.environments.join(
              ', ',
            )}`,
          );
        }
      }
    }
    return { subject, permissions, ...(environments && { environments }) };
  });
}
