/** HTTP and cluster helpers shared by the bench scripts. */
import type { Entity } from '@backstage/catalog-model';
import type { DevCluster } from '@internal/devcluster';
import path from 'node:path';

/** A JSON request to the bench backend (its mock auth makes every request one user's); throws on an unexpected status. */
export async function jsonRequest<T = any>(
  url: string,
  options: { method?: string; body?: unknown; expect?: number[] } = {},
): Promise<{ status: number; body: T }> {
  const res = await fetch(url, {
    method: options.method ?? 'GET',
    headers: options.body ? { 'Content-Type': 'application/json' } : undefined,
    body: options.body ? JSON.stringify(options.body) : undefined,
  });
  const text = await res.text();
  const body = text ? JSON.parse(text) : undefined;
  if (!(options.expect ?? [200, 201, 202]).includes(res.status)) {
    throw new Error(
      `${options.method ?? 'GET'} ${url}: HTTP ${res.status} ${text.slice(
        0,
        500,
      )}`,
    );
  }
  return { status: res.status, body };
}

/**
 * Creates a release and deploys it through the HTTP API, waiting until the
 * deployment succeeded; returns the milliseconds from the deploy request on.
 */
export async function deployThroughApi(
  baseUrl: string,
  entityPath: string,
  version: string,
  environment: string,
  timeoutMs = 180_000,
): Promise<number> {
  await jsonRequest(`${baseUrl}${entityPath}/releases`, {
    method: 'POST',
    body: { version },
  });
  const t0 = Date.now();
  const { body: queued } = await jsonRequest(
    `${baseUrl}${entityPath}/deployments`,
    {
      method: 'POST',
      body: { environment, version },
    },
  );
  for (;;) {
    const { body } = await jsonRequest(
      `${baseUrl}${entityPath}/deployments/${queued.id}`,
    );
    if (body.status === 'succeeded') return Date.now() - t0;
    if (body.status !== 'queued' && body.status !== 'running') {
      throw new Error(
        `deployment ${queued.id} ${body.status}: ${JSON.stringify(body.steps)}`,
      );
    }
    if (Date.now() - t0 > timeoutMs) {
      throw new Error(
        `deployment ${queued.id} still ${body.status} after ${timeoutMs} ms`,
      );
    }
    await new Promise(resolve => setTimeout(resolve, 100));
  }
}

/** Deletes what deploying the named services created in a namespace (ReplicaSets and pods go by garbage collection). */
export async function deleteBenchObjects(
  cluster: DevCluster,
  namespace: string,
  names: string[],
): Promise<string> {
  if (!names.length) return 'nothing to delete';
  let deleted = 0;
  // Chunks keep the selector short.
  for (let i = 0; i < names.length; i += 50) {
    const selector = `app.kubernetes.io/name in (${names
      .slice(i, i + 50)
      .join(',')})`;
    const result = await cluster.kubectl([
      'delete',
      'deployments,services,configmaps,secrets,poddisruptionbudgets,jobs',
      '-n',
      namespace,
      '-l',
      selector,
      '--ignore-not-found',
      '--wait=false',
    ]);
    if (result.code !== 0) {
      return `cleanup failed in ${namespace}: ${result.stderr.trim()}`;
    }
    deleted += result.stdout
      .split('\n')
      .filter(line => / deleted/.test(line)).length;
  }
  return `deleted ${deleted} objects of ${names.length} services in namespace ${namespace}`;
}

/** The temporary directory entityWithManifest wrote an entity's files to, for the clean-up. */
export function entityDirOf(entity: Entity): string {
  const location =
    entity.metadata.annotations!['backstage.io/managed-by-location'];
  return path.dirname(location.replace(/^file:/, ''));
}
