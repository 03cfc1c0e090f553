export { StatusCache } from './StatusCache';
export type { EnvironmentCacheStats, RolloutStatusSource } from './StatusCache';
export { Reflector } from './Reflector';
export type { ReflectorOptions, ReflectorStats } from './Reflector';
