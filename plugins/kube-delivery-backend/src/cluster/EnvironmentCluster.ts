import type { LoggerService } from '@backstage/backend-plugin-api';
import {
  ConflictError,
  InputError,
  NotAllowedError,
  NotFoundError,
} from '@backstage/errors';
import type {
  KubernetesObject,
  V1Deployment,
  V1Job,
  V1ManagedFieldsEntry,
  V1Namespace,
  V1Pod,
  V1ReplicaSet,
} from '@kubernetes/client-node';
import {
  apiVersionPath,
  Batch,
  ClusterTarget,
  KubeRequest,
  ConnectionOptions,
  KubeConnection,
} from './connection';
import {
  EnvironmentRef,
  isDenied,
  isTransientError,
  isUnreachableError,
  Operation,
  toClusterError,
} from './errors';
import { ChangeSignal, watchForChanges } from './changeSignal';
import {
  assertNotNewer,
  FencedError,
  withEpoch,
  type Fence,
} from './fence';
import { assertPodSecurityEnforced } from './podSecurity';
import { backoffDelay } from './retry';
import { assertWritable, describeOwner } from '../tenancy/ownership';
import { FIELD_MANAGER, LABEL_OWNER } from './managedObjects';
import {
  failedContainers,
  jobOutcome,
  labelSelectorString,
  RolloutStatus,
  rolloutStatusFrom,
} from './rollout';


/** One permission to check with a SelfSubjectAccessReview, e.g. `{ verb: 'patch', group: 'apps', resource: 'deployments' }`. */
export interface AccessCheck {
  verb: string;
  /** API group, '' for the core group. */
  group: string;
  /** Plural resource, e.g. deployments. */
  resource: string;
  subresource?: string;
}

/** A check the environment's ServiceAccount failed. */
export interface DeniedAccess extends AccessCheck {
  /** The authorizer's reason, when it gives one. */
  reason?: string;
}

/** Drift that a forced apply corrected: fields another manager had changed. */
export interface OverwrittenChange {
  kind: string;
  name: string;
  /** The field managers whose fields the apply took back, e.g. `kubectl-edit`. */
  managers: string[];
}

export interface ApplyOptions {
  /** Called for every object on which the apply took fields back from another manager. */
  onOverwritten?: (change: OverwrittenChange) => void;
  /**
   * A fenced write (see fence.ts): each object is read, refused (FencedError)
   * when a newer epoch wrote it, and written carrying the fence's epoch with
   * the read's resourceVersion as a precondition; one that did not exist is
   * created with a create that fails if it exists by then. A 409 from either
   * is a FencedError: a newer writer got there in between.
   */
  fence?: Fence;
}

export interface DeleteOptions {
  propagationPolicy?: 'Foreground' | 'Background';
  /**
   * Only an object of that owner label value is deleted, with a uid
   * precondition so the object read is the one deleted; another's is a
   * ConflictError.
   */
  owner?: string;
  /**
   * A fenced delete: refused (FencedError) when a newer epoch than the
   * fence's wrote the object, and made with uid and resourceVersion
   * preconditions from the same read, so a write in between makes the API
   * server refuse it (409, a FencedError too).
   */
  fence?: Fence;
  /**
   * The uid of the object the caller decided to delete (a list item's): if
   * the object was re-created since, it is not deleted (FencedError).
   */
  expectUid?: string;
}

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
   * is a precondition (ConflictError when it is stale). Returns the live objects.
   */
  apply(
    objects: KubernetesObject[],
    options?: ApplyOptions,
  ): Promise<KubernetesObject[]>;
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

/** What PodSecurity admission's warnings start with, e.g. `would violate PodSecurity "baseline:latest": ...`. */
const POD_SECURITY_WARNING = /would violate PodSecurity/;

/** Kinds whose replicas an HPA or `kubectl scale` may own. Key: group/kind. */
const SCALABLE_KINDS = new Set(['apps/Deployment', 'apps/StatefulSet']);

const enc = encodeURIComponent;

/** Reads, checks and writes of one fenced write before a changing object is given up. */
const FENCED_ATTEMPTS = 4;

