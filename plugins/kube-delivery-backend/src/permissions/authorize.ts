import type {
  BackstageCredentials,
  PermissionsRegistryService,
  PermissionsService,
} from '@backstage/backend-plugin-api';
import type { Entity } from '@backstage/catalog-model';
import { NotAllowedError } from '@backstage/errors';
import {
  AuthorizeResult,
  isResourcePermission,
  type Permission,
  type PolicyDecision,
  type ResourcePermission,
} from '@backstage/plugin-permission-common';
import { createConditionAuthorizer } from '@backstage/plugin-permission-node';
import {
  kubeDeliveryReadPermission,
  kubeDeliveryTargetPermissions,
  parseTargetRef,
  RESOURCE_TYPE_KUBE_DELIVERY_TARGET,
  stringifyTargetRef,
} from '@internal/plugin-kube-delivery-common';
import { kubeDeliveryTargetRules } from './rules';
import {
  kubeDeliveryTargetResourceRef,
  type KubeDeliveryTarget,
  type TargetLoader,
} from './target';

type TargetPermission = ResourcePermission<
  typeof RESOURCE_TYPE_KUBE_DELIVERY_TARGET
>;

/**
 * A decision on a service principal taken before the permission client's
 * (which allows every service principal without asking the policy): e.g.
 * from a configured list of subjects per permission. `not-a-service`: ask
 * the policy as usual.
 */
export type ServicePrincipalCheck = (
  credentials: BackstageCredentials,
  request: { permission: Permission; environment?: string },
) =>
  | { result: 'not-a-service' }
  | { result: 'allow' }
  | { result: 'deny'; message: string };

/** What is acted on: an environment, and the entity there unless the action is environment-wide. */
export interface TargetRequest {
  environment: string;
  entityRef?: string;
  /** For {@link KubeDeliveryAuthorizer.decideMany}: the entity as the caller sees it, if read already. */
  entity?: Entity;
}

/**
 * Registers the `kube-delivery-target` resource type with its permissions
 * and rules, so that Backstage's permission backend evaluates conditional
 * decisions on targets through this plugin's permission integration endpoint
 * (e.g. for the frontend's `usePermission` with a target ref).
 */
export function registerTargetResourceType(
  registry: PermissionsRegistryService,
  loader: TargetLoader,
): void {
  registry.addResourceType({
    resourceRef: kubeDeliveryTargetResourceRef,
    permissions: kubeDeliveryTargetPermissions,
    rules: Object.values(kubeDeliveryTargetRules),
    getResources: refs => loader.getResources(refs),
  });
}

/** Why a target permission was refused, in the words of the 403. */
export function targetDenial(
  permission: Permission,
  target: { environment: string; entityRef?: string },
  environmentIsProtected: boolean,
): string {
  const ref = stringifyTargetRef(target);
  if (environmentIsProtected) {
    return `You may not ${permission.name} on ${ref}; ${target.environment} is protected: ask your platform team`;
  }
  return target.entityRef
    ? `You may not ${permission.name} on ${ref}; ask the entity's owners or your platform team`
    : `You may not ${permission.name} on ${ref}; ask your platform team`;
}

/**
 * Kube Delivery's authorization: permissions on targets (an environment, or
 * an entity's service in one) decided by the permission policy, conditional
 * decisions evaluated here with the target rules; reads on catalog entities.
 */
export class KubeDeliveryAuthorizer {
  private readonly authorizeConditions: (
    decision: PolicyDecision,
    resource: KubeDeliveryTarget | undefined,
  ) => boolean;

