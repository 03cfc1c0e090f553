import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import type { JsonObject } from '@backstage/types';
import { parse } from 'yaml';

export const REPO_ROOT = path.resolve(__dirname, '../../../..');

/**
 * The `kubeDelivery` app-config that `scripts/dev.sh` writes for the running
 * devcluster (`yarn devcluster app-config`), with a fast deployment runner.
 */
export async function devClusterKubeDeliveryConfig(): Promise<JsonObject> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [path.join(REPO_ROOT, 'packages/devcluster/bin/devcluster'), 'app-config'],
    { cwd: REPO_ROOT },
  );
  const config = parse(stdout) as { kubeDelivery: JsonObject };
  return {
    ...config.kubeDelivery,
    deployments: {
      pollIntervalMs: 200,
      leaseSeconds: 5,
      blueGreenCleanupDelaySeconds: 1,
    },
  };
}
