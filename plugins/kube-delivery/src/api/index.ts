export { kubeDeliveryApiRef } from './KubeDeliveryApi';
export type {
  KubeDeliveryApi,
  HistoryOptions,
  ListDeploymentsOptions,
  NewRouteRule,
  ReleaseSelector,
} from './KubeDeliveryApi';
export { KubeDeliveryClient } from './KubeDeliveryClient';
