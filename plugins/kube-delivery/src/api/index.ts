export { kubeDeliveryApiRef } from './KubeDeliveryApi';
export type {
  DeliveriesFilter,
  KubeDeliveryApi,
  HistoryOptions,
  ListDeploymentsOptions,
  NewRouteRule,
  ReleaseSelector,
} from './KubeDeliveryApi';
export { KubeDeliveryClient } from './KubeDeliveryClient';
