import type { LoggerService } from '@backstage/backend-plugin-api';
import { InputError } from '@backstage/errors';
import type {
  KubernetesObject,
  V1Job,
  V1Namespace,
} from '@kubernetes/client-node';
import { whoCan, type AccessCheck, type DeniedAccess } from './access';
import {
  Applier,
  type ApplyOptions,
  type ChangeSet,
  type DeleteOptions,
} from './apply';
import type { ClusterTarget, ConnectionOptions } from './connection';
import { assertPodSecurityEnforced } from './podSecurity';
import type { RolloutStatus } from './rollout';
import { enc, NamespaceScope } from './scope';
import {
  Waiter,
  type JobResult,
  type RunJobOptions,
  type WaitForRolloutOptions,
} from './wait';

/**
 * One environment's cluster, confined to the environment's namespace.
 *
 * Errors: InputError when the API server rejects an object (400/422) or an
 * object is outside the namespace; NotAllowedError when the ServiceAccount lacks
 * a permission (the message names verb and resource); ConflictError on 409; a
 * plain Error when the cluster cannot be reached. Transient failures (connection
 * refused/reset, timeouts, 429, 5xx) are retried with backoff first.
 */
export interface EnvironmentCluster {
  readonly name: string;
  readonly namespace: string;
  /**
   * Server-side dry run (dryRun=All) of the server-side apply of every object, in
   * order; throws on the first rejection, naming kind/name and the server's message.
   * A PodSecurity warning the API server gives (its `warn` level answers for
   * workloads what `enforce` would refuse for their pods) is an InputError;
   * with `requirePodSecurity`, a namespace that does not enforce PodSecurity
   * is a ConflictError before anything else.
   */
  dryRun(objects: KubernetesObject[]): Promise<void>;
  /**
   * Server-side apply, in order, with field manager `kube-delivery` and force.
   * An object carrying the owner label (`kube-delivery.io/owner`) is written
   * only over a live object of the same owner, or none: a ConflictError names
   * the owner otherwise, before anything is written.
   * `spec.replicas` of a Deployment/StatefulSet is left out while another manager
   * (an HPA, `kubectl scale`) owns it. A `metadata.resourceVersion` in an object
   * is a precondition (ConflictError when it is stale). Returns the live objects
   * and what the apply did to each (created, configured, unchanged).
   */
  apply(
    objects: KubernetesObject[],
    options?: ApplyOptions,
  ): Promise<ChangeSet>;
  /** The environment's Namespace object (cluster-scoped), or undefined when it does not exist. */
  readNamespace(): Promise<V1Namespace | undefined>;
  /** The object, or undefined when it does not exist. */
  read<T extends KubernetesObject = KubernetesObject>(
    apiVersion: string,
    kind: string,
    name: string,
  ): Promise<T | undefined>;
  /**
   * Deletes the object; true if it existed. Does not wait for it to be gone.
   * See {@link DeleteOptions} for the owner check and the fence.
   */
  delete(
    apiVersion: string,
    kind: string,
    name: string,
    options?: DeleteOptions,
  ): Promise<boolean>;
  /** All objects of a kind in the namespace, optionally by label selector. */
  list<T extends KubernetesObject = KubernetesObject>(
    apiVersion: string,
    kind: string,
    labelSelector?: string,
  ): Promise<T[]>;
  rolloutStatus(deploymentName: string): Promise<RolloutStatus>;
  /**
   * Polls until the rollout is complete or its progress deadline is exceeded, and
   * resolves with that status. On timeout it resolves with the last status
   * (complete: false, message saying it timed out); it rejects when aborted, on a
   * non-transient error, or when no status could be read before the timeout.
   */
  waitForRollout(
    deploymentName: string,
    options: WaitForRolloutOptions,
  ): Promise<RolloutStatus>;
  /**
   * Dry-runs and applies the Job, then waits for its Complete or Failed condition
   * (succeeded: false with a message on failure or timeout). Re-running with the
   * same Job name picks up the existing Job (Jobs are immutable: use unique names).
   */
  runJob(job: V1Job, options: RunJobOptions): Promise<JobResult>;
  /** SelfSubjectAccessReviews in the namespace; returns the denied checks. */
  whoCan(checks: AccessCheck[]): Promise<DeniedAccess[]>;
}

export interface EnvironmentClusterOptions extends ConnectionOptions {
  /** Poll interval of waitForRollout/runJob. Default 1000 ms. */
  pollIntervalMs?: number;
  /** Let an entity take over objects of its names that Kube Delivery did not create. Default false. */
  adoptUnmanaged?: boolean;
  /** Dry runs first check that the namespace enforces PodSecurity (baseline or stricter). Default false. */
  requirePodSecurity?: boolean;
}

