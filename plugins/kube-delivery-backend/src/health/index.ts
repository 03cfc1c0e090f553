export {
  checkEnvironment,
  DEPLOY_ACCESS,
} from './checkEnvironment';
export {
  podSecurityLevel,
  podSecurityFinding,
  BASELINE_LABELS,
  POD_SECURITY_ENFORCE_LABEL,
  type PodSecurityLevel,
} from './podSecurity';
export { readHealthSettings, type HealthSettings } from './config';
export { DatabaseHealthStore, type HealthStore } from './HealthStore';
export {
  diffFindings,
  HealthService,
  SCHEDULED_ACTOR,
} from './HealthService';
export { addHealthRoutes } from './router';
export * from './types';
