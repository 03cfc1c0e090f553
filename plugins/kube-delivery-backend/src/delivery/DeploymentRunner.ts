import type { LoggerService } from '@backstage/backend-plugin-api';
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { RunnerSettings } from '../config/environments';
import type { DeliveryStore, DeploymentRecord } from '../database';
import type { ClusterClients } from '../cluster/ClusterClients';
import type { EnvironmentRegistry } from '../config/EnvironmentRegistry';
import type { DeliveryNotifier } from '../notifications';
import { describeChanges } from '../cluster/apply';
import { epochOf, FencedError, type Fence } from '../cluster/fence';
import {
  DeploymentJob,
  LeaseLostError,
  type WritePointHook,
} from './DeploymentJob';
import { blueGreenStrategy } from './strategies/blueGreen';
import { inPlaceStrategy } from './strategies/inPlace';
import { renderSnapshot } from './renderSnapshot';
import { pruneTrack } from './strategies/steps';
import type { Strategy } from './strategies/types';

const MAX_CONCURRENT_JOBS = 12;

/**
 * Claims queued (or abandoned) deployments from the database and runs them.
 * Any backend replica may run one; the lease decides which. A job whose
 * runner died is claimed again after its lease expires and resumes: every
 * step is idempotent (server-side apply of the same objects changes nothing).
 */
export class DeploymentRunner {
  readonly owner = `${os.hostname()}-${process.pid}-${randomUUID().slice(
    0,
    8,
  )}`;
  private readonly running = new Set<Promise<void>>();
  /** Ids of the deployments this runner has a job for, alive or not yet closed. */
  private readonly runningIds = new Set<string>();
  private readonly succeededListeners: Array<
    (deployment: DeploymentRecord, fence: Fence) => Promise<void>
  > = [];
  private stopped = false;
  private loopPromise?: Promise<void>;
  private wake?: () => void;

  constructor(
    private readonly options: {
      store: DeliveryStore;
      environments: EnvironmentRegistry;
      clusters: ClusterClients;
      settings: RunnerSettings;
      logger: LoggerService;
      /** Runs right before each cluster write of a job (tests stop the process there). */
      onWritePoint?: WritePointHook;
      /** Told of each outcome once it is recorded; returns at once, never throws. */
      notifier?: Pick<DeliveryNotifier, 'deploymentFinished'>;
      /** Told after each recorded step or outcome (signals for open tabs); returns at once. */
      onProgress?: (entityRef: string) => void;
    },
  ) {}

  start() {
    this.loopPromise ??= this.loop();
  }

  /**
   * Runs `listener` after each deployment this runner completes successfully,
   * before it is recorded as finished (so what the listener does is in place
   * when callers see `succeeded`). A listener's error is logged; it does not
   * change the deployment's outcome. The listener's cluster writes are
   * fenced with the job's `fence`: a FencedError from it ends the job as a
   * lost lease (nothing recorded).
   */
  onSucceeded(
    listener: (deployment: DeploymentRecord, fence: Fence) => Promise<void>,
  ) {
    this.succeededListeners.push(listener);
  }

  /** Looks for work now rather than at the next poll. */
  poke() {
    this.wake?.();
  }

  async stop() {
    this.stopped = true;
    this.poke();
    await this.loopPromise;
    await Promise.allSettled([...this.running]);
  }

