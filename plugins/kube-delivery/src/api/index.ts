export { kubeDeliveryApiRef } from './KubeDeliveryApi';
export type {
  KubeDeliveryApi,
  ListDeploymentsOptions,
  ReleaseSelector,
} from './KubeDeliveryApi';
export { KubeDeliveryClient } from './KubeDeliveryClient';