/**
 * The API server refused a fenced write (409): the object changed after it
 * was read and checked. Read and check again; the last try's is final.
 */
class StaleReadError extends FencedError {}

/** The manager other than kube-delivery that owns spec.replicas, if any. */
export function foreignReplicasOwner(
  managedFields: V1ManagedFieldsEntry[] | undefined,
): string | undefined {
  return managedFields?.find(
    entry =>
      entry.manager !== FIELD_MANAGER &&
      (entry.fieldsV1 as any)?.['f:spec']?.['f:replicas'] !== undefined,
  )?.manager;
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

/** One managedFields entry, as a comparable key and its fields. */
function foreignEntries(object: KubernetesObject | undefined) {
  return new Map(
    (object?.metadata?.managedFields ?? [])
      .filter(e => e.manager !== FIELD_MANAGER && e.subresource !== 'status')
      .map(e => [
        `${e.manager}\u0000${e.operation}`,
        JSON.stringify(e.fieldsV1 ?? {}),
      ]),
  );
}

/**
 * The other managers whose fields a forced apply took over: their entries
 * lost fields (or went) between the live object and the applied one.
 */
function overwrittenManagers(
  before: KubernetesObject | undefined,
  after: KubernetesObject,
): string[] {
  const was = foreignEntries(before);
  const is = foreignEntries(after);
  const managers = new Set<string>();
  for (const [key, fields] of was) {
    if (is.get(key) !== fields) managers.add(key.split('\u0000')[0]);
  }
  return [...managers].sort();
}

/** A copy fit for a server-side apply: no server-set metadata or status, the environment's namespace. */
function applyBody(object: KubernetesObject, namespace: string): any {
  const body = structuredClone(object) as any;
  const meta = body.metadata;
  for (const key of [
    'managedFields',
    'uid',
    'creationTimestamp',
    'generation',
    'selfLink',
    'deletionTimestamp',
    'deletionGracePeriodSeconds',
  ]) {
    delete meta[key];
  }
  meta.namespace = namespace;
  delete body.status;
  return body;
}

interface PollResult<T> {
  value?: T;
  timedOut: boolean;
  lastError?: unknown;
}

class KubeEnvironmentCluster implements EnvironmentCluster {
  readonly name: string;
  readonly namespace: string;
  private readonly connection: KubeConnection;
  private readonly ref: EnvironmentRef;
  private readonly pollIntervalMs: number;
  private readonly adoptUnmanaged: boolean;
  private readonly requirePodSecurity: boolean;

  constructor(
    target: ClusterTarget,
    private readonly logger: LoggerService,
    options: EnvironmentClusterOptions,
  ) {
    if (!target.name || !target.namespace) {
      throw new Error('An environment needs a name and a namespace');
    }
    this.name = target.name;
    this.namespace = target.namespace;
    this.connection = new KubeConnection(target, logger, options);
    this.ref = {
      name: target.name,
      namespace: target.namespace,
      server: this.connection.server,
    };
    this.pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.adoptUnmanaged = options.adoptUnmanaged ?? false;
    this.requirePodSecurity = options.requirePodSecurity ?? false;
  }

  async dryRun(objects: KubernetesObject[]): Promise<void> {
    if (this.requirePodSecurity) {
      assertPodSecurityEnforced(await this.readNamespace(), this);
    }
    await this.applyAll(objects, true);
  }

  apply(
    objects: KubernetesObject[],
    options: ApplyOptions = {},
  ): Promise<KubernetesObject[]> {
    return this.applyAll(
      objects,
      false,
      undefined,
      options.onOverwritten,
      options.fence,
    );
  }

  readNamespace(): Promise<V1Namespace | undefined> {
    return this.run(
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
    return this.run({ verb: 'get', kind, name }, async b => {
      const path = await this.path(b, apiVersion, kind, name);
      return b.requestOrUndefined<T>({ method: 'GET', path });
    });
  }

  async delete(
    apiVersion: string,
    kind: string,
    name: string,
    options: DeleteOptions = {},
  ): Promise<boolean> {
    // A fenced delete refused because the object changed after it was
    // read: read and check again (its epoch may still be ours or older).
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.deleteOnce(apiVersion, kind, name, options);
      } catch (error) {
        if (!(error instanceof StaleReadError) || attempt >= FENCED_ATTEMPTS)
          throw error;
      }
    }
  }

  private deleteOnce(
    apiVersion: string,
    kind: string,
    name: string,
    options: DeleteOptions,
  ): Promise<boolean> {
    return this.run({ verb: 'delete', kind, name }, async b => {
      const path = await this.pathIfServed(b, apiVersion, kind, name);
      if (!path) return false;
      let uid: string | undefined;
      let resourceVersion: string | undefined;
      const what = `${kind} "${name}" in environment "${this.name}"`;
      if (options.owner !== undefined || options.fence) {
        const live = await b.requestOrUndefined<KubernetesObject>({
          method: 'GET',
          path,
        });
        if (!live) return false;
        if (
          options.owner !== undefined &&
          live.metadata?.labels?.[LABEL_OWNER] !== options.owner
        ) {
          throw new ConflictError(
            `${kind} "${name}" in environment "${
              this.name
            }" belongs to ${describeOwner(
              live,
            )}; Kube Delivery deletes only the objects of the entity it acts for`,
          );
        }
        uid = live.metadata?.uid;
        if (options.fence) {
          if (options.expectUid !== undefined && options.expectUid !== uid) {
            throw new FencedError(
              `${what} was re-created since it was chosen for deletion; not deleted`,
            );
          }
          assertNotNewer(live, options.fence, what);
          resourceVersion = live.metadata?.resourceVersion;
        }
      }
      let result: unknown;
      try {
        result = await b.requestOrUndefined({
          method: 'DELETE',
          path,
          query: {
            propagationPolicy: options.propagationPolicy ?? 'Background',
          },
          ...(uid
            ? {
                body: {
                  apiVersion: 'v1',
                  kind: 'DeleteOptions',
                  preconditions: {
                    uid,
                    ...(resourceVersion && { resourceVersion }),
                  },
                },
              }
            : {}),
        });
      } catch (error) {
        if (options.fence && statusOf(error) === 409) {
          throw new StaleReadError(
            `${what} was written after it was checked; the API server refused the fenced delete`,
          );
        }
        throw error;
      }
      if (result !== undefined) {
        this.logger.info(
          `Deleted ${kind} "${name}" in namespace "${this.namespace}"`,
        );
      }
      return result !== undefined;
    });
  }

  list<T extends KubernetesObject = KubernetesObject>(
    apiVersion: string,
    kind: string,
    labelSelector?: string,
  ): Promise<T[]> {
    return this.run({ verb: 'list', kind }, async b => {
      const path = await this.path(b, apiVersion, kind);
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
    return this.run(
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
            this.namespace,
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

  async runJob(job: V1Job, options: RunJobOptions): Promise<JobResult> {
    const name = job.metadata?.name;
    if (job.apiVersion !== 'batch/v1' || job.kind !== 'Job' || !name) {
      throw new InputError('runJob needs a batch/v1 Job with metadata.name');
    }
    await this.applyAll([job], true, options.signal);
    await this.applyAll(
      [job],
      false,
      options.signal,
      undefined,
      options.fence,
    );
    const op = { verb: 'get', kind: 'Job', name };
    const path = `/apis/batch/v1/namespaces/${enc(this.namespace)}/jobs/${enc(
      name,
    )}`;
    const result = await this.poll(
      op,
      {
        ...options,
        watched: {
          collectionPath: `/apis/batch/v1/namespaces/${enc(
            this.namespace,
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
            path: `/api/v1/namespaces/${enc(this.namespace)}/pods`,
            query: { labelSelector: labelSelectorString(live.spec?.selector) },
            signal,
          });
          const details = failedContainers(pods.items);
          if (details.length) outcome.message += `; ${details.join('; ')}`;
        }
        return outcome;
      },
      outcome => outcome.finished,
    );
    if (!result.timedOut) {
      const { succeeded, message } = result.value!;
      this.logger.info(message);
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

  whoCan(checks: AccessCheck[]): Promise<DeniedAccess[]> {
    return this.run(
      { verb: 'create', kind: 'SelfSubjectAccessReview' },
      async b => {
        const reviews = await Promise.all(
          checks.map(check =>
            b.request<{
              status?: {
                allowed?: boolean;
                reason?: string;
                evaluationError?: string;
              };
            }>({
              method: 'POST',
              path: '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
              body: {
                apiVersion: 'authorization.k8s.io/v1',
                kind: 'SelfSubjectAccessReview',
                spec: {
                  resourceAttributes: {
                    namespace: this.namespace,
                    verb: check.verb,
                    group: check.group,
                    resource: check.resource,
                    subresource: check.subresource,
                  },
                },
              },
            }),
          ),
        );
        const denied: DeniedAccess[] = [];
        reviews.forEach((review, i) => {
          if (!review.status?.allowed) {
            const reason =
              review.status?.reason || review.status?.evaluationError;
            denied.push({ ...checks[i], ...(reason ? { reason } : {}) });
          }
        });
        return denied;
      },
    );
  }

  // --- internals -------------------------------------------------------------

  /** One request batch (one token-file read); errors become caller errors. */
  private async run<T>(
    op: Operation,
    fn: (b: Batch) => Promise<T>,
  ): Promise<T> {
    try {
      return await fn(await this.connection.batch());
    } catch (error) {
      throw toClusterError(error, this.ref, op);
    }
  }

  private async applyAll(
    objects: KubernetesObject[],
    dryRun: boolean,
    signal?: AbortSignal,
    onOverwritten?: (change: OverwrittenChange) => void,
    fence?: Fence,
  ): Promise<KubernetesObject[]> {
    const b = await this.connection.batch();
    const applied: KubernetesObject[] = [];
    for (const object of objects) {
      const kind = object.kind;
      const name = object.metadata?.name;
      const op: Operation = { verb: 'patch', kind, name, dryRun };
      const fenced = fence && !dryRun ? fence : undefined;
      for (let attempt = 1; ; attempt++) {
        try {
          applied.push(
            await this.applyOne(b, object, dryRun, signal, onOverwritten, fenced),
          );
          break;
        } catch (error) {
          // Changed between our read and our write: read again, and check
          // the epoch again (a controller's status update changes the
          // resourceVersion too). A newer writer's epoch ends it there.
          // (Not when the caller gave the resourceVersion: it reads again.)
          if (
            error instanceof StaleReadError &&
            attempt < FENCED_ATTEMPTS &&
            !object.metadata?.resourceVersion
          )
            continue;
          throw toClusterError(error, this.ref, op);
        }
      }
    }
    return applied;
  }

  /** Reads (when needed), checks and applies one object; see {@link ApplyOptions}. */
  private async applyOne(
    b: Batch,
    object: KubernetesObject,
    dryRun: boolean,
    signal: AbortSignal | undefined,
    onOverwritten: ((change: OverwrittenChange) => void) | undefined,
    fenced: Fence | undefined,
  ): Promise<KubernetesObject> {
    const kind = object.kind;
    const name = object.metadata?.name;
    const what = `${kind} "${name}" in environment "${this.name}"`;
    const path = await this.writablePath(b, object);
    const body = applyBody(
      fenced ? withEpoch(object, fenced) : object,
      this.namespace,
    );
    const scalable =
      SCALABLE_KINDS.has(`${object.apiVersion?.split('/')[0]}/${kind}`) &&
      body.spec?.replicas !== undefined;
    const owned = object.metadata?.labels?.[LABEL_OWNER] !== undefined;
    const live =
      scalable || owned || fenced
        ? await b.requestOrUndefined<KubernetesObject>({
            method: 'GET',
            path,
            signal,
          })
        : undefined;
    assertWritable(object, live, {
      environment: this.name,
      adoptUnmanaged: this.adoptUnmanaged,
    });
    if (scalable) {
      const owner = foreignReplicasOwner(live?.metadata?.managedFields);
      if (owner) {
        delete body.spec.replicas;
        this.logger.info(
          `${kind} "${name}": leaving spec.replicas to field manager "${owner}"`,
        );
      }
    }
    if (fenced) {
      assertNotNewer(live, fenced, what);
      if (!live) {
        if (body.metadata.resourceVersion) {
          throw new StaleReadError(`${what} was deleted after it was read`);
        }
        return this.createFenced(b, path, body, what, signal);
      }
      // The caller's own read, when it gave one, is the earlier: stricter.
      body.metadata.resourceVersion ??= live.metadata?.resourceVersion;
    }
    const warnings: string[] = [];
    const result = await this.fencedRequest<KubernetesObject>(
      b,
      !!fenced,
      what,
      {
        method: 'PATCH',
        path,
        query: {
          fieldManager: FIELD_MANAGER,
          force: 'true',
          fieldValidation: 'Strict',
          dryRun: dryRun ? 'All' : undefined,
        },
        body,
        contentType: 'application/apply-patch+yaml',
        signal,
        warnings,
      },
    );
    const podSecurity = warnings.filter(w => POD_SECURITY_WARNING.test(w));
    if (dryRun && podSecurity.length) {
      throw new InputError(
        `${kind} "${name}": the pods it would create are refused by the PodSecurity admission of namespace "${
          this.namespace
        }" (${podSecurity.join(
          '; ',
        )}). Change the pod spec to meet the namespace's Pod Security Standard`,
      );
    }
    const managers = overwrittenManagers(live, result);
    if (!dryRun && managers.length && kind && name) {
      onOverwritten?.({ kind, name, managers });
    }
    if (!dryRun) {
      this.logger.debug(
        `Applied ${kind} "${name}" in namespace "${this.namespace}" (resourceVersion ${result.metadata?.resourceVersion})`,
      );
    }
    return result;
  }

  /** A request whose 409 is a FencedError when it is a fenced write. */
  private async fencedRequest<T>(
    b: Batch,
    fenced: boolean,
    what: string,
    req: KubeRequest,
  ): Promise<T> {
    try {
      return await b.request<T>(req);
    } catch (error) {
      if (fenced && statusOf(error) === 409) {
        throw new StaleReadError(
          `${what} was written after it was checked; the API server refused the fenced write (${req.method})`,
        );
      }
      throw error;
    }
  }

  /**
   * Creates an object that did not exist when it was read: a create fails
   * (409) if someone created it in between, where an apply would write over
   * theirs. The create's field ownership (an Update entry) is then handed
   * to the apply manager, with the create's resourceVersion as a
   * precondition, so later applies own (and can remove) every field as if
   * the object had been applied.
   */
  private async createFenced(
    b: Batch,
    path: string,
    body: any,
    what: string,
    signal?: AbortSignal,
  ): Promise<KubernetesObject> {
    const created = await this.fencedRequest<KubernetesObject>(
      b,
      true,
      what,
      {
        method: 'POST',
        path: path.slice(0, path.lastIndexOf('/')),
        query: { fieldManager: FIELD_MANAGER, fieldValidation: 'Strict' },
        body,
        signal,
      },
    );
    const managedFields = (created.metadata?.managedFields ?? []).map(entry =>
      entry.manager === FIELD_MANAGER && entry.operation === 'Update'
        ? {
            manager: FIELD_MANAGER,
            operation: 'Apply',
            apiVersion: entry.apiVersion,
            fieldsType: entry.fieldsType,
            fieldsV1: entry.fieldsV1,
          }
        : entry,
    );
    const result = await this.fencedRequest<KubernetesObject>(b, true, what, {
      method: 'PATCH',
      path,
      body: {
        metadata: {
          resourceVersion: created.metadata?.resourceVersion,
          managedFields,
        },
      },
      contentType: 'application/merge-patch+json',
      signal,
    });
    this.logger.debug(
      `Created ${what} (resourceVersion ${result.metadata?.resourceVersion})`,
    );
    return result;
  }

  /** The path of an object we may write: namespaced, in our namespace, of a served kind. */
  private async writablePath(
    b: Batch,
    object: KubernetesObject,
  ): Promise<string> {
    const { apiVersion, kind } = object;
    const name = object.metadata?.name;
    if (!apiVersion || !kind || !name) {
      throw new InputError(
        `Every object needs apiVersion, kind and metadata.name (got ${
          apiVersion ?? '?'
        } ${kind ?? '?'} "${name ?? ''}")`,
      );
    }
    if (object.metadata?.generateName && !object.metadata.name) {
      throw new InputError(
        `${kind}: server-side apply needs metadata.name, not generateName`,
      );
    }
    const namespace = object.metadata?.namespace;
    if (namespace && namespace !== this.namespace) {
      throw new InputError(
        `${kind} "${name}" names namespace "${namespace}", but environment "${this.name}" is confined to namespace "${this.namespace}"`,
      );
    }
    return this.path(b, apiVersion, kind, name);
  }

  /** The path of a namespaced object (or collection) in our namespace; throws for kinds not served or cluster-scoped. */
  private async path(
    b: Batch,
    apiVersion: string,
    kind: string,
    name?: string,
  ): Promise<string> {
    const path = await this.pathIfServed(b, apiVersion, kind, name);
    if (!path) {
      throw new InputError(
        `The Kubernetes API server of environment "${this.name}" does not serve ${kind} in ${apiVersion} (is its CRD installed?)`,
      );
    }
    return path;
  }

  private async pathIfServed(
    b: Batch,
    apiVersion: string,
    kind: string,
    name?: string,
  ): Promise<string | undefined> {
    const info = await b.resourceFor(apiVersion, kind);
    if (!info) return undefined;
    if (!info.namespaced) {
      throw new InputError(
        `${kind} is cluster-scoped; environment "${this.name}" is confined to namespace "${this.namespace}"`,
      );
    }
    return `${apiVersionPath(apiVersion)}/namespaces/${enc(this.namespace)}/${
      info.resource
    }${name === undefined ? '' : `/${enc(name)}`}`;
  }

  private async fetchRollout(
    b: Batch,
    name: string,
    signal?: AbortSignal,
    appliedAt?: number,
  ): Promise<RolloutStatus> {
    const ns = enc(this.namespace);
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
    return rolloutStatusFrom(
      name,
      deployment,
      pods.items.filter(p =>
        p.metadata?.ownerReferences?.some(o => owned.has(o.uid)),
      ),
      { appliedAt: serverApplyTime(deployment) ?? appliedAt },
    );
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
      this.connection,
      options.watched.collectionPath,
      options.watched.name,
      changes,
      this.logger,
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
          await this.connection.batch(),
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
            throw toClusterError(error, this.ref, op);
          if (restarting && (await this.connection.serverReady())) {
            throw this.credentialRefused(error, op);
          }
          failures++;
          lastError = error;
          this.logger.warn(
            `Environment "${this.name}": ${
              toClusterError(error, this.ref, op).message
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
        this.name
      }" is ready and refuses ${this.connection.credential}: ${
        revoked
          ? 'the token is no longer valid (revoked, expired, or its ServiceAccount deleted). Issue a new token for the environment'
          : "its rights were narrowed. Restore the Role bound to the environment's ServiceAccount in the namespace"
      } (${toClusterError(error, this.ref, op).message})`,
    );
  }

  private noAnswer(
    op: Operation,
    timeoutMs: number,
    lastError: unknown,
  ): Error {
    if (lastError) return toClusterError(lastError, this.ref, op);
    return new Error(
      `Environment "${
        this.name
      }": no answer from the Kubernetes API server at ${
        this.ref.server
      } within ${seconds(timeoutMs)}`,
    );
  }

  private lastErrorNote(op: Operation, lastError: unknown): string {
    if (!lastError) return '';
    const prefix = isUnreachableError(lastError)
      ? 'cluster unreachable'
      : 'last error';
    return ` (${prefix}: ${toClusterError(lastError, this.ref, op).message})`;
  }
}

/** The HTTP status of a failed request, if it had one. */
function statusOf(error: unknown): number | undefined {
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'number' ? code : undefined;
}

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}

/** Creates the client of one environment. Throws on an unusable target (config error). */
export function createEnvironmentCluster(
  target: ClusterTarget,
  logger: LoggerService,
  options: EnvironmentClusterOptions = {},
): EnvironmentCluster {
  return new KubeEnvironmentCluster(target, logger, options);
}
