import { devClusterAppConfig } from './appConfig';
import { kubernetesPluginAppConfig } from './kubernetesPlugin';
import {
  devClusterStatus,
  getDevCluster,
  startDevCluster,
  stopDevCluster,
  DevClusterStatus,
} from './cluster';
import { binaries, ensureBinaries } from './build';
import { runPodRunner } from './podRunner';
import { VERSIONS } from './versions';

const USAGE = `usage: devcluster <command>

  build       build the binaries once per version (cached outside the work tree)
  up          build (first time only) and start the cluster, or set up the cluster of
              KUBECONFIG when DEVCLUSTER_USE_KUBECONFIG=1; does nothing if it is running
  down        stop every devcluster process and delete its state
  status      print each component, pid, port and health
  kubeconfig  print the path of the admin kubeconfig
  app-config  print the kubeDelivery and kubernetes (Backstage Kubernetes plugin,
              read-only account) app-config sections for this cluster
`;

function health(c: { healthy: boolean; running: boolean }): string {
  if (c.healthy) return 'ok';
  return c.running ? 'unhealthy' : 'not running';
}

function printStatus(status: DevClusterStatus): void {
  console.log(
    `devcluster: ${status.state}${status.mode ? ` (${status.mode})` : ''}`,
  );
  if (status.server) console.log(`server:     ${status.server}`);
  if (status.kubeconfigPath)
    console.log(`kubeconfig: ${status.kubeconfigPath}`);
  console.log(`state dir:  ${status.stateDir}`);
  if (status.dataPlane) {
    console.log(
      `data plane: ${
        status.dataPlane.unavailable ??
        `Gateways on ${status.dataPlane.httpUrl} and ${status.dataPlane.httpsUrl}, pods served by the pod runner`
      }`,
    );
  }
  if (status.components.length === 0) return;
  const rows = [
    ['COMPONENT', 'PID', 'PORT', 'HEALTH', 'ENDPOINT'],
    ...status.components.map(c => [
      c.name,
      c.pid ? String(c.pid) : '-',
      c.port ? String(c.port) : '-',
      health(c),
      c.healthUrl,
    ]),
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map(r => r[i].length)));
  for (const row of rows) {
    console.log(
      row
        .map((cell, i) => cell.padEnd(widths[i]))
        .join('  ')
        .trimEnd(),
    );
  }
}

export async function main(argv: string[]): Promise<number> {
  const log = (msg: string) => console.log(`devcluster: ${msg}`);
  const [command, ...rest] = argv;
  switch (command) {
    case 'build': {
      await ensureBinaries();
      log('binaries are built and cached');
      return 0;
    }
    case 'up': {
      const cluster = await startDevCluster({ log });
      printStatus(await devClusterStatus());
      console.log(`\nexport KUBECONFIG=${cluster.kubeconfigPath}`);
      return 0;
    }
    case 'down': {
      const before = await devClusterStatus();
      await stopDevCluster({ log });
      console.log(
        before.state === 'stopped' && before.components.length === 0
          ? 'devcluster: was not running'
          : 'devcluster: down',
      );
      return 0;
    }
    case 'status': {
      const status = await devClusterStatus();
      printStatus(status);
      return status.state === 'running' ? 0 : 1;
    }
    case 'kubeconfig': {
      const status = await devClusterStatus();
      if (!status.kubeconfigPath) {
        console.error('devcluster is not running: run `yarn devcluster up`');
        return 1;
      }
      console.log(status.kubeconfigPath);
      return 0;
    }
    case 'app-config': {
      const cluster = await getDevCluster();
      process.stdout.write(devClusterAppConfig(cluster));
      process.stdout.write(await kubernetesPluginAppConfig(cluster));
      return 0;
    }
    case 'pod-runner': {
      // Started by `up` as a component of the cluster (see dataPlane.ts).
      return runPodRunner(rest[0]);
    }
    case 'versions': {
      console.log(
        JSON.stringify({ versions: VERSIONS, binaries: binaries() }, null, 2),
      );
      return 0;
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return command ? 0 : 2;
    default:
      process.stderr.write(
        `unknown command ${command} ${rest.join(' ')}\n${USAGE}`,
      );
      return 2;
  }
}
