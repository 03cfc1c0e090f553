export {
  checkEnvironment,
  createHealthConnections,
  DEPLOY_ACCESS,
} from './checkEnvironment';
export { readHealthSettings, type HealthSettings } from './config';
export { DatabaseHealthStore, type HealthStore } from './HealthStore';
export {
  diffFindings,
  HealthService,
  SCHEDULED_ACTOR,
  type PromotionRefusal,
} from './HealthService';
export { createHealthRouter } from './router';
export * from './types';