  private async loop() {
    const { store, settings, logger } = this.options;
    while (!this.stopped) {
      try {
        while (this.running.size < MAX_CONCURRENT_JOBS && !this.stopped) {
          const claimed = await store.claimNext(this.owner, settings.leaseMs, {
            exclude: [...this.runningIds],
          });
          if (!claimed) break;
          this.runningIds.add(claimed.id);
          const run = this.execute(claimed).finally(() => {
            this.running.delete(run);
            this.runningIds.delete(claimed.id);
          });
          this.running.add(run);
        }
        await this.runDueCleanups();
      } catch (error) {
        logger.warn('deployment runner poll failed', { error: String(error) });
      }
      await new Promise<void>(resolve => {
        const timer = setTimeout(resolve, settings.pollIntervalMs);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  private strategyFor(deployment: DeploymentRecord): Strategy {
    return deployment.strategy === 'blue-green'
      ? blueGreenStrategy
      : inPlaceStrategy;
  }

  private async execute(deployment: DeploymentRecord) {
    const { store, settings, logger, environments, clusters } = this.options;
    const job = new DeploymentJob(
      deployment,
      store,
      this.owner,
      settings.leaseMs,
      logger,
      this.options.onWritePoint,
      this.options.onProgress,
    );
    const log = {
      deploymentId: deployment.id,
      environment: deployment.environment,
    };
    try {
      if (deployment.status === 'queued') {
        await job.update({ status: 'running', startedAt: Date.now() });
        logger.info('deployment started', log);
      } else {
        // The stopped runner's current step never finishes: close it, or a
        // finished deployment would show it running forever.
        const now = new Date().toISOString();
        for (const step of job.steps) {
          if (step.status !== 'running') continue;
          step.status = 'failed';
          step.finishedAt = now;
          step.message = `Interrupted: the runner stopped during this step${
            step.message ? ` (last progress: ${step.message})` : ''
          }`;
        }
        await job.note(
          'Resume',
          `Attempt ${deployment.attempts}: resumed after the previous runner stopped during "${deployment.phase}"`,
        );
        logger.info('deployment resumed', { ...log, phase: deployment.phase });
      }
      const environment = environments.get(deployment.environment);
      if (!environment) {
        throw new Error(
          `Environment ${deployment.environment} is no longer configured`,
        );
      }
      const release = await store.getRelease(deployment.releaseId);
      const target = renderSnapshot(release, environment, {
        deploymentId: deployment.id,
        restartedAt:
          deployment.kind === 'restart' ? deployment.createdAt : undefined,
      });
      const previous =
        deployment.previousReleaseId &&
        deployment.previousReleaseId !== release.id
          ? renderSnapshot(
              await store.getRelease(deployment.previousReleaseId),
              environment,
            )
          : undefined;
      const context = {
        job,
        cluster: clusters.deploy(environment),
        target,
        previous,
        blueGreenCleanupDelayMs: settings.blueGreenCleanupDelayMs,
      };
      const strategy = this.strategyFor(deployment);
      const outcome =
        deployment.phase === 'rollback'
          ? await strategy.resumeRollback(
              context,
              deployment.message ?? 'Deployment failed',
            )
          : await strategy.deploy(context);
      if (outcome.status === 'succeeded') {
        await job.assertLease();
        await job.writePoint('routing');
        await job.fenced(() => this.notifySucceeded(deployment, job.fence));
      }
      await job.update({
        status: outcome.status,
        message: outcome.message,
        phase: 'done',
        finishedAt: Date.now(),
        cleanupAfter: outcome.cleanupAfter,
        freeLease: true,
      });
      logger.info('deployment finished', { ...log, status: outcome.status });
      this.notifyFinished(deployment, outcome.status, outcome.message);
    } catch (error) {
      if (error instanceof LeaseLostError) {
        logger.warn('deployment abandoned: lease lost', log);
        return;
      }
      logger.error('deployment failed', { ...log, error: String(error) });
      const message = (error as Error).message;
      const recorded = await job
        .update({
          status: 'failed',
          message,
          phase: 'done',
          finishedAt: Date.now(),
          freeLease: true,
        })
        .then(
          () => true,
          () => false,
        );
      if (recorded) this.notifyFinished(deployment, 'failed', message);
    } finally {
      job.close();
    }
  }

  /** The owners hear of a recorded outcome (the notifier decides which). */
  private notifyFinished(
    deployment: DeploymentRecord,
    status: string,
    message: string,
  ) {
    this.options.notifier?.deploymentFinished({
      id: deployment.id,
      entityRef: deployment.entityRef,
      environment: deployment.environment,
      version: deployment.version,
      kind: deployment.kind,
      createdBy: deployment.createdBy,
      status,
      message,
    });
  }

  private async notifySucceeded(deployment: DeploymentRecord, fence: Fence) {
    for (const listener of this.succeededListeners) {
      try {
        await listener(deployment, fence);
      } catch (error) {
        if (error instanceof FencedError) throw error;
        this.options.logger.warn('after-deploy hook failed', {
          deploymentId: deployment.id,
          error: String(error),
        });
      }
    }
  }

  /** Removes the previous blue-green release once its delay has passed. */
  private async runDueCleanups() {
    const { store, environments, clusters, logger } = this.options;
    for (const due of await store.listDueCleanups(Date.now())) {
      const environment = environments.get(due.environment);
      // While a deployment of the track is queued or running, its new objects
      // are not in `due`'s release: pruning now would remove them mid-rollout.
      // Try later: if it succeeds its own cleanup takes over.
      // One waiting for approval has not started: it changes nothing yet.
      const busy = (await store.listActive(due.entityRef)).some(
        d =>
          d.environment === due.environment &&
          d.track === due.track &&
          d.status !== 'waiting-approval',
      );
      if (busy) continue;
      const current = await store.lastSucceeded(
        due.entityRef,
        due.environment,
        due.track,
      );
      // A newer deployment owns the track now; its own cleanup decides.
      if (environment && current?.id === due.id) {
        // Replicas may prune at the same time: deleting what is gone is a
        // no-op. The deletes are fenced with the epoch of the deployment
        // cleaned up: an object a newer deployment wrote since this
        // decision (its release, or an older one it redeployed) is never
        // removed; the API server refuses the delete if it changed after
        // the check. The first such refusal ends the cleanup: it is stale.
        const release = await store.getRelease(due.releaseId);
        await this.options.onWritePoint?.('cleanup', due);
        try {
          const changes = await pruneTrack(
            { fence: { epoch: epochOf(due) }, beforeWrite: async () => {} },
            clusters.deploy(environment),
            [renderSnapshot(release, environment).rendered],
          );
          logger.info('blue-green cleanup', {
            deploymentId: due.id,
            changes: describeChanges(changes),
          });
        } catch (error) {
          if (!(error instanceof FencedError)) throw error;
          logger.warn(
            'blue-green cleanup fenced out: a newer deployment owns the track',
            {
              deploymentId: due.id,
              error: error.message,
            },
          );
        }
      }
      await store.clearCleanup(due.id);
    }
  }
}
