import type { LoggerService } from '@backstage/backend-plugin-api';
import type { DeploymentStep } from '@internal/plugin-kube-delivery-common';
import { epochOf, FencedError, type Fence } from '../cluster/fence';
import type {
  DeliveryStore,
  DeploymentRecord,
  DeploymentUpdate,
} from '../database';

/** Thrown when this replica no longer holds a deployment's lease: it must stop writing. */
export class LeaseLostError extends Error {
  constructor(deploymentId: string) {
    super(`Lost the lease on deployment ${deploymentId}`);
    this.name = 'LeaseLostError';
  }
}

/**
 * The places where a job writes to the cluster, named for
 * {@link WritePointHook}: the apply of a release, the blue-green switch of
 * the Service, a prune of left-over objects, the blue-green clean-up of the
 * previous release, and the routing reconcile after a successful deploy.
 */
export type WritePoint = 'apply' | 'switch' | 'prune' | 'cleanup' | 'routing';

/**
 * Called right before a cluster write, after the lease was checked: where a
 * test stops a replica to show that the write is fenced by the API server,
 * not by the lease check before it.
 */
export type WritePointHook = (
  point: WritePoint,
  deployment: DeploymentRecord,
) => void | Promise<void>;

/**
 * One claimed deployment: its steps and its lease. Every write to the store
 * happens only while the lease is held. Every cluster write is fenced by the
 * job's epoch ({@link DeploymentJob.fence}, see cluster/fence.ts): the lease
 * check before it only saves the request, the API server refuses the write
 * of a replica paused past its lease once a newer writer touched the
 * objects. A fenced-out write ends the job as a lost lease.
 */
export class DeploymentJob {
  readonly steps: DeploymentStep[];
  private lost = false;
  private readonly renewTimer: NodeJS.Timeout;
  readonly abort = new AbortController();
  /** This attempt's fencing token, carried by every cluster write it makes. */
  readonly fence: Fence;

  constructor(
    readonly deployment: DeploymentRecord,
    private readonly store: DeliveryStore,
    private readonly owner: string,
    private readonly leaseMs: number,
    private readonly logger: LoggerService,
    private readonly onWritePoint?: WritePointHook,
    /** Told after each recorded progress (signals for open tabs). */
    private readonly onProgress?: (entityRef: string) => void,
  ) {
    this.steps = [...deployment.steps];
    this.fence = { epoch: epochOf(deployment) };
    this.renewTimer = setInterval(() => {
      this.renew().catch(() => {});
    }, Math.max(200, Math.floor(leaseMs / 3)));
  }

  get id() {
    return this.deployment.id;
  }

  /** Extends the lease now; marks the job lost (and aborts waits) if it cannot. */
  async renew(): Promise<void> {
    if (this.lost) return;
    const held = await this.store.renewLease(this.id, this.owner, this.leaseMs);
    if (!held) this.markLost();
  }

  /** Renews the lease before a cluster write; throws if it is gone. */
  async assertLease(): Promise<void> {
    await this.renew();
    if (this.lost) throw new LeaseLostError(this.id);
  }

  /** Runs the write-point hook, if any, right before a cluster write. */
  async writePoint(point: WritePoint): Promise<void> {
    await this.onWritePoint?.(point, this.deployment);
  }

  /**
   * Runs a fenced cluster write: a FencedError (a newer writer owns the
   * objects) ends the job as a lost lease.
   */
  async fenced<T>(write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } catch (error) {
      if (error instanceof FencedError) {
        this.logger.warn('cluster write fenced out', {
          deploymentId: this.id,
          epoch: this.fence.epoch,
          error: error.message,
        });
        this.markLost();
        throw new LeaseLostError(this.id);
      }
      throw error;
    }
  }

  private markLost() {
    if (this.lost) return;
    this.lost = true;
    this.abort.abort(new LeaseLostError(this.id));
    this.logger.warn('deployment lease lost; stopping', {
      deploymentId: this.id,
    });
  }

  async update(update: DeploymentUpdate & { freeLease?: boolean }) {
    if (this.lost) throw new LeaseLostError(this.id);
    const written = await this.store.updateDeployment(this.id, this.owner, {
      ...update,
      steps: update.steps ?? this.steps,
    });
    if (!written) {
      this.markLost();
      throw new LeaseLostError(this.id);
    }
    this.onProgress?.(this.deployment.entityRef);
  }

  /** Runs one step, recording its start, end, outcome and message. */
  async step<T>(
    name: string,
    run: (progress: (message: string) => Promise<void>) => Promise<T>,
  ): Promise<T> {
    const step: DeploymentStep = {
      name,
      status: 'running',
      startedAt: new Date().toISOString(),
    };
    this.steps.push(step);
    await this.update({});
    let lastWrite = 0;
    const progress = async (message: string) => {
      step.message = message;
      // Progress is written at most twice a second; the last word is written at the end.
      if (Date.now() - lastWrite > 500) {
        lastWrite = Date.now();
        await this.update({});
      }
    };
    try {
      const result = await run(progress);
      step.status = 'succeeded';
      step.finishedAt = new Date().toISOString();
      await this.update({});
      return result;
    } catch (error) {
      if (error instanceof LeaseLostError) throw error;
      step.status = 'failed';
      step.finishedAt = new Date().toISOString();
      step.message = (error as Error).message;
      await this.update({});
      throw error;
    }
  }

  /** Records a step that did nothing but say something, e.g. a resume. */
  async note(name: string, message: string) {
    const now = new Date().toISOString();
    this.steps.push({
      name,
      status: 'succeeded',
      startedAt: now,
      finishedAt: now,
      message,
    });
    await this.update({});
  }

  close() {
    clearInterval(this.renewTimer);
  }
}
