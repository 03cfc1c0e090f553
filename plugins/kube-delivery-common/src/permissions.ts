import {
  AuthorizeResult,
  createPermission,
  type ConditionalPolicyDecision,
  type PermissionCondition,
  type PermissionCriteria,
  type ResourcePermission,
} from '@backstage/plugin-permission-common';

/** The catalog entity resource type: policies can reuse catalog conditions. */
const RESOURCE_TYPE_CATALOG_ENTITY = 'catalog-entity';

/**
 * Kube Delivery's own resource type: what is acted on in an environment, a
 * catalog entity's service there (or, for environment-wide actions such as
 * certificates, the environment alone). @public
 */
export const RESOURCE_TYPE_KUBE_DELIVERY_TARGET = 'kube-delivery-target';

/** A target as a resource ref: `<environment>:<entity ref>`, or `<environment>` alone. @public */
export function stringifyTargetRef(target: {
  environment: string;
  entityRef?: string;
}): string {
  return target.entityRef
    ? `${target.environment}:${target.entityRef}`
    : target.environment;
}

/** The environment and entity ref of a target resource ref (environment names hold no ':'). @public */
export function parseTargetRef(ref: string): {
  environment: string;
  entityRef?: string;
} {
  const colon = ref.indexOf(':');
  return colon < 0
    ? { environment: ref }
    : { environment: ref.slice(0, colon), entityRef: ref.slice(colon + 1) };
}

/** Read environments, releases, history and routing of an entity. @public */
export const kubeDeliveryReadPermission: ResourcePermission<'catalog-entity'> =
  createPermission({
    name: 'kube-delivery.read',
    attributes: { action: 'read' },
    resourceType: RESOURCE_TYPE_CATALOG_ENTITY,
  });

/**
 * Create a release of an entity (CI's action: a release changes nothing in
 * any environment until it is deployed). @public
 */
export const kubeDeliveryReleaseCreatePermission: ResourcePermission<'catalog-entity'> =
  createPermission({
    name: 'kube-delivery.release.create',
    attributes: { action: 'create' },
    resourceType: RESOURCE_TYPE_CATALOG_ENTITY,
  });

/**
 * Deploy, promote or restart an entity's service in an environment (a
 * target `<environment>:<entity ref>`; a promotion's target is the
 * environment it promotes to). @public
 */
export const kubeDeliveryDeployPermission: ResourcePermission<'kube-delivery-target'> =
  createPermission({
    name: 'kube-delivery.deployment.create',
    attributes: { action: 'create' },
    resourceType: RESOURCE_TYPE_KUBE_DELIVERY_TARGET,
  });

/** Roll an entity's service back to an earlier release in an environment. @public */
export const kubeDeliveryRollbackPermission: ResourcePermission<'kube-delivery-target'> =
  createPermission({
    name: 'kube-delivery.rollback.create',
    attributes: { action: 'create' },
    resourceType: RESOURCE_TYPE_KUBE_DELIVERY_TARGET,
  });

/**
 * Create routing rules of an entity's feature branches in an environment,
 * and extend or remove one's own. @public
 */
export const kubeDeliveryRoutePermission: ResourcePermission<'kube-delivery-target'> =
  createPermission({
    name: 'kube-delivery.route.update',
    attributes: { action: 'update' },
    resourceType: RESOURCE_TYPE_KUBE_DELIVERY_TARGET,
  });

/**
 * Extend or remove routing rules other users own (a rule's owner needs only
 * the route permission), and see their values. @public
 */
export const kubeDeliveryRouteAdminPermission: ResourcePermission<'kube-delivery-target'> =
  createPermission({
    name: 'kube-delivery.route.admin',
    attributes: { action: 'update' },
    resourceType: RESOURCE_TYPE_KUBE_DELIVERY_TARGET,
  });

/**
 * Upload certificates or switch an environment gateway to cert-manager (a
 * target `<environment>` alone). @public
 */
export const kubeDeliveryCertificatePermission: ResourcePermission<'kube-delivery-target'> =
  createPermission({
    name: 'kube-delivery.certificate.update',
    attributes: { action: 'update' },
    resourceType: RESOURCE_TYPE_KUBE_DELIVERY_TARGET,
  });

/**
 * Release another entity's claim of a service name or gateway host in an
 * environment (a platform admin's action, e.g. after an entity was removed;
 * a target `<environment>` alone). @public
 */
export const kubeDeliveryClaimReleasePermission: ResourcePermission<'kube-delivery-target'> =
  createPermission({
    name: 'kube-delivery.claim.delete',
    attributes: { action: 'delete' },
    resourceType: RESOURCE_TYPE_KUBE_DELIVERY_TARGET,
  });

/**
 * Approve or reject a deployment, promotion or rollback waiting for approval
 * in a protected environment (never one's own request). @public
 */
