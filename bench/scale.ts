/*
 * Scale benchmark: a backend with N services deployed in the 3 environments
 * of the devcluster (kwok nodes): backend memory, status-cache start-up time
 * (to synced) and status-read latency under concurrent clients, for a
 * baseline of 20 services and then 200, in one run. See bench/README.md.
 *
 *   yarn bench:scale [--services 200] [--baseline 20] [--clients 50] [--requests 20]
 *
 * It measures and prints; it asserts nothing about timings.
 */
import { getDevCluster, type DevCluster } from '@internal/devcluster';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { adserviceManifest } from '../plugins/kube-delivery-backend/src/__testUtils__/boutiqueManifests';
import {
  entityWithManifest,
  testDeliveryConfig,
} from '../plugins/kube-delivery-backend/src/__testUtils__/deliveryHarness';
import {
  createSharedDatabase,
  knexForShared,
  type SharedDatabase,
} from '../plugins/kube-delivery-backend/src/__testUtils__/sharedDatabase';
import type { DeliveryConfig } from '../plugins/kube-delivery-backend/src/config/environments';
import { ClusterClients } from '../plugins/kube-delivery-backend/src/cluster';
import { StatusCache } from '../plugins/kube-delivery-backend/src/status';
import { startBenchBackend } from './lib/backend';
import { createBenchLogger } from './lib/logger';
import {
  cleanUpServices,
  deployServices,
  waitReady,
  type Service,
} from './lib/services';
import {
  concurrentLoad,
  intOption,
  loadNote,
  ms,
  percentile,
  round2,
} from './lib/stats';

const MB = 1024 * 1024;

async function memory() {
  // Several full collections, with a turn of the event loop between them, so
  // what closed sockets and stopped timers released is gone too.
  for (let i = 0; i < 3; i++) {
    (globalThis as any).gc?.();
    await new Promise(resolve => setImmediate(resolve));
  }
  const m = process.memoryUsage();
  return { rssMb: m.rss / MB, heapUsedMb: m.heapUsed / MB };
}

interface PhaseResult {
  services: number;
  syncMs: number;
  syncByEnvironment: Record<string, number>;
  /** Heap after GC of a StatusCache of its own (same environments) once synced, minus before it started. */
  cacheHeapMb: number;
  /** Objects that cache holds (Deployments, ReplicaSets, pods of every environment). */
  cacheObjects: number;
  rssMb: number;
  heapUsedMb: number;
  p50: number;
  p99: number;
  reqPerS: number;
  bad: number;
}

/** Caches measured at once, so the heap they hold stands out of GC noise (about ±1 MB). */
const CACHE_COPIES = 5;

/**
 * The heap one StatusCache of the environments holds once synced: heap after
 * GC with CACHE_COPIES caches synced (a first one started and synced before,
 * so code compiled on the way is not counted) minus before they started,
 * divided by CACHE_COPIES.
 */
async function measureCache(config: DeliveryConfig) {
  const logger = createBenchLogger(false);
  const first = new StatusCache(
    config.environments,
    new ClusterClients(logger),
    logger,
  );
  await first.start();
  const before = await memory();
  const caches = Array.from(
    { length: CACHE_COPIES },
    () =>
      new StatusCache(config.environments, new ClusterClients(logger), logger),
  );
  await Promise.all(caches.map(c => c.start()));
  const after = await memory();
  const objects = first
    .stats()
    .flatMap(e => Object.values(e.kinds))
    .reduce((sum, kind) => sum + kind.objects, 0);
  await Promise.all([first, ...caches].map(c => c.stop()));
  return {
    heapMb: (after.heapUsedMb - before.heapUsedMb) / CACHE_COPIES,
    objects,
  };
}

