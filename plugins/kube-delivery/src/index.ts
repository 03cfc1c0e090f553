/**
 * Kube Delivery frontend plugin: service-page tabs for Environments, Feature
 * branches and Release history, an Overview card, and the Deliveries page
 * (every service × environment) with its System and Group tab.
 *
 * @packageDocumentation
 */
export {
  kubeDeliveryPlugin,
  EntityKubeDeliveryEnvironmentsContent,
  EntityKubeDeliveryFeatureBranchesContent,
  EntityKubeDeliveryReleaseHistoryContent,
  EntityKubeDeliveryDeliveriesContent,
  EntityKubeDeliveryOverviewCard,
  KubeDeliveryDeliveriesPage,
  isKubeDeliveryAvailable,
} from './plugin';
export { kubeDeliveryApiRef, KubeDeliveryClient } from './api';
export type {
  DeliveriesFilter,
  HistoryOptions,
  KubeDeliveryApi,
  ListDeploymentsOptions,
  NewRouteRule,
  ReleaseSelector,
} from './api';
