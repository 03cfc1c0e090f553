/**
 * Kube Delivery backend plugin: deploy, route, certificate and rollback endpoints.
 *
 * @packageDocumentation
 */
export { kubeDeliveryPlugin as default } from './plugin';
