import { ConflictError } from '@backstage/errors';
import type { KubernetesObject } from '@kubernetes/client-node';

/**
 * Fencing tokens for cluster writes.
 *
 * Every object a deployment job writes carries the job's epoch in this
 * annotation: the deployment (its creation time and id) and the attempt that
 * wrote it. Deployments of a track run one at a time, in the order they were
 * created, and a deployment taken over by another replica runs under a higher
 * attempt, so epochs of one track are totally ordered: a later writer has a
 * higher epoch.
 *
 * A fenced write reads the live object, refuses when a higher epoch of the
 * same track wrote it, and then writes with that read's resourceVersion (or,
 * for a delete, uid and resourceVersion preconditions; for an object that did
 * not exist, a create that fails if it exists now). A writer paused between
 * its check and its write is then refused by the API server itself (409),
 * whatever its lease said when it checked: the newer writer changed the
 * object, and with it its resourceVersion.
 */
export const ANNOTATION_EPOCH = 'kube-delivery.io/epoch';

/** The fencing token of one attempt of one deployment. */
export interface Fence {
  /** `<track>/<created at, ms>/<deployment id>/<attempt>`. */
  epoch: string;
}

interface ParsedEpoch {
  track: string;
  createdAt: number;
  id: string;
  attempt: number;
}

/** The epoch of an attempt of a deployment. */
export function epochOf(deployment: {
  id: string;
  track: string;
  createdAt: string | number;
  attempts: number;
}): string {
  const createdAt =
    typeof deployment.createdAt === 'number'
      ? deployment.createdAt
      : Date.parse(deployment.createdAt);
  return `${deployment.track}/${createdAt}/${deployment.id}/${deployment.attempts}`;
}

function parseEpoch(epoch: string | undefined): ParsedEpoch | undefined {
  if (!epoch) return undefined;
  const parts = epoch.split('/');
  if (parts.length !== 4) return undefined;
  const [track, createdAt, id, attempt] = parts;
  const parsed = {
    track,
    createdAt: Number(createdAt),
    id,
    attempt: Number(attempt),
  };
  if (!Number.isFinite(parsed.createdAt) || !Number.isFinite(parsed.attempt))
    return undefined;
  return parsed;
}

/**
 * Whether epoch `a` is newer than `b`: later deployment of the same track,
 * or a later attempt of the same deployment. Epochs of different tracks (a
 * ServiceAccount the tracks of a service share) are not ordered: false.
 * An object without an epoch (written before fencing) is older than any.
 */
export function isNewerEpoch(
  a: string | undefined,
  b: string | undefined,
): boolean {
  const x = parseEpoch(a);
  const y = parseEpoch(b);
  if (!x) return false;
  if (!y) return true;
  if (x.track !== y.track) return false;
  if (x.createdAt !== y.createdAt) return x.createdAt > y.createdAt;
  if (x.id !== y.id) return x.id > y.id;
  return x.attempt > y.attempt;
}

/** The epoch a live object carries, if any. */
export function liveEpoch(object: KubernetesObject | undefined) {
  return object?.metadata?.annotations?.[ANNOTATION_EPOCH];
}

/** A copy of `object` carrying the fence's epoch. */
export function withEpoch<T extends KubernetesObject>(
  object: T,
  fence: Fence,
): T {
  return {
    ...object,
    metadata: {
      ...object.metadata,
      annotations: {
        ...object.metadata?.annotations,
        [ANNOTATION_EPOCH]: fence.epoch,
      },
    },
  };
}

/**
 * A fenced write the API server (or the epoch on the live object) refused:
 * a newer writer owns the object now. The job that made it has been taken
 * over, or the release it cleans up is no longer the newest: it must stop
 * writing. Never a failed deployment.
 */
export class FencedError extends ConflictError {
  readonly fenced = true;
}

/** Refuses when the live object was written by a newer epoch than the fence's. */
export function assertNotNewer(
  live: KubernetesObject | undefined,
  fence: Fence,
  what: string,
): void {
  const epoch = liveEpoch(live);
  if (isNewerEpoch(epoch, fence.epoch)) {
    throw new FencedError(
      `${what} was written by a newer deployment (epoch ${epoch}) than this writer's (${fence.epoch}); not written`,
    );
  }
}
