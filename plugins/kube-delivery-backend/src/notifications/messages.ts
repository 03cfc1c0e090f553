import { parseEntityRef } from '@backstage/catalog-model';
import type { NotificationPayload } from '@backstage/plugin-notifications-common';
import type { DeploymentKind } from '@internal/plugin-kube-delivery-common';

/**
 * The topics Kube Delivery's notifications carry, `kube-delivery:<what>`: a
 * user mutes one in the notifications settings (origin `plugin:kube-delivery`).
 */
export const NOTIFICATION_TOPICS = {
  deploySucceeded: 'kube-delivery:deploy-succeeded',
  deployFailed: 'kube-delivery:deploy-failed',
  deployRolledBack: 'kube-delivery:deploy-rolled-back',
  approvalRequested: 'kube-delivery:approval-requested',
  certificateExpiring: 'kube-delivery:certificate-expiring',
  environmentUnhealthy: 'kube-delivery:environment-unhealthy',
} as const;

/** The longest description sent; the rest is in the release history. */
const MAX_DESCRIPTION = 1000;

const PEM_BLOCK =
  /-----BEGIN [A-Z0-9 ]+-----[\s\S]*?(?:-----END [A-Z0-9 ]+-----|$)/g;
const BEARER = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi;
const JWT = /\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g;
const SECRET_ASSIGNMENT =
  /\b(token|password|passwd|secret|api[_-]?key|private[_-]?key)(["']?\s*[:=]\s*["']?)[^\s"',;]+/gi;

/**
 * Text for a notification: key material, bearer and basic credentials,
 * JWTs and `token=…`-like assignments replaced, control characters removed,
 * cut to a length a notification shows.
 */
export function safeText(text: string, max = MAX_DESCRIPTION): string {
  const cleaned = text
    .replace(PEM_BLOCK, '[redacted key material]')
    .replace(BEARER, '$1 [redacted]')
    .replace(JWT, '[redacted token]')
    .replace(SECRET_ASSIGNMENT, '$1$2[redacted]')
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, ' ')
    .trim();
  return cleaned.length > max ? `${cleaned.slice(0, max - 1)}…` : cleaned;
}

/** The tabs of a service's entity page a notification links to. */
export type EntityTab = 'environments' | 'release-history';

/**
 * The app path of one of Kube Delivery's tabs of an entity, e.g.
 * `/catalog/default/component/cart/kube-delivery/environments`; every part
 * URL-encoded (entity names come from catalog files).
 */
export function entityTabLink(entityRef: string, tab: EntityTab): string {
  const ref = parseEntityRef(entityRef);
  const enc = encodeURIComponent;
  return `/catalog/${enc(ref.namespace.toLocaleLowerCase('en-US'))}/${enc(
    ref.kind.toLocaleLowerCase('en-US'),
  )}/${enc(ref.name)}/kube-delivery/${tab}`;
}

/** What the notifications of one deployment are about. */
export interface DeploymentFacts {
  id: string;
  entityRef: string;
  environment: string;
  version: string;
  kind: DeploymentKind;
  status: string;
  message?: string;
  createdBy: string;
}

/** Repeated notifications of one deployment (waiting, then its outcome) update one notification. */
export const deploymentScope = (id: string) => `kube-delivery:deployment:${id}`;

const VERB: Record<DeploymentKind, string> = {
  deploy: 'Deployment',
  promote: 'Promotion',
  rollback: 'Rollback',
  restart: 'Restart',
};

function subject(d: DeploymentFacts) {
  const name = parseEntityRef(d.entityRef).name;
  return `${safeText(name, 63)} ${safeText(d.version, 128)}`;
}

function describeDeployment(d: DeploymentFacts, reason: string | undefined) {
  const what = `${VERB[d.kind] ?? 'Deployment'} ${
    d.id
  }, requested by ${safeText(d.createdBy, 200)}.`;
  return reason ? `${safeText(reason)}\n\n${what}` : what;
}

/**
 * The notification of a deployment's outcome, or undefined when its owners
 * are not told: a success only in a protected environment; a failure and an
 * automatic rollback always.
 */
