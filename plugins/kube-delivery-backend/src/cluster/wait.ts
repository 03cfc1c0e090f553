import { NotAllowedError, NotFoundError } from '@backstage/errors';
import type {
  CoreV1Event,
  V1Deployment,
  V1Job,
  V1Pod,
  V1ReplicaSet,
} from '@kubernetes/client-node';
import { ChangeSignal, watchForChanges } from './changeSignal';
import type { Fence } from './fence';
import type { Batch } from './connection';
import {
  isDenied,
  isTransientError,
  isUnreachableError,
  toClusterError,
  type Operation,
} from './errors';
import { FIELD_MANAGER } from './managedObjects';
import { backoffDelay } from './retry';
import { failedContainerLogTail } from './podLogs';
import {
  failedContainers,
  jobOutcome,
  labelSelectorString,
  rolloutStatusFrom,
  warningEvents,
  type RolloutStatus,
} from './rollout';
import { enc, type NamespaceScope } from './scope';

/*
 * Waiting in one environment's namespace: for a Deployment's rollout and a
 * Job's end, woken by a watch of the object and read again every poll
 * interval, transient errors and API-server restarts waited out until the
 * deadline, a revoked credential failed at once.
 */

export interface WaitForRolloutOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  /** Called with every status that differs from the one before. */
  onProgress?: (status: RolloutStatus) => void;
}

export interface RunJobOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  /** The Job is applied as a fenced write (see {@link ApplyOptions.fence}). */
  fence?: Fence;
}

export interface JobResult {
  succeeded: boolean;
  message: string;
}

interface PollResult<T> {
  value?: T;
  timedOut: boolean;
  lastError?: unknown;
}

/**
 * When the API server last changed the Deployment for our server-side apply
 * (its clock, whole seconds); undefined when we never applied it.
 */
function serverApplyTime(deployment: V1Deployment): number | undefined {
  const time = deployment.metadata?.managedFields?.find(
    entry => entry.manager === FIELD_MANAGER && entry.operation === 'Apply',
  )?.time;
  return time ? new Date(time).getTime() : undefined;
}

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}

/** Waits for rollouts and Jobs of one namespace; see EnvironmentCluster. */
export class Waiter {
  constructor(
    private readonly scope: NamespaceScope,
    private readonly pollIntervalMs: number,
  ) {}

  rolloutStatus(deploymentName: string): Promise<RolloutStatus> {
    return this.scope.run(
      { verb: 'get', kind: 'Deployment', name: deploymentName },
      b => this.fetchRollout(b, deploymentName),
    );
  }

  async waitForRollout(
    deploymentName: string,
    options: WaitForRolloutOptions,
  ): Promise<RolloutStatus> {
    let lastKey = '';
    const op = { verb: 'get', kind: 'Deployment', name: deploymentName };
    // The spec was applied before this wait: older deadline conditions are stale.
    const appliedAt = Date.now();
    const result = await this.poll(
      op,
      {
        ...options,
        // Pods becoming available change the Deployment's status too.
        watched: {
          collectionPath: `/apis/apps/v1/namespaces/${enc(
            this.scope.namespace,
          )}/deployments`,
          name: deploymentName,
        },
      },
      (b, signal) => this.fetchRollout(b, deploymentName, signal, appliedAt),
      status => {
        const key = JSON.stringify(status);
        if (key !== lastKey) {
          lastKey = key;
          options.onProgress?.(status);
        }
        return status.complete || status.deadlineExceeded;
      },
    );
    if (!result.timedOut) return result.value!;
    if (!result.value)
      throw this.noAnswer(op, options.timeoutMs, result.lastError);
    return {
      ...result.value,
      complete: false,
      message: `Timed out after ${seconds(
        options.timeoutMs,
      )} waiting for Deployment "${deploymentName}" to roll out: ${
        result.value.message
      }${this.lastErrorNote(op, result.lastError)}`,
    };
  }

