/**
 * A catalog module that lets the catalog register `file` locations when
 * `kubeDelivery.catalog.allowFileLocations` is true: what the offline
 * `kube-delivery:publish:local` scaffolder action registers.
 *
 * @packageDocumentation
 */
export { catalogModuleKubeDeliveryFileLocations as default } from './module';
