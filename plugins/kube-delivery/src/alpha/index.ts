/**
 * Kube Delivery frontend plugin for the new frontend system: the
 * Environments, Feature branches and Release history entity content.
 *
 * @packageDocumentation
 */
export { default } from './plugin';
