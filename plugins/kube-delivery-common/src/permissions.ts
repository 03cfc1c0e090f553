import {
  createPermission,
  type ResourcePermission,
} from '@backstage/plugin-permission-common';

/** The catalog entity resource type: policies can reuse catalog conditions. */
const RESOURCE_TYPE_CATALOG_ENTITY = 'catalog-entity';

/** Read environments, releases, history and routing of an entity. @public */
export const kubeDeliveryReadPermission: ResourcePermission<'catalog-entity'> =
  createPermission({
    name: 'kube-delivery.read',
    attributes: { action: 'read' },
    resourceType: RESOURCE_TYPE_CATALOG_ENTITY,
  });

/** Create releases and deploy, promote or restart an entity's service. @public */
export const kubeDeliveryDeployPermission: ResourcePermission<'catalog-entity'> =
  createPermission({
    name: 'kube-delivery.deployment.create',
    attributes: { action: 'create' },
    resourceType: RESOURCE_TYPE_CATALOG_ENTITY,
  });

/** Roll an entity's service back to an earlier release. @public */
export const kubeDeliveryRollbackPermission: ResourcePermission<'catalog-entity'> =
  createPermission({
    name: 'kube-delivery.rollback.create',
    attributes: { action: 'create' },
    resourceType: RESOURCE_TYPE_CATALOG_ENTITY,
  });

/** Create, extend or remove routing rules of an entity's feature branches. @public */
export const kubeDeliveryRoutePermission: ResourcePermission<'catalog-entity'> =
  createPermission({
    name: 'kube-delivery.route.update',
    attributes: { action: 'update' },
    resourceType: RESOURCE_TYPE_CATALOG_ENTITY,
  });

/** Upload certificates or switch an environment gateway to cert-manager. @public */
export const kubeDeliveryCertificatePermission = createPermission({
  name: 'kube-delivery.certificate.update',
  attributes: { action: 'update' },
});

/**
 * Release another entity's claim of a service name or gateway host in an
 * environment (a platform admin's action, e.g. after an entity was removed). @public
 */
export const kubeDeliveryClaimReleasePermission = createPermission({
  name: 'kube-delivery.claim.delete',
  attributes: { action: 'delete' },
});

/** Every Kube Delivery permission, for registration with the permissions registry. @public */
export const kubeDeliveryPermissions = [
  kubeDeliveryClaimReleasePermission,
  kubeDeliveryReadPermission,
  kubeDeliveryDeployPermission,
  kubeDeliveryRollbackPermission,
  kubeDeliveryRoutePermission,
  kubeDeliveryCertificatePermission,
];
