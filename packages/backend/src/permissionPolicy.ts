import { createBackendModule } from '@backstage/backend-plugin-api';
import {
  catalogConditions,
  createCatalogConditionalDecision,
} from '@backstage/plugin-catalog-backend/alpha';
import {
  AuthorizeResult,
  isPermission,
  isResourcePermission,
  type PolicyDecision,
} from '@backstage/plugin-permission-common';
import type {
  PermissionPolicy,
  PolicyQuery,
  PolicyQueryUser,
} from '@backstage/plugin-permission-node';
import { policyExtensionPoint } from '@backstage/plugin-permission-node/alpha';
import {
  createKubeDeliveryTargetConditionalDecision,
  kubeDeliveryCertificatePermission,
  kubeDeliveryDeployPermission,
  kubeDeliveryReadPermission,
  kubeDeliveryReleaseCreatePermission,
  kubeDeliveryRollbackPermission,
  kubeDeliveryRoutePermission,
  kubeDeliveryTargetConditions as target,
  RESOURCE_TYPE_KUBE_DELIVERY_TARGET,
} from '@internal/plugin-kube-delivery-common';

/** The demo's platform admin: may do everything, approve included. */
export const DEMO_ADMIN = 'user:default/admin';
/** Members of this group (by the user's ownership claims) are platform admins too. */
export const PLATFORM_ADMINS_GROUP = 'group:default/platform-admins';
/**
 * The guest provider's user (`auth.providers.guest`; the provider's default
 * `user:development/guest`, and the `user:default/guest` of older versions).
 */
export const DEMO_GUESTS = ['user:development/guest', 'user:default/guest'];

const allow = (): PolicyDecision => ({ result: AuthorizeResult.ALLOW });
const deny = (): PolicyDecision => ({ result: AuthorizeResult.DENY });

const notProtected = { not: target.isProtectedEnvironment() };

/**
 * The demo's permission policy (replacing allow-all):
 *
 * - Every signed-in user may use the rest of Backstage and read Kube
 *   Delivery's data of every entity (`kube-delivery.read`).
 * - Users may deploy, promote, restart, roll back and route an entity they
 *   own (the entity's owner is among their ownership claims) in environments
 *   that are not protected, and create its releases.
 * - The guest, for the demo, may deploy, roll back and route any entity in
 *   environments that are not protected, upload certificates there, and
 *   *request* deploys, promotions and rollbacks into protected ones (they
 *   wait there for an approval).
 * - Platform admins ({@link DEMO_ADMIN}, members of
 *   {@link PLATFORM_ADMINS_GROUP}) may do everything: deploy anywhere,
 *   approve (never their own request), bypass an approval, change others'
 *   routing rules, certificates and release claims.
 *
 * Service principals never reach the policy (Backstage's permission client
 * decides them; Kube Delivery checks `kubeDelivery.servicePrincipals`).
 */
export class KubeDeliveryDemoPolicy implements PermissionPolicy {
  async handle(
    request: PolicyQuery,
    user?: PolicyQueryUser,
  ): Promise<PolicyDecision> {
    if (!user) return deny();
    const { permission } = request;
    if (!permission.name.startsWith('kube-delivery.')) return allow();
    if (isPermission(permission, kubeDeliveryReadPermission)) return allow();

    const { userEntityRef, ownershipEntityRefs } = user.info;
    const claims = [...new Set([userEntityRef, ...ownershipEntityRefs])];
    if (
      userEntityRef === DEMO_ADMIN ||
      claims.includes(PLATFORM_ADMINS_GROUP)
    ) {
      return allow();
    }
    const guest = DEMO_GUESTS.includes(userEntityRef);

    if (isPermission(permission, kubeDeliveryReleaseCreatePermission)) {
      return guest
        ? allow()
        : createCatalogConditionalDecision(
            permission,
            catalogConditions.isEntityOwner({ claims }),
          );
    }
    if (!isResourcePermission(permission, RESOURCE_TYPE_KUBE_DELIVERY_TARGET)) {
      return deny();
    }
    const owned = target.isEntityOwner({ claims });

    // Deploy (also promote and restart) and roll back: protected
    // environments only for the guest's requests, which wait for approval.
    if (
      isPermission(permission, kubeDeliveryDeployPermission) ||
      isPermission(permission, kubeDeliveryRollbackPermission)
    ) {
      if (guest) return allow();
      return createKubeDeliveryTargetConditionalDecision(permission, {
        allOf: [owned, notProtected],
      });
    }
    if (isPermission(permission, kubeDeliveryRoutePermission)) {
      return createKubeDeliveryTargetConditionalDecision(
        permission,
        guest ? notProtected : { allOf: [owned, notProtected] },
      );
    }
    // The end-to-end tests upload a certificate for dev as the guest.
    if (isPermission(permission, kubeDeliveryCertificatePermission) && guest) {
      return createKubeDeliveryTargetConditionalDecision(
        permission,
        notProtected,
      );
    }
    // Others' routing rules, certificates, claims, approvals and bypassing
    // them: platform admins only.
    return deny();
  }
}

/** Installs {@link KubeDeliveryDemoPolicy} as the permission backend's policy. */
export const permissionModuleKubeDeliveryPolicy = createBackendModule({
  pluginId: 'permission',
  moduleId: 'kube-delivery-demo-policy',
  register(reg) {
    reg.registerInit({
      deps: { policy: policyExtensionPoint },
      async init({ policy }) {
        policy.setPolicy(new KubeDeliveryDemoPolicy());
      },
    });
  },
});