  /**
   * Waits for the Job's Complete or Failed condition (succeeded: false with
   * a message on failure or timeout); on failure the message names the
   * failed containers' reasons.
   */
  async waitForJob(name: string, options: RunJobOptions): Promise<JobResult> {
    const op = { verb: 'get', kind: 'Job', name };
    const path = `/apis/batch/v1/namespaces/${enc(
      this.scope.namespace,
    )}/jobs/${enc(name)}`;
    const result = await this.poll(
      op,
      {
        ...options,
        watched: {
          collectionPath: `/apis/batch/v1/namespaces/${enc(
            this.scope.namespace,
          )}/jobs`,
          name,
        },
      },
      async (b, signal) => {
        const live = await b.requestOrUndefined<V1Job>({
          method: 'GET',
          path,
          signal,
        });
        if (!live)
          throw new NotFoundError(`Job "${name}" disappeared while it ran`);
        const outcome = jobOutcome(live);
        if (outcome.finished && !outcome.succeeded) {
          const pods = await b.request<{ items: V1Pod[] }>({
            method: 'GET',
            path: `/api/v1/namespaces/${enc(this.scope.namespace)}/pods`,
            query: { labelSelector: labelSelectorString(live.spec?.selector) },
            signal,
          });
          const details = failedContainers(pods.items);
          if (details.length) outcome.message += `; ${details.join('; ')}`;
          const tail = await this.lastFailedLog(b, pods.items, signal);
          if (tail) outcome.message += `\n${tail}`;
        }
        return outcome;
      },
      outcome => outcome.finished,
    );
    if (!result.timedOut) {
      const { succeeded, message } = result.value!;
      this.scope.logger.info(message);
      return { succeeded, message };
    }
    if (!result.value)
      throw this.noAnswer(op, options.timeoutMs, result.lastError);
    return {
      succeeded: false,
      message: `Job "${name}" did not finish within ${seconds(
        options.timeoutMs,
      )}: ${result.value.message}${this.lastErrorNote(op, result.lastError)}`,
    };
  }

  /** The log tail of the newest pod's failed container, as `last lines of <pod>/<container>:` and the lines. */
  private async lastFailedLog(
    b: Batch,
    pods: V1Pod[],
    signal?: AbortSignal,
  ): Promise<string | undefined> {
    const failed = pods
      .flatMap(pod =>
        (pod.status?.containerStatuses ?? [])
          .filter(cs => {
            const t = cs.state?.terminated ?? cs.lastState?.terminated;
            return t && t.exitCode !== 0;
          })
          .map(cs => ({ pod, container: cs.name })),
      )
      .sort((x, y) =>
        String(y.pod.metadata?.creationTimestamp ?? '').localeCompare(
          String(x.pod.metadata?.creationTimestamp ?? ''),
        ),
      )[0];
    if (!failed) return undefined;
    const tail = await failedContainerLogTail(
      b,
      this.scope.namespace,
      failed.pod,
      failed.container,
      signal,
    );
    return (
      tail &&
      `last lines of ${failed.pod.metadata?.name}/${failed.container}:\n${tail}`
    );
  }

  private async fetchRollout(
    b: Batch,
    name: string,
    signal?: AbortSignal,
    appliedAt?: number,
  ): Promise<RolloutStatus> {
    const ns = enc(this.scope.namespace);
    const deployment = await b.requestOrUndefined<V1Deployment>({
      method: 'GET',
      path: `/apis/apps/v1/namespaces/${ns}/deployments/${enc(name)}`,
      signal,
    });
    if (!deployment) return rolloutStatusFrom(name, undefined);
    const labelSelector = labelSelectorString(deployment.spec?.selector);
    // Pods of this Deployment's ReplicaSets only: selectors of two Deployments may overlap.
    const [replicaSets, pods] = await Promise.all([
      b.request<{ items: V1ReplicaSet[] }>({
        method: 'GET',
        path: `/apis/apps/v1/namespaces/${ns}/replicasets`,
        query: { labelSelector },
        signal,
      }),
      b.request<{ items: V1Pod[] }>({
        method: 'GET',
        path: `/api/v1/namespaces/${ns}/pods`,
        query: { labelSelector },
        signal,
      }),
    ]);
    const uid = deployment.metadata?.uid;
    const owned = new Set(
      replicaSets.items
        .filter(rs => rs.metadata?.ownerReferences?.some(o => o.uid === uid))
        .map(rs => rs.metadata?.uid),
    );
    const ownPods = pods.items.filter(p =>
      p.metadata?.ownerReferences?.some(o => owned.has(o.uid)),
    );
    const options = { appliedAt: serverApplyTime(deployment) ?? appliedAt };
    const status = rolloutStatusFrom(name, deployment, ownPods, options);
    if (status.complete) return status;
    // Not there yet: the newest Warning events of the Deployment, its
    // ReplicaSets and pods say why (FailedCreate, FailedScheduling, BackOff...).
    // Only an explanation: a credential that may not list events still deploys.
    const events = await b
      .request<{ items: CoreV1Event[] }>({
        method: 'GET',
        path: `/api/v1/namespaces/${ns}/events`,
        query: { fieldSelector: 'type=Warning' },
        signal,
      })
      .catch(error => {
        if (signal?.aborted) throw error;
        return { items: [] };
      });
    const involved = new Set([
      uid,
      ...owned,
      ...ownPods.map(p => p.metadata?.uid),
    ]);
    return rolloutStatusFrom(name, deployment, ownPods, {
      ...options,
      events: warningEvents(events.items, involved),
    });
  }