/**
 * The client of one environment, put together as Flux's `ssa` package is:
 * apply (apply.ts), wait (wait.ts) and access (access.ts) over one
 * namespace scope (scope.ts).
 */
class KubeEnvironmentCluster implements EnvironmentCluster {
  readonly name: string;
  readonly namespace: string;
  private readonly scope: NamespaceScope;
  private readonly applier: Applier;
  private readonly waiter: Waiter;
  private readonly requirePodSecurity: boolean;

  constructor(
    target: ClusterTarget,
    logger: LoggerService,
    options: EnvironmentClusterOptions,
  ) {
    this.scope = new NamespaceScope(target, logger, options);
    this.name = this.scope.name;
    this.namespace = this.scope.namespace;
    this.applier = new Applier(this.scope, options.adoptUnmanaged ?? false);
    this.waiter = new Waiter(this.scope, options.pollIntervalMs ?? 1000);
    this.requirePodSecurity = options.requirePodSecurity ?? false;
  }

  async dryRun(objects: KubernetesObject[]): Promise<void> {
    if (this.requirePodSecurity) {
      assertPodSecurityEnforced(await this.readNamespace(), this);
    }
    await this.applier.applyAll(objects, true);
  }

  apply(
    objects: KubernetesObject[],
    options: ApplyOptions = {},
  ): Promise<ChangeSet> {
    return this.applier.applyAll(
      objects,
      false,
      undefined,
      options.onOverwritten,
      options.fence,
    );
  }

  readNamespace(): Promise<V1Namespace | undefined> {
    return this.scope.run(
      { verb: 'get', kind: 'Namespace', name: this.namespace },
      b =>
        b.requestOrUndefined<V1Namespace>({
          method: 'GET',
          path: `/api/v1/namespaces/${enc(this.namespace)}`,
        }),
    );
  }

  read<T extends KubernetesObject = KubernetesObject>(
    apiVersion: string,
    kind: string,
    name: string,
  ): Promise<T | undefined> {
    return this.scope.run({ verb: 'get', kind, name }, async b => {
      const path = await this.scope.path(b, apiVersion, kind, name);
      return b.requestOrUndefined<T>({ method: 'GET', path });
    });
  }

  delete(
    apiVersion: string,
    kind: string,
    name: string,
    options: DeleteOptions = {},
  ): Promise<boolean> {
    return this.applier.delete(apiVersion, kind, name, options);
  }

  list<T extends KubernetesObject = KubernetesObject>(
    apiVersion: string,
    kind: string,
    labelSelector?: string,
  ): Promise<T[]> {
    return this.scope.run({ verb: 'list', kind }, async b => {
      const path = await this.scope.path(b, apiVersion, kind);
      const items: T[] = [];
      let token: string | undefined;
      do {
        const page = await b.request<{
          items?: T[];
          metadata?: { continue?: string };
        }>({
          method: 'GET',
          path,
          query: {
            labelSelector: labelSelector || undefined,
            limit: '500',
            continue: token,
          },
        });
        for (const item of page.items ?? [])
          items.push({ ...item, apiVersion, kind });
        token = page.metadata?.continue || undefined;
      } while (token);
      return items;
    });
  }

  rolloutStatus(deploymentName: string): Promise<RolloutStatus> {
    return this.waiter.rolloutStatus(deploymentName);
  }

  waitForRollout(
    deploymentName: string,
    options: WaitForRolloutOptions,
  ): Promise<RolloutStatus> {
    return this.waiter.waitForRollout(deploymentName, options);
  }

  async runJob(job: V1Job, options: RunJobOptions): Promise<JobResult> {
    const name = job.metadata?.name;
    if (job.apiVersion !== 'batch/v1' || job.kind !== 'Job' || !name) {
      throw new InputError('runJob needs a batch/v1 Job with metadata.name');
    }
    await this.applier.applyAll([job], true, options.signal);
    await this.applier.applyAll(
      [job],
      false,
      options.signal,
      undefined,
      options.fence,
    );
    return this.waiter.waitForJob(name, options);
  }

  whoCan(checks: AccessCheck[]): Promise<DeniedAccess[]> {
    return whoCan(this.scope, checks);
  }
}

/** Creates the client of one environment. Throws on an unusable target (config error). */
export function createEnvironmentCluster(
  target: ClusterTarget,
  logger: LoggerService,
  options: EnvironmentClusterOptions = {},
): EnvironmentCluster {
  return new KubeEnvironmentCluster(target, logger, options);
}