/** Starts a backend on the shared database, waits for its status cache, measures, stops it. */
async function measurePhase(options: {
  cluster: DevCluster;
  shared: SharedDatabase;
  services: Service[];
  clients: number;
  perClient: number;
  config: DeliveryConfig;
}): Promise<PhaseResult> {
  const synced = new Map<string, number>();
  let allSynced: () => void = () => {};
  const whenSynced = new Promise<void>(resolve => (allSynced = resolve));
  const logger = createBenchLogger(false, (message, meta) => {
    if (message === 'status cache synced') {
      synced.set(String(meta.environment), Number(meta.syncMs));
      if (synced.size === options.config.environments.length) allSynced();
    }
  });
  let stopped = false;
  const bench = await startBenchBackend({
    cluster: options.cluster,
    entities: options.services.map(s => s.entity),
    knex: knexForShared(options.shared.connection),
    logger,
  });
  try {
    await Promise.race([
      whenSynced,
      new Promise((_, reject) =>
        setTimeout(
          () => reject(new Error('status cache not synced within 120 s')),
          120_000,
        ),
      ),
    ]);
    const mem = await memory();
    let bad = 0;
    let next = 0;
    const read = async () => {
      const service = options.services[next++ % options.services.length];
      const res = await fetch(
        `${bench.baseUrl}/api/kube-delivery/entities/component/default/${service.name}/status`,
      );
      const body = await res.json();
      const rollouts = (body.items ?? []).filter(
        (item: any) => item.rollout?.complete,
      );
      if (
        res.status !== 200 ||
        rollouts.length !== options.config.environments.length
      )
        bad++;
    };
    // Warm-up: every service read at least once, as a backend that has run a while has.
    await concurrentLoad({
      clients: options.clients,
      perClient: Math.max(
        2,
        Math.ceil(options.services.length / options.clients),
      ),
      request: read,
    });
    bad = 0;
    const load = await concurrentLoad({
      clients: options.clients,
      perClient: options.perClient,
      request: read,
    });
    await bench.stop();
    stopped = true;
    const cache = await measureCache(options.config);
    if (load.firstError)
      console.log(
        `    ${load.errors} requests failed, e.g. ${load.firstError}`,
      );
    return {
      services: options.services.length,
      cacheHeapMb: cache.heapMb,
      cacheObjects: cache.objects,
      syncMs: Math.max(...synced.values()),
      syncByEnvironment: Object.fromEntries(synced),
      ...mem,
      p50: percentile(load.latencies, 50),
      p99: percentile(load.latencies, 99),
      reqPerS: (load.latencies.length / load.wallMs) * 1000,
      bad: bad + load.errors,
    };
  } finally {
    if (!stopped) await bench.stop();
  }
}

