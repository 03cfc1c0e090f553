/**
 * A backend replica's deployment runner as a process of its own, for the
 * resume tests: it opens the shared database, runs a DeploymentRunner on the
 * devcluster's environments and works until it is killed.
 *
 * Started by runnerChild.ts as
 *   node -r @backstage/cli/config/nodeTransform.cjs runnerProcess.ts
 * with KD_RUNNER_CONFIG (JSON of RunnerProcessConfig) in its environment and
 * an IPC channel: it reports { type: 'ready', owner } once it polls for work,
 * and exits when the channel closes, so it never outlives the test process.
 *
 * Plain Node: nothing here may import Jest or @backstage/backend-test-utils.
 */
import type { LoggerService } from '@backstage/backend-plugin-api';
import { getDevCluster } from '@internal/devcluster';
import type { RunnerSettings } from '../config/environments';
import { DatabaseDeliveryStore } from '../database';
import { ClusterClients } from '../cluster';
import { EnvironmentRegistry } from '../config/EnvironmentRegistry';
import type { WritePoint, WritePointHook } from '../delivery/DeploymentJob';
import { DeploymentRunner } from '../delivery/DeploymentRunner';
import { DEV_CLUSTER_GATEWAY, wireDeployRouting } from './deployRouting';
import fs from 'node:fs';
import { devClusterEnvironments } from './devClusterEnvironments';
import { knexForShared, type SharedDatabaseConnection } from './sharedDatabase';

export interface RunnerProcessConfig {
  database: SharedDatabaseConnection;
  runner: RunnerSettings;
  /**
   * Stop this process (SIGSTOP to itself) the first time a job reaches the
   * named cluster write point (of the given version's deployment), after
   * writing `marker` (JSON: point, deployment id, version, attempt, time),
   * so the test knows where it stands. SIGCONT resumes it.
   */
  pauseAt?: { point: WritePoint; version?: string; marker: string };
  /** Give `dev` the devcluster's ingress gateway. */
  devGateway?: boolean;
  /** Run the after-deploy routing reconcile (fenced), as plugin.ts does. */
  routing?: boolean;
}

/** JSON lines on stdout, which the test keeps for its failure messages. */
function lineLogger(fields: Record<string, unknown> = {}): LoggerService {
  const write =
    (level: string) =>
    (message: string, meta?: Error | Record<string, unknown>) => {
      const extra =
        meta instanceof Error ? { error: String(meta) } : meta ?? {};
      process.stdout.write(
        `${JSON.stringify({
          time: new Date().toISOString(),
          level,
          message,
          ...fields,
          ...extra,
        })}\n`,
      );
    };
  return {
    error: write('error'),
    warn: write('warn'),
    info: write('info'),
    debug: write('debug'),
    child: meta => lineLogger({ ...fields, ...meta }),
  };
}

async function main() {
  const raw = process.env.KD_RUNNER_CONFIG;
  if (!raw) throw new Error('KD_RUNNER_CONFIG is not set');
  const config = JSON.parse(raw) as RunnerProcessConfig;
  // The test process is the only reason to live.
  process.on('disconnect', () => process.exit(70));

  const logger = lineLogger({ pid: process.pid });
  const knex = knexForShared(config.database);
  // The test created the schema before starting this process.
  const store = await DatabaseDeliveryStore.create({
    database: { getClient: async () => knex } as any,
    skipMigrations: true,
  });
  const cluster = await getDevCluster();
  const environments = devClusterEnvironments(cluster);
  if (config.devGateway) {
    environments.find(e => e.name === 'dev')!.gateway = DEV_CLUSTER_GATEWAY;
  }
  const pauseAt = config.pauseAt;
  let paused = false;
  const onWritePoint: WritePointHook | undefined = pauseAt
    ? (point, deployment) => {
        if (paused || point !== pauseAt.point) return;
        if (pauseAt.version && deployment.version !== pauseAt.version) return;
        paused = true;
        logger.info('stopping at write point', {
          point,
          deploymentId: deployment.id,
        });
        fs.writeFileSync(
          pauseAt.marker,
          JSON.stringify({
            point,
            deploymentId: deployment.id,
            version: deployment.version,
            attempts: deployment.attempts,
            at: Date.now(),
          }),
        );
        process.kill(process.pid, 'SIGSTOP');
      }
    : undefined;
  const clusters = new ClusterClients(logger);
  const runner = new DeploymentRunner({
    store,
    environments: new EnvironmentRegistry(environments),
    clusters,
    settings: config.runner,
    logger,
    onWritePoint,
  });
  if (config.routing) {
    await wireDeployRouting({
      knex,
      store,
      runner,
      environments,
      clusters,
      logger,
    });
  }
  runner.start();
  logger.info('runner started', { owner: runner.owner });
  process.send?.({ type: 'ready', owner: runner.owner });

  process.on('SIGTERM', () => {
    runner
      .stop()
      .then(() => knex.destroy())
      .finally(() => process.exit(0));
  });
}

main().catch(error => {
  process.stderr.write(`runnerProcess: ${error?.stack ?? error}\n`);
  process.exit(1);
});
