import * as os from 'os';
import * as path from 'path';

/** `${XDG_CACHE_HOME:-$HOME/.cache}/kube-delivery/devcluster` (or DEVCLUSTER_CACHE_DIR). */
export function cacheDir(): string {
  if (process.env.DEVCLUSTER_CACHE_DIR) {
    return path.resolve(process.env.DEVCLUSTER_CACHE_DIR);
  }
  const xdg = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(xdg, 'kube-delivery', 'devcluster');
}

export function binDir(): string {
  return path.join(cacheDir(), 'bin');
}

/** Where the running cluster keeps certificates, kubeconfigs, data, logs and pids. */
export function stateDir(): string {
  if (process.env.DEVCLUSTER_STATE_DIR) {
    return path.resolve(process.env.DEVCLUSTER_STATE_DIR);
  }
  return path.join(cacheDir(), 'state');
}

/** packages/devcluster */
// This package always runs from its source (bin/devcluster, tests), never bundled.
// eslint-disable-next-line no-restricted-syntax
export const packageDir = path.resolve(__dirname, '..');

export function binaryPath(name: string, version: string): string {
  return path.join(binDir(), `${name}-${version}`);
}
