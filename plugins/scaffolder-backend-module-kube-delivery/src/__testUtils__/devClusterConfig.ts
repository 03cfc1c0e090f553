import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { JsonObject } from '@backstage/types';
import { parse } from 'yaml';

export const REPO_ROOT = path.resolve(__dirname, '../../../..');

/**
 * The app-config that `scripts/dev.sh` writes for the running devcluster
 * (`yarn devcluster app-config`): `kubeDelivery`, with a fast deployment
 * runner, and `kubernetes` for the Backstage Kubernetes plugin, with its
 * `$file` token read as the config loader would.
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
  for (const method of config.kubernetes.clusterLocatorMethods) {
    for (const cluster of method.clusters) {
      cluster.serviceAccountToken = fs.readFileSync(
        cluster.serviceAccountToken.$file,
        'utf8',
      );
    }
  }
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