  /**
   * Registers the resource type (see {@link registerTargetResourceType}) and
   * returns the authorizer that evaluates its conditions with the registered
   * rules (a module's added rules included).
   */
  static create(options: {
    permissions: PermissionsService;
    permissionsRegistry: PermissionsRegistryService;
    loader: TargetLoader;
    /** Asked first for service principals; it may refuse what the permission client would allow. */
    servicePrincipals?: ServicePrincipalCheck;
  }): KubeDeliveryAuthorizer {
    registerTargetResourceType(options.permissionsRegistry, options.loader);
    return new KubeDeliveryAuthorizer({
      ...options,
      authorizeConditions: createConditionAuthorizer(
        options.permissionsRegistry.getPermissionRuleset(
          kubeDeliveryTargetResourceRef,
        ),
      ),
    });
  }

  private constructor(
    private readonly options: {
      permissions: PermissionsService;
      loader: TargetLoader;
      servicePrincipals?: ServicePrincipalCheck;
      authorizeConditions: (
        decision: PolicyDecision,
        resource: KubeDeliveryTarget | undefined,
      ) => boolean;
    },
  ) {
    this.authorizeConditions = options.authorizeConditions;
  }

  /**
   * The permissions service with the service-principal check in front: for
   * a router that asks `authorize` with a target ref itself (certificates),
   * a service principal is refused what its grant does not cover, in the
   * target's environment, with the check's reason.
   */
  permissionsService(): PermissionsService {
    const { permissions } = this.options;
    const check = this.options.servicePrincipals;
    if (!check) return permissions;
    return {
      authorizeConditional: (requests, options) =>
        permissions.authorizeConditional(requests, options),
      authorize: async (requests, options) => {
        const credentials =
          'credentials' in options ? options.credentials : undefined;
        const refusals = requests.map(request => {
          if (!credentials) return undefined;
          const target =
            request.resourceRef &&
            isResourcePermission(
              request.permission,
              RESOURCE_TYPE_KUBE_DELIVERY_TARGET,
            )
              ? parseTargetRef(request.resourceRef)
              : undefined;
          const decision = check(credentials, {
            permission: request.permission,
            environment: target?.environment,
          });
          return decision.result === 'deny' ? decision.message : undefined;
        });
        if (refusals.every(r => r === undefined)) {
          return permissions.authorize(requests, options);
        }
        // Refused here: a NotAllowedError with the check's reason, as the
        // router's own gates give it.
        throw new NotAllowedError(refusals.find(r => r !== undefined));
      },
    };
  }

  /** Whose credentials read the catalog for a caller (see {@link TargetLoader.catalogCredentials}). */
  catalogCredentials(credentials: BackstageCredentials) {
    return this.options.loader.catalogCredentials(credentials);
  }

  /** The environments' configuration, as targets have it. */
  environment(name: string) {
    return this.options.loader.environment(name);
  }

  /**
   * Whether the caller holds each permission on the target, asked of the
   * permission service with the target's ref in one batch: Backstage's
   * permission backend evaluates a policy's conditions through this plugin's
   * permission integration (`getResources` of the resource type), as for the
   * frontend's `usePermission`.
   */
  async decide(
    credentials: BackstageCredentials,
    permissions: TargetPermission[],
    request: TargetRequest,
  ): Promise<boolean[]> {
    const service = this.servicePrincipalDecisions(
      credentials,
      permissions,
      request,
    );
    const resourceRef = stringifyTargetRef(request);
    const decisions = await this.options.permissions.authorize(
      permissions.map(permission => ({ permission, resourceRef })),
      { credentials },
    );
    return decisions.map(
      (decision, i) =>
        service[i].result !== 'deny' &&
        decision.result === AuthorizeResult.ALLOW,
    );
  }

  /** Throws a 403 naming the first permission the caller does not hold on the target. */
  async authorize(
    credentials: BackstageCredentials,
    permission: TargetPermission | TargetPermission[],
    request: TargetRequest,
  ): Promise<void> {
    const permissions = [permission].flat();
    const service = this.servicePrincipalDecisions(
      credentials,
      permissions,
      request,
    );
    const denied = service.find(d => d.result === 'deny');
    if (denied?.result === 'deny') throw new NotAllowedError(denied.message);
    const allowed = await this.decide(credentials, permissions, request);
    const index = allowed.indexOf(false);
    if (index >= 0) {
      throw new NotAllowedError(
        targetDenial(
          permissions[index],
          request,
          this.options.loader.environment(request.environment)?.protected ??
            false,
        ),
      );
    }
  }