  /**
   * Polls `readValue` until `done`, the timeout or an abort. Transient errors
   * (API server restarting, 429, 5xx) are retried with backoff until the timeout;
   * other errors reject. A change of the `watched` object wakes the poll
   * before its interval is up, as `kubectl rollout status` is woken by its watch.
   */
  private async poll<T>(
    op: Operation,
    options: {
      timeoutMs: number;
      signal?: AbortSignal;
      watched: { collectionPath: string; name: string };
    },
    readValue: (b: Batch, signal: AbortSignal) => Promise<T>,
    done: (value: T) => boolean,
  ): Promise<PollResult<T>> {
    const changes = new ChangeSignal();
    const stopWatch = watchForChanges(
      this.scope.connection,
      options.watched.collectionPath,
      options.watched.name,
      changes,
      this.scope.logger,
    );
    try {
      return await this.pollUntil(op, options, changes, readValue, done);
    } finally {
      stopWatch();
    }
  }

  private async pollUntil<T>(
    op: Operation,
    options: { timeoutMs: number; signal?: AbortSignal },
    changes: ChangeSignal,
    readValue: (b: Batch, signal: AbortSignal) => Promise<T>,
    done: (value: T) => boolean,
  ): Promise<PollResult<T>> {
    const { timeoutMs, signal } = options;
    const deadline = Date.now() + timeoutMs;
    const overall = AbortSignal.timeout(timeoutMs);
    const requestSignal = signal ? AbortSignal.any([signal, overall]) : overall;
    let value: T | undefined;
    let lastError: unknown;
    let failures = 0;
    for (;;) {
      signal?.throwIfAborted();
      try {
        const next = await readValue(
          await this.scope.connection.batch(),
          requestSignal,
        );
        value = next;
        failures = 0;
        lastError = undefined;
        if (done(next)) return { value, timedOut: false };
      } catch (error) {
        signal?.throwIfAborted();
        if (!overall.aborted) {
          // A restarted API server answers 401/403 until its authenticator and
          // RBAC caches have synced: once this poll has read the object, or
          // has just failed to reach the server, such a denial is waited out
          // like an outage (until the deadline). A denial on the first read
          // is a missing permission and fails at once.
          const restarting =
            (value !== undefined || failures > 0) && isDenied(error);
          if (!isTransientError(error) && !restarting)
            throw toClusterError(error, this.scope.ref, op);
          if (restarting && (await this.scope.connection.serverReady())) {
            throw this.credentialRefused(error, op);
          }
          failures++;
          lastError = error;
          this.scope.logger.warn(
            `Environment "${this.scope.name}": ${
              toClusterError(error, this.scope.ref, op).message
            }; still waiting`,
          );
        }
      }
      const left = deadline - Date.now();
      if (left <= 0 || overall.aborted)
        return { value, timedOut: true, lastError };
      const wait = failures
        ? backoffDelay(failures, this.pollIntervalMs, 8 * this.pollIntervalMs)
        : this.pollIntervalMs;
      await changes.sleep(Math.min(wait, left), signal);
    }
  }

  /** A ready API server refusing the environment's credential: revoked or narrowed, not a restart. */
  private credentialRefused(error: unknown, op: Operation): Error {
    const revoked = (error as { code?: number }).code === 401;
    return new NotAllowedError(
      `The Kubernetes API server of environment "${
        this.scope.name
      }" is ready and refuses ${this.scope.connection.credential}: ${
        revoked
          ? 'the token is no longer valid (revoked, expired, or its ServiceAccount deleted). Issue a new token for the environment'
          : "its rights were narrowed. Restore the Role bound to the environment's ServiceAccount in the namespace"
      } (${toClusterError(error, this.scope.ref, op).message})`,
    );
  }

  private noAnswer(
    op: Operation,
    timeoutMs: number,
    lastError: unknown,
  ): Error {
    if (lastError) return toClusterError(lastError, this.scope.ref, op);
    return new Error(
      `Environment "${
        this.scope.name
      }": no answer from the Kubernetes API server at ${
        this.scope.ref.server
      } within ${seconds(timeoutMs)}`,
    );
  }

  private lastErrorNote(op: Operation, lastError: unknown): string {
    if (!lastError) return '';
    const prefix = isUnreachableError(lastError)
      ? 'cluster unreachable'
      : 'last error';
    return ` (${prefix}: ${
      toClusterError(lastError, this.scope.ref, op).message
    })`;
  }
}