export const kubeDeliveryApprovePermission: ResourcePermission<'kube-delivery-target'> =
  createPermission({
    name: 'kube-delivery.deployment.approve',
    attributes: { action: 'update' },
    resourceType: RESOURCE_TYPE_KUBE_DELIVERY_TARGET,
  });

/** Deploy into a protected environment without waiting for approval (an emergency, audited as such). @public */
export const kubeDeliveryBypassApprovalPermission: ResourcePermission<'kube-delivery-target'> =
  createPermission({
    name: 'kube-delivery.deployment.bypass-approval',
    attributes: { action: 'create' },
    resourceType: RESOURCE_TYPE_KUBE_DELIVERY_TARGET,
  });

/** Every Kube Delivery permission, for registration with the permissions registry. @public */
export const kubeDeliveryPermissions = [
  kubeDeliveryReadPermission,
  kubeDeliveryReleaseCreatePermission,
  kubeDeliveryDeployPermission,
  kubeDeliveryRollbackPermission,
  kubeDeliveryRoutePermission,
  kubeDeliveryRouteAdminPermission,
  kubeDeliveryCertificatePermission,
  kubeDeliveryClaimReleasePermission,
  kubeDeliveryApprovePermission,
  kubeDeliveryBypassApprovalPermission,
];

/** The permissions on {@link RESOURCE_TYPE_KUBE_DELIVERY_TARGET}, each asked of one environment. @public */
export const kubeDeliveryTargetPermissions = kubeDeliveryPermissions.filter(
  (p): p is ResourcePermission<'kube-delivery-target'> =>
    p.type === 'resource' &&
    p.resourceType === RESOURCE_TYPE_KUBE_DELIVERY_TARGET,
);

/**
 * Names of the permission rules of {@link RESOURCE_TYPE_KUBE_DELIVERY_TARGET}
 * that the Kube Delivery backend registers (its permission integration
 * evaluates them). @public
 */
export const KUBE_DELIVERY_TARGET_RULES = {
  isEnvironment: 'IS_ENVIRONMENT',
  isProtectedEnvironment: 'IS_PROTECTED_ENVIRONMENT',
  isEntityOwner: 'IS_ENTITY_OWNER',
  hasLifecycle: 'HAS_LIFECYCLE',
  isKind: 'IS_KIND',
} as const;

/** A condition on a target, for a permission policy's conditional decision. @public */
export type KubeDeliveryTargetCondition = PermissionCondition<
  typeof RESOURCE_TYPE_KUBE_DELIVERY_TARGET
>;

const condition = (
  rule: string,
  params?: Record<string, string[]>,
): KubeDeliveryTargetCondition => ({
  resourceType: RESOURCE_TYPE_KUBE_DELIVERY_TARGET,
  rule,
  ...(params && { params }),
});

/**
 * Conditions on a target for permission policies (as catalog-backend's
 * `catalogConditions`): the Kube Delivery backend evaluates them on the
 * environment's configuration and the entity as the catalog has it.
 * Combine them with `{ allOf }`, `{ anyOf }` and `{ not }`. @public
 */
export const kubeDeliveryTargetConditions = {
  /** The target's environment is one of these (by name). */
  isEnvironment: (params: { names: string[] }) =>
    condition(KUBE_DELIVERY_TARGET_RULES.isEnvironment, params),
  /** The target's environment is configured `protected: true`. */
  isProtectedEnvironment: () =>
    condition(KUBE_DELIVERY_TARGET_RULES.isProtectedEnvironment),
  /**
   * The entity is owned by one of the claims (e.g. the user's
   * `ownershipEntityRefs`): its ownedBy relation or its `spec.owner`.
   * False for environment-wide targets.
   */
  isEntityOwner: (params: { claims: string[] }) =>
    condition(KUBE_DELIVERY_TARGET_RULES.isEntityOwner, params),
  /** The entity's `spec.lifecycle` is one of these. False for environment-wide targets. */
  hasLifecycle: (params: { lifecycles: string[] }) =>
    condition(KUBE_DELIVERY_TARGET_RULES.hasLifecycle, params),
  /** The entity's kind is one of these (case-insensitive). False for environment-wide targets. */
  isKind: (params: { kinds: string[] }) =>
    condition(KUBE_DELIVERY_TARGET_RULES.isKind, params),
};

/**
 * A permission policy's conditional decision on a target permission, e.g.
 * deploy only where `isEntityOwner` holds and the environment is not protected. @public
 */
export function createKubeDeliveryTargetConditionalDecision(
  permission: ResourcePermission<typeof RESOURCE_TYPE_KUBE_DELIVERY_TARGET>,
  conditions: PermissionCriteria<KubeDeliveryTargetCondition>,
): ConditionalPolicyDecision {
  return {
    result: AuthorizeResult.CONDITIONAL,
    pluginId: 'kube-delivery',
    resourceType: permission.resourceType,
    conditions,
  };
}
