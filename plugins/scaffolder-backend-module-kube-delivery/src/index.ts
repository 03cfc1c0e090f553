/**
 * Scaffolder actions that create a Kube Delivery release and start a
 * deployment through the plugin's HTTP API.
 *
 * @packageDocumentation
 */
export { scaffolderModuleKubeDelivery as default } from './module';
export { createKubeDeliveryClient, waitForDeployment } from './client';
export type { KubeDeliveryClientOptions, WaitOptions } from './client';
