import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import type { JsonObject } from '@backstage/types';
import { getDevCluster } from '@internal/devcluster';
import { parse } from 'yaml';

export const REPO_ROOT = path.resolve(__dirname, '../../../..');

/**
 * The app-config that `scripts/dev.sh` writes for the running devcluster
 * (`yarn devcluster app-config`): `kubeDelivery`, with a fast deployment
 * runner, and `kubernetes` for the Backstage Kubernetes plugin (its token
 * as a `$file` reference, for the real config loader).
 */
export async function devClusterAppConfig(): Promise<{
  kubeDelivery: JsonObject;
  kubernetes: JsonObject;
}> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [path.join(REPO_ROOT, 'packages/devcluster/bin/devcluster'), 'app-config'],
    { cwd: REPO_ROOT },
  );
  const config = parse(stdout);
  return {
    kubeDelivery: {
      ...config.kubeDelivery,
      deployments: {
        pollIntervalMs: 200,
        leaseSeconds: 5,
        blueGreenCleanupDelaySeconds: 1,
      },
    },
    kubernetes: config.kubernetes,
  };
}

/** Removes the workloads a test deployed to the devcluster's dev namespace (or another). */
export async function deleteDevServiceObjects(
  labelSelector: string,
  namespace = 'dev',
) {
  const cluster = await getDevCluster();
  await cluster.kubectl([
    'delete',
    'deployments,services,configmaps,poddisruptionbudgets,serviceaccounts',
    '-n',
    namespace,
    '-l',
    labelSelector,
    '--ignore-not-found',
  ]);
}
