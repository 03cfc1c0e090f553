import { ConflictError } from '@backstage/errors';
import type { KubernetesObject } from '@kubernetes/client-node';
import { createHash } from 'node:crypto';
import {
  ANNOTATION_OWNER_REF,
  LABEL_MANAGED_BY,
  LABEL_OWNER,
  MANAGER,
} from '../cluster/managedObjects';

/**
 * A stable, label-safe hash of an entity ref. Refs compare case-insensitively
 * in Backstage, so `Component:default/ad` and `component:default/ad` are one owner.
 */
export function ownerHash(entityRef: string): string {
  return createHash('sha256')
    .update(entityRef.toLocaleLowerCase('en-US'))
    .digest('hex')
    .slice(0, 40);
}

/** The owner label of an entity's objects. */
export function ownerLabels(entityRef: string): Record<string, string> {
  return { [LABEL_OWNER]: ownerHash(entityRef) };
}

/** The label selector of an entity's objects. */
export function ownerSelector(entityRef: string): string {
  return `${LABEL_OWNER}=${ownerHash(entityRef)}`;
}

/** Who a live object belongs to, in words, for a 409. */
export function describeOwner(live: KubernetesObject): string {
  const labels = live.metadata?.labels ?? {};
  const ref = live.metadata?.annotations?.[ANNOTATION_OWNER_REF];
  if (labels[LABEL_OWNER]) return ref ? `entity ${ref}` : 'another entity';
  const managers = [
    ...new Set(
      (live.metadata?.managedFields ?? [])
        .map(entry => entry.manager)
        .filter((m): m is string => !!m),
    ),
  ];
  return `no Kube Delivery entity (written by ${
    managers.length ? managers.join(', ') : 'someone else'
  })`;
}

/**
 * Refuses a write of `desired` over `live` when the live object belongs to
 * another entity, or was not created by Kube Delivery (unless the
 * environment allows adopting such objects). Objects without an owner label
 * in `desired` (shared ones, like a gateway) are not checked here.
 */
export function assertWritable(
  desired: KubernetesObject,
  live: KubernetesObject | undefined,
  options: { environment: string; adoptUnmanaged?: boolean },
): void {
  const wanted = desired.metadata?.labels?.[LABEL_OWNER];
  if (!live || !wanted) return;
  const labels = live.metadata?.labels ?? {};
  const owner = labels[LABEL_OWNER];
  if (owner === wanted) return;
  const what = `${desired.kind} "${desired.metadata?.name}" in environment "${options.environment}"`;
  const wantedRef = desired.metadata?.annotations?.[ANNOTATION_OWNER_REF];
  // Written by Kube Delivery before objects had owners: the database claim
  // of its name (taken from the deployment history on upgrade) decides.
  if (owner === undefined && labels[LABEL_MANAGED_BY] === MANAGER) return;
  if (owner === undefined && options.adoptUnmanaged) return;
  const wayOut =
    owner === undefined
      ? 'Rename the service, remove the object, or let the platform team set adoptUnmanaged: true on the environment to take it over.'
      : 'Rename this service, or ask the owning team.';
  throw new ConflictError(
    `${what} belongs to ${describeOwner(live)}, not to ${
      wantedRef ?? 'this entity'
    }; Kube Delivery never writes over another entity's object. ${wayOut}`,
  );
}