  /**
   * For each target, whether the caller holds each permission there: one
   * question to the policy per permission (`authorizeConditional`), its
   * conditions applied to every target here with the registered rules (a
   * list's filter; entities not passed are read as the caller sees them).
   */
  async decideMany(
    credentials: BackstageCredentials,
    permissions: TargetPermission[],
    requests: TargetRequest[],
  ): Promise<boolean[][]> {
    if (permissions.length === 0 || requests.length === 0) {
      return requests.map(() => permissions.map(() => false));
    }
    const decisions = await this.options.permissions.authorizeConditional(
      permissions.map(permission => ({ permission })),
      { credentials },
    );
    const targets = await this.targetsOf(credentials, requests, decisions);
    return requests.map((request, r) =>
      permissions.map((permission, p) => {
        const service = this.servicePrincipalDecisions(
          credentials,
          [permission],
          request,
        )[0];
        if (service.result === 'deny') return false;
        const decision = decisions[p];
        if (
          decision.result === AuthorizeResult.CONDITIONAL &&
          (decision.pluginId !== 'kube-delivery' ||
            decision.resourceType !== RESOURCE_TYPE_KUBE_DELIVERY_TARGET)
        ) {
          return false;
        }
        return this.authorizeConditions(decision, targets[r]);
      }),
    );
  }

  /**
   * Which of these entities the caller may read Kube Delivery's data of
   * (`kube-delivery.read` on each, one batch to the policy).
   */
  async readableEntities(
    credentials: BackstageCredentials,
    entityRefs: readonly string[],
  ): Promise<Set<string>> {
    const unique = [...new Set(entityRefs)];
    if (unique.length === 0) return new Set();
    const service = this.options.servicePrincipals?.(credentials, {
      permission: kubeDeliveryReadPermission,
    });
    if (service?.result === 'deny') return new Set();
    const decisions = await this.options.permissions.authorize(
      unique.map(resourceRef => ({
        permission: kubeDeliveryReadPermission,
        resourceRef,
      })),
      { credentials },
    );
    return new Set(
      unique.filter((_, i) => decisions[i].result === AuthorizeResult.ALLOW),
    );
  }

  /** The service-principal check of each permission; `not-a-service` when there is none. */
  servicePrincipalDecisions(
    credentials: BackstageCredentials,
    permissions: Permission[],
    request?: { environment?: string },
  ): ReturnType<ServicePrincipalCheck>[] {
    const check = this.options.servicePrincipals;
    return permissions.map(permission =>
      check
        ? check(credentials, { permission, environment: request?.environment })
        : { result: 'not-a-service' as const },
    );
  }

  /**
   * The targets to apply conditions to; loaded only when a decision is
   * conditional. An entity the router passes is used as the caller sees it.
   */
  private async targetsOf(
    credentials: BackstageCredentials,
    requests: TargetRequest[],
    decisions: PolicyDecision[],
  ): Promise<Array<KubeDeliveryTarget | undefined>> {
    if (!decisions.some(d => d.result === AuthorizeResult.CONDITIONAL)) {
      return requests.map(() => undefined);
    }
    const missing = requests.filter(r => r.entityRef && !r.entity);
    const loaded = await this.options.loader.load(missing, credentials);
    const byRef = new Map(
      missing.map((r, i) => [r.entityRef!, loaded[i]?.entity]),
    );
    return requests.map(request => {
      const environment = this.options.loader.environment(request.environment);
      if (!environment) return undefined;
      if (!request.entityRef) return { environment };
      const entity = request.entity ?? byRef.get(request.entityRef);
      return {
        environment,
        entityRef: request.entityRef,
        ...(entity && { entity }),
      };
    });
  }
}
