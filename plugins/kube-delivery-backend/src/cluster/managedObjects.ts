/**
 * How Kube Delivery marks what it writes, and which kinds it writes: defined
 * once here for the renderer, the cluster client, tenancy, routing,
 * certificates, the status cache, prunes, branch removal and health checks.
 */

/** The field manager of every server-side apply Kube Delivery makes. */
export const FIELD_MANAGER = 'kube-delivery';

/** `app.kubernetes.io/managed-by: kube-delivery` on every object Kube Delivery writes. */
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const MANAGER = 'kube-delivery';

/**
 * Which catalog entity an object belongs to: a label with a hash of the
 * entity ref (label values cannot hold a ref, see tenancy/ownership.ts) and
 * an annotation with the ref itself, for people and error messages.
 */
export const LABEL_OWNER = 'kube-delivery.io/owner';
export const ANNOTATION_OWNER_REF = 'kube-delivery.io/entity-ref';

/** A kind of object a service's release is made of. */
export interface ManagedKind {
  apiVersion: string;
  kind: string;
  /** API group and resource, for access reviews. */
  group: string;
  resource: string;
  /** Objects of an older release of this kind are deleted once a newer one runs. */
  pruned: boolean;
  /** A feature branch has its own objects of this kind (removed with the branch). */
  perBranch: boolean;
}

function kind(
  apiVersion: string,
  name: string,
  resource: string,
  flags: Pick<ManagedKind, 'pruned' | 'perBranch'>,
): ManagedKind {
  const slash = apiVersion.indexOf('/');
  return {
    apiVersion,
    kind: name,
    group: slash === -1 ? '' : apiVersion.slice(0, slash),
    resource,
    ...flags,
  };
}

/**
 * The kinds a release is made of, in the order they are applied: the
 * account and configuration first, so new pods start with them, then the
 * workload, then the Service that selects it; the smoke-test Job last.
 * Deletes go in the reverse order (nothing new is scheduled or selected
 * while its configuration goes).
 */
export const MANAGED_KINDS: readonly ManagedKind[] = [
  kind('v1', 'ServiceAccount', 'serviceaccounts', {
    pruned: false,
    perBranch: false,
  }),
  kind('v1', 'ConfigMap', 'configmaps', { pruned: true, perBranch: true }),
  kind('v1', 'Secret', 'secrets', { pruned: true, perBranch: true }),
  kind('apps/v1', 'Deployment', 'deployments', {
    pruned: true,
    perBranch: true,
  }),
  kind('policy/v1', 'PodDisruptionBudget', 'poddisruptionbudgets', {
    pruned: true,
    perBranch: true,
  }),
  kind('v1', 'Service', 'services', { pruned: true, perBranch: true }),
  kind('batch/v1', 'Job', 'jobs', { pruned: false, perBranch: true }),
];

/** The managed kinds in delete order (the reverse of the apply order). */
export function deleteOrder(
  filter: (kind: ManagedKind) => boolean,
): ManagedKind[] {
  return [...MANAGED_KINDS].reverse().filter(filter);
}
