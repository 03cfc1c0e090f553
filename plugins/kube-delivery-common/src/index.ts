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
export * from './signals';
export * from './api';
export * from './client';
export * from './schema/openapi/generated/models';
// The generated client, named for what it is a client of; its request types.
export { DefaultApiClient as KubeDeliveryApiClient } from './schema/openapi/generated/apis';
export type * from './schema/openapi/generated/apis';
