/*
 * Deliveries matrix benchmark: every service × environment in one request
 * (GET /deliveries, the Deliveries page) for 200 services in the devcluster's
 * 3 environments, against the baseline of the same page built from one
 * status request per service (GET .../status, what the Environments tab
 * reads), in one backend and one run. The backend reaches the API server
 * through a counting proxy: the matrix should cause no request to it.
 *
 *   yarn bench:deliveries [--services 200] [--rounds 20]
 *
 * It measures and prints; it asserts nothing about timings.
 */
import { getDevCluster } from '@internal/devcluster';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { adserviceManifest } from '../plugins/kube-delivery-backend/src/__testUtils__/boutiqueManifests';
import {
  entityWithManifest,
  testDeliveryConfig,
} from '../plugins/kube-delivery-backend/src/__testUtils__/deliveryHarness';
import { startFaultProxy } from '../plugins/kube-delivery-backend/src/__testUtils__/faultProxy';
import {
  createSharedDatabase,
  knexForShared,
} from '../plugins/kube-delivery-backend/src/__testUtils__/sharedDatabase';
import { startBenchBackend } from './lib/backend';
import { createBenchLogger } from './lib/logger';
import {
  cleanUpServices,
  deployServices,
  waitReady,
  type Service,
} from './lib/services';
import { intOption, loadNote, ms, percentile, round2 } from './lib/stats';

async function timed(fn: () => Promise<void>): Promise<number> {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

async function main() {
  const argv = process.argv.slice(2);
  if (argv.includes('--help')) {
    console.log('Usage: yarn bench:deliveries [--services 200] [--rounds 20]');
    return;
  }
  const total = intOption(argv, '--services', 200);
  const rounds = intOption(argv, '--rounds', 20);
  const cluster = await getDevCluster();
  const config = testDeliveryConfig(cluster);
  const run = randomBytes(3).toString('hex');
  const workDir = fs.mkdtempSync(
    path.join(os.tmpdir(), 'kd-bench-deliveries-'),
  );
  delete process.env.KD_TEST_POSTGRES_URL; // a SQLite file, as a single backend has
  const shared = await createSharedDatabase();
  const services: Service[] = Array.from({ length: total }, (_, i) => {
    const name = `bench-dl-${run}-${i}`;
    return {
      name,
      entity: entityWithManifest({ name, manifest: adserviceManifest(name) })
        .entity,
    };
  });
  const proxy = await startFaultProxy(cluster);
  let cleanup = '';
  let summary: Record<string, unknown> = {};
  try {
    console.log(
      `Deliveries matrix benchmark — devcluster ${cluster.server}, run ${run}; ${total} services × ${config.environments.length} environments; ${rounds} rounds, one request at a time`,
    );
    console.log(`  ${loadNote()}`);
    const t0 = Date.now();
    await deployServices({ cluster, config, shared, services, workDir });
    await waitReady(cluster, config, new Set(services.map(s => s.name)));
    console.log(`  applied and ready in ${ms(Date.now() - t0)}`);

    let synced = 0;
    let allSynced: () => void = () => {};
    const whenSynced = new Promise<void>(resolve => (allSynced = resolve));
    const logger = createBenchLogger(false, message => {
      if (message === 'status cache synced') {
        synced++;
        if (synced === config.environments.length) allSynced();
      }
    });
    const bench = await startBenchBackend({
      cluster: proxy.cluster,
      entities: services.map(s => s.entity),
      knex: knexForShared(shared.connection),
      logger,
    });
    try {
      await whenSynced;
      const matrixUrl = `${bench.baseUrl}/api/kube-delivery/deliveries?limit=1000`;
      let healthyCells = 0;
      const readMatrix = async () => {
        const res = await fetch(matrixUrl);
        const body = await res.json();
        if (res.status !== 200)
          throw new Error(`${res.status} ${JSON.stringify(body)}`);
        healthyCells = body.items
          .flatMap((item: any) => item.cells)
          .filter((cell: any) => cell.state === 'healthy').length;
      };
      const readStatuses = async () => {
        await Promise.all(
          services.map(async service => {
            const res = await fetch(
              `${bench.baseUrl}/api/kube-delivery/entities/component/default/${service.name}/status`,
            );
            if (res.status !== 200) throw new Error(`status: ${res.status}`);
            await res.json();
          }),
        );
      };
      // Warm-up: each path once (workload names cached, code compiled).
      await readMatrix();
      await readStatuses();
      const matrixMs: number[] = [];
      const statusesMs: number[] = [];
      const before = proxy.requests.length;
      for (let i = 0; i < rounds; i++) matrixMs.push(await timed(readMatrix));
      const apiRequestsDuringMatrix = proxy.requests
        .slice(before)
        .filter(r => services.some(s => r.url.includes(s.name))).length;
      const beforeStatuses = proxy.requests.length;
      for (let i = 0; i < rounds; i++)
        statusesMs.push(await timed(readStatuses));
      const apiRequestsDuringStatuses = proxy.requests
        .slice(beforeStatuses)
        .filter(r => services.some(s => r.url.includes(s.name))).length;
      const p = (values: number[], q: number) => percentile(values, q);
      console.log('');
      console.log(`  ${''.padEnd(44)}p50`.padEnd(60) + 'p99');
      console.log(
        `  ${'GET /deliveries (one request)'.padEnd(44)}${ms(
          p(matrixMs, 50),
        ).padEnd(14)}${ms(p(matrixMs, 99))}`,
      );
      console.log(
        `  ${`${total} × GET …/status (baseline)`.padEnd(44)}${ms(
          p(statusesMs, 50),
        ).padEnd(14)}${ms(p(statusesMs, 99))}`,
      );
      console.log(
        `  ratio matrix / baseline: p50 ${(
          p(matrixMs, 50) / p(statusesMs, 50)
        ).toFixed(3)}, p99 ${(p(matrixMs, 99) / p(statusesMs, 99)).toFixed(3)}`,
      );
      console.log(
        `  API-server requests naming a service: matrix ${apiRequestsDuringMatrix} in ${rounds} rounds; baseline ${apiRequestsDuringStatuses}`,
      );
      console.log(
        `  healthy cells in the last matrix: ${healthyCells} of ${
          total * config.environments.length
        }`,
      );
      summary = {
        bench: 'kube-delivery-deliveries',
        services: total,
        environments: config.environments.length,
        rounds,
        matrix: {
          p50Ms: round2(p(matrixMs, 50)),
          p99Ms: round2(p(matrixMs, 99)),
        },
        perServiceStatus: {
          p50Ms: round2(p(statusesMs, 50)),
          p99Ms: round2(p(statusesMs, 99)),
        },
        ratioP50: round2(p(matrixMs, 50) / p(statusesMs, 50)),
        apiServerRequests: {
          matrix: apiRequestsDuringMatrix,
          perServiceStatus: apiRequestsDuringStatuses,
        },
        healthyCells,
      };
    } finally {
      await bench.stop();
    }
  } finally {
    await proxy.close();
    cleanup = await cleanUpServices({
      cluster,
      config,
      shared,
      services,
      workDir,
    });
  }
  console.log(JSON.stringify({ ...summary, cleanup }));
}

main().then(
  () => process.exit(0),
  error => {
    console.error(error);
    process.exit(1);
  },
);
