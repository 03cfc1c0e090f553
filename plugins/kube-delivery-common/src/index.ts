/**
 * Common types, annotations and permissions of the Kube Delivery plugins.
 *
 * @packageDocumentation
 */
export * from './annotations';
export * from './permissions';
export * from './types';
export * from './versions';
export * from './routes';
export * from './api';
