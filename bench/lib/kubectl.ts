/** kubectl as a deployer: the devcluster's kubectl binary with a namespace-scoped ServiceAccount token instead of the admin kubeconfig. */
import {
  devClusterStatus,
  type DevCluster,
  type ExecResult,
} from '@internal/devcluster';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface DeployerKubectl {
  kubeconfigPath: string;
  /** Who the API server sees, e.g. system:serviceaccount:kube-delivery-system:deployer-dev. */
  username: string;
  kubectl(args: string[]): Promise<ExecResult>;
}

/**
 * Writes a kubeconfig with the token and the cluster's CA into `dir` (mode
 * 0600) and returns a kubectl that uses it, with the devcluster's kubectl
 * binary and discovery cache (as `cluster.kubectl`, which uses the admin
 * kubeconfig).
 */
export async function deployerKubectl(
  cluster: DevCluster,
  token: string,
  namespace: string,
  dir: string,
): Promise<DeployerKubectl> {
  const { stateDir } = await devClusterStatus();
  const state = JSON.parse(
    fs.readFileSync(path.join(stateDir, 'cluster.json'), 'utf8'),
  ) as { kubectl: string };
  const kubeconfigPath = path.join(dir, 'deployer.kubeconfig');
  fs.writeFileSync(
    kubeconfigPath,
    JSON.stringify(
      {
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [
          {
            name: 'devcluster',
            cluster: {
              server: cluster.server,
              'certificate-authority-data': cluster.caData,
            },
          },
        ],
        users: [{ name: 'deployer', user: { token } }],
        contexts: [
          {
            name: 'deployer',
            context: { cluster: 'devcluster', user: 'deployer', namespace },
          },
        ],
        'current-context': 'deployer',
      },
      null,
      2,
    ),
    { mode: 0o600 },
  );
  const kubectl = (args: string[]) =>
    new Promise<ExecResult>((resolve, reject) => {
      const child = spawn(
        state.kubectl,
        [
          `--kubeconfig=${kubeconfigPath}`,
          `--cache-dir=${path.join(stateDir, 'kubectl-cache')}`,
          ...args,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', d => out.push(d));
      child.stderr.on('data', d => err.push(d));
      child.on('error', reject);
      child.on('close', code =>
        resolve({
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: Buffer.concat(err).toString('utf8'),
          code: code ?? 1,
        }),
      );
    });
  const whoami = await kubectl([
    'auth',
    'whoami',
    '-o',
    'jsonpath={.status.userInfo.username}',
  ]);
  if (whoami.code !== 0) {
    throw new Error(
      `kubectl auth whoami with the deployer token: ${whoami.stderr}`,
    );
  }
  return { kubeconfigPath, username: whoami.stdout.trim(), kubectl };
}
