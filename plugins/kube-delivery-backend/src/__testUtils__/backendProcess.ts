/**
 * A whole backend replica as a process of its own: the Kube Delivery plugin
 * in a test backend (HTTP API, deployment runner, status cache, scheduled
 * tasks) on a shared database and the devcluster, for the replica-kill test.
 *
 * Started by RunnerChild.start({ entry: BACKEND_PROCESS_ENTRY, extra: { entities } })
 * with the same protocol as runnerProcess.ts: KD_RUNNER_CONFIG in its
 * environment, { type: 'ready', owner, port } over IPC once it serves, exit
 * when the channel closes. `owner` is the `<hostname>-<pid>-` prefix of its
 * runner's lease owner ids.
 *
 * No Jest here: startTestBackend and the service factories it uses work in
 * plain Node.
 */
import type { Entity } from '@backstage/catalog-model';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { getDevCluster } from '@internal/devcluster';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startDeliveryBackend } from './deliveryBackend';
import type { RunnerProcessConfig } from './runnerProcess';
import { knexForShared } from './sharedDatabase';

export const BACKEND_PROCESS_ENTRY = path.resolve(
  __dirname,
  'backendProcess.ts',
);

export interface BackendProcessConfig extends RunnerProcessConfig {
  entities: Entity[];
}

async function main() {
  const raw = process.env.KD_RUNNER_CONFIG;
  if (!raw) throw new Error('KD_RUNNER_CONFIG is not set');
  const config = JSON.parse(raw) as BackendProcessConfig;
  process.on('disconnect', () => process.exit(70));
  const backend = await startDeliveryBackend({
    cluster: await getDevCluster(),
    knex: knexForShared(config.database),
    entities: config.entities,
    permission: AuthorizeResult.ALLOW,
  });
  const { port } = backend.server.address() as AddressInfo;
  process.send?.({
    type: 'ready',
    owner: `${os.hostname()}-${process.pid}-`,
    port,
  });
  process.on('SIGTERM', () => {
    backend.stop().finally(() => process.exit(0));
  });
}

if (require.main === module) {
  main().catch(error => {
    process.stderr.write(`backendProcess: ${error?.stack ?? error}\n`);
    process.exit(1);
  });
}