export function deploymentOutcomePayload(
  d: DeploymentFacts,
  environment: { name: string; protected: boolean },
): NotificationPayload | undefined {
  const who = subject(d);
  const env = safeText(environment.name, 63);
  const common = { scope: deploymentScope(d.id) };
  switch (d.status) {
    case 'succeeded':
      if (!environment.protected) return undefined;
      return {
        ...common,
        title: `${who} deployed to ${env}: succeeded`,
        description: describeDeployment(d, d.message),
        link: entityTabLink(d.entityRef, 'environments'),
        severity: 'normal',
        topic: NOTIFICATION_TOPICS.deploySucceeded,
      };
    case 'failed':
      return {
        ...common,
        title: `${who} failed to deploy to ${env}`,
        description: describeDeployment(d, d.message),
        link: entityTabLink(d.entityRef, 'release-history'),
        severity: 'high',
        topic: NOTIFICATION_TOPICS.deployFailed,
      };
    case 'rolled-back':
      return {
        ...common,
        title: `${who} rolled back automatically in ${env}`,
        description: describeDeployment(d, d.message),
        link: entityTabLink(d.entityRef, 'release-history'),
        severity: 'high',
        topic: NOTIFICATION_TOPICS.deployRolledBack,
      };
    default:
      return undefined;
  }
}

/** The notification that a deployment into a protected environment waits for approval. */
export function approvalRequestedPayload(
  d: DeploymentFacts,
  expiresAt?: string,
): NotificationPayload {
  return {
    scope: deploymentScope(d.id),
    title: `${subject(d)} waits for approval to deploy to ${safeText(
      d.environment,
      63,
    )}`,
    description: describeDeployment(
      d,
      `Another user holding kube-delivery.deployment.approve must approve it${
        expiresAt ? ` before ${expiresAt}` : ''
      }; the requester may not.`,
    ),
    link: entityTabLink(d.entityRef, 'environments'),
    severity: 'normal',
    topic: NOTIFICATION_TOPICS.approvalRequested,
  };
}

/** What the expiry check found about a gateway certificate. */
export interface ExpiringCertificate {
  environment: string;
  gateway: string;
  notAfter: string;
  daysToExpiry: number;
  source: string;
  certificateId: string;
}

/** The platform team's notification of a gateway certificate about to expire (or expired). */
export function certificateExpiringPayload(
  c: ExpiringCertificate,
): NotificationPayload {
  const expired = c.daysToExpiry < 0;
  const gateway = safeText(c.gateway, 253);
  const env = safeText(c.environment, 63);
  return {
    scope: `kube-delivery:certificate:${c.certificateId}`,
    title: expired
      ? `The certificate of gateway ${gateway} in ${env} expired`
      : `The certificate of gateway ${gateway} in ${env} expires in ${c.daysToExpiry} day(s)`,
    description: `It ${expired ? 'expired' : 'expires'} on ${safeText(
      c.notAfter,
      64,
    )}. ${
      c.source === 'cert-manager'
        ? 'cert-manager has not renewed it: check its Certificate and issuer.'
        : 'Upload a renewed one.'
    }`,
    severity: expired ? 'high' : 'normal',
    topic: NOTIFICATION_TOPICS.certificateExpiring,
  };
}

/** An environment whose health check turned to error. */
export interface UnhealthyEnvironment {
  environment: string;
  /** The previous overall status (`unknown` before the first check). */
  from: string;
  /** The error findings: what failed and what to do. */
  findings: Array<{ check: string; message: string; action?: string }>;
}

/** The platform team's notification of an environment that became unhealthy. */
export function environmentUnhealthyPayload(
  u: UnhealthyEnvironment,
): NotificationPayload {
  const env = safeText(u.environment, 63);
  const lines = u.findings
    .slice(0, 5)
    .map(
      f =>
        `${safeText(f.check, 100)}: ${safeText(f.message, 300)}${
          f.action ? ` ${safeText(f.action, 300)}` : ''
        }`,
    );
  return {
    scope: `kube-delivery:environment-health:${u.environment}`,
    title: `Environment ${env} is unhealthy (${safeText(u.from, 16)} → error)`,
    description: safeText(lines.join('\n')),
    severity: 'high',
    topic: NOTIFICATION_TOPICS.environmentUnhealthy,
  };
}
