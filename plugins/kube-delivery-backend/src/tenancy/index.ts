export * from './ownership';
export * from './ClaimStore';
export * from './hosts';
export { addClaimRoutes } from './router';
