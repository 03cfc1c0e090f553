import { createRouteRef } from '@backstage/core-plugin-api';

/** The Environments tab (legacy frontend system). */
export const rootRouteRef = createRouteRef({ id: 'kube-delivery' });
/** The Feature branches tab (legacy frontend system). */
export const featureBranchesRouteRef = createRouteRef({
  id: 'kube-delivery:feature-branches',
});
/** The Release history tab (legacy frontend system). */
export const releaseHistoryRouteRef = createRouteRef({
  id: 'kube-delivery:release-history',
});
/** The Deliveries page (legacy frontend system). */
export const deliveriesRouteRef = createRouteRef({
  id: 'kube-delivery:deliveries',
});
/** The Deliveries tab of a System or Group (legacy frontend system). */
export const entityDeliveriesRouteRef = createRouteRef({
  id: 'kube-delivery:entity-deliveries',
});