async function main() {
  const argv = process.argv.slice(2);
  if (argv.includes('--help')) {
    console.log(
      'Usage: yarn bench:scale [--services 200] [--baseline 20] [--clients 50] [--requests 20]',
    );
    return;
  }
  const total = intOption(argv, '--services', 200);
  const baseline = intOption(argv, '--baseline', 20);
  const clients = intOption(argv, '--clients', 50);
  const perClient = intOption(argv, '--requests', 20);
  if (baseline >= total)
    throw new Error('--baseline must be smaller than --services');
  if (!(globalThis as any).gc)
    console.log(
      '  (run with node --expose-gc, as yarn bench:scale does, for memory after a full GC)',
    );
  const cluster = await getDevCluster();
  const config = testDeliveryConfig(cluster);
  const run = randomBytes(3).toString('hex');
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kd-bench-scale-'));
  delete process.env.KD_TEST_POSTGRES_URL; // a SQLite file, as a single backend has
  const shared = await createSharedDatabase();
  const services: Service[] = Array.from({ length: total }, (_, i) => {
    const name = `bench-sc-${run}-${i}`;
    return {
      name,
      entity: entityWithManifest({ name, manifest: adserviceManifest(name) })
        .entity,
    };
  });
  let cleanup = '';
  let summary: Record<string, unknown> = {};
  try {
    console.log(
      `Scale benchmark — devcluster ${cluster.server}, run ${run}; services in the adservice shape in dev, test and production ` +
        `(1, 1 and 2 replicas on kwok nodes); one backend (startTestBackend, SQLite file) per phase; ${clients} concurrent clients × ${perClient} status reads`,
    );
    console.log(`  ${loadNote()}`);
    const idle = await memory();
    const phases: PhaseResult[] = [];
    let deployed = 0;
    for (const count of [baseline, total]) {
      const t0 = Date.now();
      await deployServices({
        cluster,
        config,
        shared,
        services: services.slice(deployed, count),
        workDir,
      });
      deployed = count;
      await waitReady(
        cluster,
        config,
        new Set(services.slice(0, count).map(s => s.name)),
      );
      console.log(
        `  ${count} services × ${
          config.environments.length
        } environments applied and ready in ${ms(Date.now() - t0)}`,
      );
      const phase = await measurePhase({
        cluster,
        shared,
        services: services.slice(0, count),
        clients,
        perClient,
        config,
      });
      phases.push(phase);
      console.log(
        `    status cache synced in ${ms(phase.syncMs)} (${Object.entries(
          phase.syncByEnvironment,
        )
          .map(([e, v]) => `${e} ${ms(v)}`)
          .join(
            ', ',
          )}); after GC with the backend running: process heap ${phase.heapUsedMb.toFixed(
          1,
        )} MB, RSS ${phase.rssMb.toFixed(
          1,
        )} MB; a StatusCache alone: ${phase.cacheHeapMb.toFixed(
          2,
        )} MB heap for ${phase.cacheObjects} objects; ` +
          `status reads p50 ${ms(phase.p50)}, p99 ${ms(
            phase.p99,
          )}, ${phase.reqPerS.toFixed(0)} req/s, bad answers ${phase.bad}`,
      );
    }
    const [a, b] = phases;
    console.log('');
    console.log(
      `  bench process before any backend: heap ${idle.heapUsedMb.toFixed(
        1,
      )} MB, RSS ${idle.rssMb.toFixed(1)} MB`,
    );
    console.log(
      `  ${''.padEnd(28)}${`${a.services} services`.padEnd(
        16,
      )}${`${b.services} services`.padEnd(16)}ratio`,
    );
    const row = (
      label: string,
      x: number,
      y: number,
      fmt: (v: number) => string,
    ) =>
      console.log(
        `  ${label.padEnd(28)}${fmt(x).padEnd(16)}${fmt(y).padEnd(16)}${(
          y / x
        ).toFixed(2)}`,
      );
    const mb = (v: number) => `${v.toFixed(1)} MB`;
    row('status cache to synced', a.syncMs, b.syncMs, ms);
    row('process heap (after GC)', a.heapUsedMb, b.heapUsedMb, mb);
    row('process RSS', a.rssMb, b.rssMb, mb);
    row('status cache heap', a.cacheHeapMb, b.cacheHeapMb, mb);
    row('status cache objects', a.cacheObjects, b.cacheObjects, String);
    row('status read p50', a.p50, b.p50, ms);
    row('status read p99', a.p99, b.p99, ms);
    summary = {
      bench: 'kube-delivery-scale',
      environments: config.environments.length,
      idle: { rssMb: round2(idle.rssMb), heapUsedMb: round2(idle.heapUsedMb) },
      phases: phases.map(p => ({
        services: p.services,
        syncMs: p.syncMs,
        cacheHeapMb: round2(p.cacheHeapMb),
        cacheObjects: p.cacheObjects,
        heapUsedMb: round2(p.heapUsedMb),
        rssMb: round2(p.rssMb),
        p50Ms: round2(p.p50),
        p99Ms: round2(p.p99),
        reqPerS: Math.round(p.reqPerS),
        badAnswers: p.bad,
      })),
      ratios: {
        syncMs: round2(b.syncMs / a.syncMs),
        cacheHeap: round2(b.cacheHeapMb / a.cacheHeapMb),
        processHeap: round2(b.heapUsedMb / a.heapUsedMb),
        p99: round2(b.p99 / a.p99),
      },
    };
  } finally {
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
    console.error(`bench:scale failed: ${error?.stack ?? error}`);
    process.exit(1);
  },
);
