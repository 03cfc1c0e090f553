export { createEnvironmentCluster } from './EnvironmentCluster';
export type {
  EnvironmentCluster,
  EnvironmentClusterOptions,
} from './EnvironmentCluster';
export { deleteChange, describeChanges } from './apply';
export type {
  ApplyOptions,
  Change,
  ChangeAction,
  ChangeSet,
  DeleteOptions,
  OverwrittenChange,
} from './apply';
export type { AccessCheck, DeniedAccess } from './access';
export type { JobResult, RunJobOptions, WaitForRolloutOptions } from './wait';
export {
  ANNOTATION_OWNER_REF,
  deleteOrder,
  FIELD_MANAGER,
  LABEL_MANAGED_BY,
  LABEL_OWNER,
  MANAGED_KINDS,
  MANAGER,
  type ManagedKind,
} from './managedObjects';
export type { ClusterTarget, ConnectionOptions } from './connection';
export {
  ClusterClients,
  ROLLOUT_POLL_INTERVAL_MS,
  type ClusterPurpose,
  type HealthConnections,
} from './ClusterClients';
export { isTransientError, RequestTimeoutError } from './errors';
export { backoffDelay, sleep, withRetry } from './retry';
export type { RetryOptions } from './retry';
export { rolloutStatusFrom, jobOutcome, labelSelectorString } from './rollout';
export type { RolloutPod, RolloutStatus, JobOutcome } from './rollout';
