/**
 * Kube Delivery frontend plugin: service-page tabs for Environments, Feature
 * branches and Release history.
 *
 * @packageDocumentation
 */
export {
  kubeDeliveryPlugin,
  EntityKubeDeliveryEnvironmentsContent,
  EntityKubeDeliveryFeatureBranchesContent,
  EntityKubeDeliveryReleaseHistoryContent,
  isKubeDeliveryAvailable,
} from './plugin';
export { kubeDeliveryApiRef, KubeDeliveryClient } from './api';
export type {
  HistoryOptions,
  KubeDeliveryApi,
  ListDeploymentsOptions,
  NewRouteRule,
  ReleaseSelector,
} from './api';
