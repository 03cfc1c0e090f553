import type { DevCluster } from '@internal/devcluster';
import type { EnvironmentConfig } from '../config/environments';
import type { DeliveryStore } from '../database';
import { renderSnapshot } from '../delivery';
import type { RenderedRelease } from '../manifests';
import { kubectlJson } from './deliveryHarness';

/** The kinds an orphan check looks at: what a release is made of, besides Jobs. */
const CHECKED_KINDS = [
  ['deployments', 'Deployment'],
  ['services', 'Service'],
  ['configmaps', 'ConfigMap'],
  ['secrets', 'Secret'],
  ['poddisruptionbudgets', 'PodDisruptionBudget'],
] as const;

/**
 * Every Deployment, Service, ConfigMap, Secret and PodDisruptionBudget of a
 * service in a namespace (label app.kubernetes.io/name), as sorted
 * "Kind/name" strings. Objects being deleted (deletionTimestamp set) count:
 * they are still there.
 */
export async function liveObjectsOf(
  cluster: DevCluster,
  name: string,
  namespace = 'dev',
): Promise<string[]> {
  const found: string[] = [];
  for (const [resource, kind] of CHECKED_KINDS) {
    const list = await kubectlJson(cluster, [
      '-n',
      namespace,
      'get',
      resource,
      '-l',
      `app.kubernetes.io/name=${name}`,
    ]);
    for (const item of list.items) found.push(`${kind}/${item.metadata.name}`);
  }
  return found.sort();
}

/** What a rendered release puts in the cluster (its smoke-test Job aside), as sorted "Kind/name". */
export function renderedObjects(rendered: RenderedRelease): string[] {
  return [
    rendered.deployment,
    ...(rendered.service ? [rendered.service] : []),
    ...(rendered.previewService ? [rendered.previewService] : []),
    ...rendered.configMaps,
    ...rendered.secrets,
    ...(rendered.podDisruptionBudget ? [rendered.podDisruptionBudget] : []),
  ]
    .map(o => `${o.kind}/${o.metadata!.name}`)
    .sort();
}

/** Renders a stored release for an environment, as the runner does. */
export async function renderStoredRelease(
  store: DeliveryStore,
  entityRef: string,
  version: string,
  environment: EnvironmentConfig,
): Promise<RenderedRelease> {
  const release = await store.findRelease(entityRef, version);
  if (!release) throw new Error(`no release ${version} of ${entityRef}`);
  return renderSnapshot(release, environment).rendered;
}

/** Polls until `check` is true; throws with `describe()` when it never is. */
export async function waitUntil(
  check: () => Promise<boolean>,
  options: {
    timeoutMs?: number;
    intervalMs?: number;
    describe?: () => Promise<string> | string;
  } = {},
) {
  const { timeoutMs = 30_000, intervalMs = 250 } = options;
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) {
      const detail = options.describe ? `: ${await options.describe()}` : '';
      throw new Error(`condition not met within ${timeoutMs} ms${detail}`);
    }
    await new Promise(resolve => setTimeout(resolve, intervalMs));
  }
}
