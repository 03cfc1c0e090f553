import type { EnvironmentCluster } from '../cluster';
import { LABEL_NAME, LABEL_TRACK, MAINLINE_TRACK } from '../manifests';
import { ownerHash, ownerSelector } from '../tenancy/ownership';
import { deleteOrder, LABEL_OWNER } from '../cluster/managedObjects';

/** The kinds a branch deploy writes, in delete order. */
const BRANCH_KINDS = deleteOrder(kind => kind.perBranch);

/**
 * Deletes every object of one branch of a service that belongs to the
 * entity: those labelled with the service's name, the branch's track and
 * the entity as owner. Mainline objects carry the track `mainline`, which is
 * never a branch slug, and a selector on these labels cannot match an object
 * without them: another entity's objects (or ones Kube Delivery did not
 * write) are never deleted, and each delete is of the owner read (the
 * cluster checks it again). Returns `Kind/name` of each object deleted.
 */
export async function deleteBranchObjects(
  cluster: EnvironmentCluster,
  service: string,
  slug: string,
  entityRef: string,
): Promise<string[]> {
  if (slug === MAINLINE_TRACK) {
    throw new Error('The mainline is not a branch');
  }
  const owner = ownerHash(entityRef);
  const selector = `${LABEL_NAME}=${service},${LABEL_TRACK}=${slug},${ownerSelector(
    entityRef,
  )}`;
  const deleted: string[] = [];
  for (const { apiVersion, kind } of BRANCH_KINDS) {
    const items = await cluster.list(apiVersion, kind, selector);
    for (const item of items) {
      const name = item.metadata!.name!;
      // Belt and braces: the selector already excludes every other track and owner.
      const labels = item.metadata?.labels ?? {};
      if (labels[LABEL_TRACK] !== slug || labels[LABEL_OWNER] !== owner) {
        continue;
      }
      if (await cluster.delete(apiVersion, kind, name, { owner })) {
        deleted.push(`${kind}/${name}`);
      }
    }
  }
  return deleted;
}
