import { usePermission } from '@backstage/plugin-permission-react';
import {
  stringifyTargetRef,
  type kubeDeliveryDeployPermission,
} from '@internal/plugin-kube-delivery-common';

/** A permission on the `kube-delivery-target` resource type. */
type TargetPermission = typeof kubeDeliveryDeployPermission;

/**
 * Whether the user holds a permission on a target: an entity's service in an
 * environment, or (without `entityRef`) the environment itself. The policy
 * decides per environment, e.g. deploys to dev but not to production; false
 * while the decision loads.
 */
export function useTargetPermission(
  permission: TargetPermission,
  target: { environment: string; entityRef?: string },
): boolean {
  return usePermission({
    permission,
    resourceRef: stringifyTargetRef(target),
  }).allowed;
}
