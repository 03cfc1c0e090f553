export * from './ownership';
export * from './ClaimStore';
export * from './hosts';
export { createClaimsRouter } from './router';
