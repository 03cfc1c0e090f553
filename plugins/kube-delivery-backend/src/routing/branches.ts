import type { EnvironmentCluster } from '../cluster';
import { LABEL_NAME, LABEL_TRACK, MAINLINE_TRACK } from '../manifests';

/**
 * The kinds a branch deploy writes (see manifests/render.ts): workloads and
 * the Service first, so nothing new is scheduled or selected while its
 * configuration goes.
 */
const BRANCH_KINDS: ReadonlyArray<[apiVersion: string, kind: string]> = [
  ['apps/v1', 'Deployment'],
  ['batch/v1', 'Job'],
  ['v1', 'Service'],
  ['policy/v1', 'PodDisruptionBudget'],
  ['v1', 'ConfigMap'],
  ['v1', 'Secret'],
];

/**
 * Deletes every object of one branch of a service: those labelled with the
 * service's name and the branch's track. Mainline objects carry the track
 * `mainline`, which is never a branch slug, and a selector on both labels
 * cannot match an object without them. Returns `Kind/name` of each object
 * deleted.
 */
export async function deleteBranchObjects(
  cluster: EnvironmentCluster,
  service: string,
  slug: string,
): Promise<string[]> {
  if (slug === MAINLINE_TRACK) {
    throw new Error('The mainline is not a branch');
  }
  const selector = `${LABEL_NAME}=${service},${LABEL_TRACK}=${slug}`;
  const deleted: string[] = [];
  for (const [apiVersion, kind] of BRANCH_KINDS) {
    const items = await cluster.list(apiVersion, kind, selector);
    for (const item of items) {
      const name = item.metadata!.name!;
      // Belt and braces: the selector already excludes every other track.
      if (item.metadata?.labels?.[LABEL_TRACK] !== slug) continue;
      if (await cluster.delete(apiVersion, kind, name)) {
        deleted.push(`${kind}/${name}`);
      }
    }
  }
  return deleted;
}
