import { ConflictError, InputError } from '@backstage/errors';
import type {
  KubernetesObject,
  V1ManagedFieldsEntry,
} from '@kubernetes/client-node';
import type { Batch, KubeRequest } from './connection';
import { toClusterError, type Operation } from './errors';
import { assertNotNewer, FencedError, withEpoch, type Fence } from './fence';
import { FIELD_MANAGER, LABEL_OWNER } from './managedObjects';
import { statusOf, type NamespaceScope } from './scope';
import { assertWritable, describeOwner } from '../tenancy/ownership';

/*
 * Server-side apply and delete in one environment's namespace, each write
 * checked for its owner and, for a job, fenced by its epoch (fence.ts).
 */

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

/** How a delete is checked; it always propagates in the background (the API server removes dependents after). */
export interface DeleteOptions {
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

/**
 * What a write did to an object. An apply: created, configured or left
 * unchanged (same resourceVersion); `applied` when the object was not read
 * first (no owner label, no fence, no replicas to leave alone), so either.
 * A delete (a prune, removing a release): deleted, or `skipped` when the
 * object was left alone (it was gone already); `reason` says why.
 */
export type ChangeAction =
  | 'created'
  | 'configured'
  | 'unchanged'
  | 'applied'
  | 'deleted'
  | 'skipped';

export interface Change {
  kind: string;
  name: string;
  action: ChangeAction;
  /** Why a `skipped` object was left alone, e.g. `not found`. */
  reason?: string;
}

/** The live objects an apply left, in order (none for deletes), and what each write did. */
export interface ChangeSet {
  objects: KubernetesObject[];
  changes: Change[];
}

/**
 * The changes in a line, by action in the order the actions first came:
 * `created ConfigMap/a, Deployment/b; skipped Secret/c (not found)`.
 */
export function describeChanges(changes: Change[]): string {
  const byAction = new Map<ChangeAction, string[]>();
  for (const { kind, name, action, reason } of changes) {
    const objects = byAction.get(action) ?? [];
    objects.push(`${kind}/${name}${reason ? ` (${reason})` : ''}`);
    byAction.set(action, objects);
  }
  return [...byAction]
    .map(([action, objects]) => `${action} ${objects.join(', ')}`)
    .join('; ');
}

/** What a delete that returned `existed` did: deleted, or skipped as gone already. */
export function deleteChange(
  kind: string,
  name: string,
  existed: boolean,
): Change {
  return existed
    ? { kind, name, action: 'deleted' }
    : { kind, name, action: 'skipped', reason: 'not found' };
}

/** What PodSecurity admission's warnings start with, e.g. `would violate PodSecurity "baseline:latest": ...`. */
const POD_SECURITY_WARNING = /would violate PodSecurity/;

/** Kinds whose replicas an HPA or `kubectl scale` may own. Key: group/kind. */
const SCALABLE_KINDS = new Set(['apps/Deployment', 'apps/StatefulSet']);

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

/** Applies and deletes the objects of one namespace; see EnvironmentCluster. */
export class Applier {
  constructor(
    private readonly scope: NamespaceScope,
    private readonly adoptUnmanaged: boolean,
  ) {}

  /**
   * Server-side applies (or dry-runs) the objects in order; see
   * {@link ApplyOptions}. Returns the live objects and what each apply did.
   */
  async applyAll(
    objects: KubernetesObject[],
    dryRun: boolean,
    signal?: AbortSignal,
    onOverwritten?: (change: OverwrittenChange) => void,
    fence?: Fence,
  ): Promise<ChangeSet> {
    const b = await this.scope.connection.batch();
    const changeSet: ChangeSet = { objects: [], changes: [] };
    for (const object of objects) {
      const kind = object.kind;
      const name = object.metadata?.name;
      const op: Operation = { verb: 'patch', kind, name, dryRun };
      const fenced = fence && !dryRun ? fence : undefined;
      for (let attempt = 1; ; attempt++) {
        try {
          const { live, action } = await this.applyOne(
            b,
            object,
            dryRun,
            signal,
            onOverwritten,
            fenced,
          );
          changeSet.objects.push(live);
          changeSet.changes.push({ kind: kind!, name: name!, action });
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
          throw toClusterError(error, this.scope.ref, op);
        }
      }
    }
    return changeSet;
  }

  /** Reads (when needed), checks and applies one object; see {@link ApplyOptions}. */
  private async applyOne(
    b: Batch,
    object: KubernetesObject,
    dryRun: boolean,
    signal: AbortSignal | undefined,
    onOverwritten: ((change: OverwrittenChange) => void) | undefined,
    fenced: Fence | undefined,
  ): Promise<{ live: KubernetesObject; action: ChangeAction }> {
    const kind = object.kind;
    const name = object.metadata?.name;
    const what = `${kind} "${name}" in environment "${this.scope.name}"`;
    const path = await this.scope.writablePath(b, object);
    const body = applyBody(
      fenced ? withEpoch(object, fenced) : object,
      this.scope.namespace,
    );
    const scalable =
      SCALABLE_KINDS.has(`${object.apiVersion?.split('/')[0]}/${kind}`) &&
      body.spec?.replicas !== undefined;
    const owned = object.metadata?.labels?.[LABEL_OWNER] !== undefined;
    // Read only where a check needs it (a credential may patch and not get).
    const read = scalable || owned || fenced;
    const live = read
      ? await b.requestOrUndefined<KubernetesObject>({
          method: 'GET',
          path,
          signal,
        })
      : undefined;
    assertWritable(object, live, {
      environment: this.scope.name,
      adoptUnmanaged: this.adoptUnmanaged,
    });
    if (scalable) {
      const owner = foreignReplicasOwner(live?.metadata?.managedFields);
      if (owner) {
        delete body.spec.replicas;
        this.scope.logger.info(
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
        return {
          live: await this.createFenced(b, path, body, what, signal),
          action: 'created',
        };
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
          this.scope.namespace
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
      this.scope.logger.debug(
        `Applied ${kind} "${name}" in namespace "${this.scope.namespace}" (resourceVersion ${result.metadata?.resourceVersion})`,
      );
    }
    let action: ChangeAction = 'configured';
    if (!read) action = 'applied';
    else if (!live) action = 'created';
    else if (
      live.metadata?.resourceVersion === result.metadata?.resourceVersion
    )
      action = 'unchanged';
    return { live: result, action };
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
    const created = await this.fencedRequest<KubernetesObject>(b, true, what, {
      method: 'POST',
      path: path.slice(0, path.lastIndexOf('/')),
      query: { fieldManager: FIELD_MANAGER, fieldValidation: 'Strict' },
      body,
      signal,
    });
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
    this.scope.logger.debug(
      `Created ${what} (resourceVersion ${result.metadata?.resourceVersion})`,
    );
    return result;
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
    return this.scope.run({ verb: 'delete', kind, name }, async b => {
      const path = await this.scope.pathIfServed(b, apiVersion, kind, name);
      if (!path) return false;
      let uid: string | undefined;
      let resourceVersion: string | undefined;
      const what = `${kind} "${name}" in environment "${this.scope.name}"`;
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
              this.scope.name
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
          query: { propagationPolicy: 'Background' },
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
        this.scope.logger.info(
          `Deleted ${kind} "${name}" in namespace "${this.scope.namespace}"`,
        );
      }
      return result !== undefined;
    });
  }
}
