import type { DeploymentStatus } from '@internal/plugin-kube-delivery-common';
import type { EnvironmentCluster } from '../../cluster';
import type { RenderedRelease } from '../../manifests';
import type { DeploymentJob } from '../DeploymentJob';

/** A rendered release with the version it came from. */
export interface RenderedVersion {
  version: string;
  rendered: RenderedRelease;
}

export interface StrategyContext {
  job: DeploymentJob;
  cluster: EnvironmentCluster;
  target: RenderedVersion;
  /** What served before this deployment: the rollback target. */
  previous?: RenderedVersion;
  blueGreenCleanupDelayMs: number;
}

export interface StrategyOutcome {
  status: Extract<DeploymentStatus, 'succeeded' | 'failed' | 'rolled-back'>;
  message: string;
  /** Blue-green: when the previous release's objects may be removed. */
  cleanupAfter?: number;
}

/** A deployment strategy: deploy the target, or undo a half-done deploy on resume. */
export interface Strategy {
  deploy(context: StrategyContext): Promise<StrategyOutcome>;
  /** Continues an interrupted rollback (phase `rollback`) after a restart. */
  resumeRollback(
    context: StrategyContext,
    reason: string,
  ): Promise<StrategyOutcome>;
}
