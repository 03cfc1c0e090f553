/*
 * Status-read benchmark: Kube Delivery's status endpoint against the Backstage
 * Kubernetes plugin's objects-by-entity endpoint, for the same entity on the
 * same devcluster, served by one backend with both plugins, under N
 * concurrent clients. See bench/README.md.
 *
 *   yarn bench:status [--clients 50] [--requests 20] [--rounds 3]
 *
 * It measures and prints; it asserts nothing about timings.
 */
import type { Entity } from '@backstage/catalog-model';
import { getDevCluster } from '@internal/devcluster';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { adserviceManifest } from '../plugins/kube-delivery-backend/src/__testUtils__/boutiqueManifests';
import { entityWithManifest } from '../plugins/kube-delivery-backend/src/__testUtils__/deliveryHarness';
import { SETTLED_AFTER_MS } from '../plugins/kube-delivery-backend/src/delivery/DeliveryService';
import { startBenchBackend } from './lib/backend';
import {
  deleteBenchObjects,
  deployThroughApi,
  entityDirOf,
} from './lib/cluster';
import {
  concurrentLoad,
  intOption,
  loadNote,
  ms,
  percentile,
  round2,
} from './lib/stats';

async function main() {
  const argv = process.argv.slice(2);
  if (argv.includes('--help')) {
    console.log(
      'Usage: yarn bench:status [--clients 50] [--requests 20 per client and round] [--rounds 3]',
    );
    return;
  }
  const clients = intOption(argv, '--clients', 50);
  const perClient = intOption(argv, '--requests', 20);
  const rounds = intOption(argv, '--rounds', 3);
  const cluster = await getDevCluster();
  const name = `bench-st-${randomBytes(3).toString('hex')}`;
  const { entity } = entityWithManifest({
    name,
    manifest: adserviceManifest(name),
    annotations: {
      'kube-delivery.io/replicas': '2',
      'backstage.io/kubernetes-id': name,
      'backstage.io/kubernetes-namespace': 'dev',
    },
  });
  const entityDir = entityDirOf(entity);
  const bench = await startBenchBackend({
    cluster,
    entities: [entity],
    kubernetesPlugin: true,
  });
  const entityPath = `/api/kube-delivery/entities/component/default/${name}`;
  const kd = `${bench.baseUrl}${entityPath}/status`;
  const k8s = `${bench.baseUrl}/api/kubernetes/services/${name}`;
  const k8sBody = JSON.stringify({ entity: { ...entity } as Entity });
  const failures = { kd: 0, k8s: 0 };

  const readKd = async () => {
    const res = await fetch(kd);
    const body = await res.json();
    if (res.status !== 200 || body.items?.[0]?.rollout?.ready !== 2)
      failures.kd++;
    return body;
  };
  const readK8s = async () => {
    const res = await fetch(k8s, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: k8sBody,
    });
    const body = await res.json();
    const deployments = body.items?.[0]?.resources?.find(
      (r: any) => r.type === 'deployments',
    );
    if (res.status !== 200 || deployments?.resources?.length !== 1)
      failures.k8s++;
    return body;
  };

  let summary: Record<string, unknown> = {};
  let cleanup = 'not run';
  try {
    console.log(
      `Status-read benchmark — devcluster ${cluster.server}, service ${name} (adservice shape, 2 replicas) in dev; ` +
        `one backend (startTestBackend) with kube-delivery and kubernetes-backend, SQLite in memory`,
    );
    console.log(`  ${loadNote()}`);
    const deployMs = await deployThroughApi(
      bench.baseUrl,
      entityPath,
      '1.0.0',
      'dev',
    );
    console.log(`  deployed 1.0.0 to dev through the API in ${ms(deployMs)}`);
    // Right after a deployment the endpoint reads the cluster directly; measure the settled state.
    await new Promise(resolve => setTimeout(resolve, SETTLED_AFTER_MS));

    // Both answer about the same objects before anything is timed.
    const sampleKd = await readKd();
    const sampleK8s = await readK8s();
    if (failures.kd || failures.k8s) {
      throw new Error(
        `unexpected answers before the run: Kube Delivery ${JSON.stringify(
          sampleKd,
        ).slice(0, 400)}; ` +
          `Kubernetes plugin ${JSON.stringify(sampleK8s).slice(0, 400)}`,
      );
    }
    const bytes = (body: unknown) => Buffer.byteLength(JSON.stringify(body));
    console.log(
      `  Kube Delivery: GET ${entityPath}/status (3 environments from the database, dev's rollout from the status cache), ${bytes(
        sampleKd,
      )} bytes`,
    );
    console.log(
      `  Kubernetes plugin: POST /api/kubernetes/services/${name} (pods, services, configmaps, deployments, replicasets, jobs of namespace dev by label backstage.io/kubernetes-id), ${bytes(
        sampleK8s,
      )} bytes`,
    );
    // Warm-up, untimed.
    for (const read of [readKd, readK8s]) {
      await concurrentLoad({
        clients,
        perClient: 2,
        request: async () => void (await read()),
      });
    }

    const samples = { kd: [] as number[], k8s: [] as number[] };
    const walls = { kd: 0, k8s: 0 };
    console.log(
      `  ${clients} concurrent clients, ${perClient} sequential requests each per round, ${rounds} rounds alternating`,
    );
    for (let round = 1; round <= rounds; round++) {
      for (const [key, read] of [
        ['kd', readKd],
        ['k8s', readK8s],
      ] as const) {
        const result = await concurrentLoad({
          clients,
          perClient,
          request: async () => void (await read()),
        });
        samples[key].push(...result.latencies);
        walls[key] += result.wallMs;
        failures[key] += result.errors;
        if (result.firstError)
          console.log(
            `    ${result.errors} requests failed, e.g. ${result.firstError}`,
          );
        console.log(
          `    round ${round} ${
            key === 'kd' ? 'Kube Delivery    ' : 'Kubernetes plugin'
          } p50 ${ms(percentile(result.latencies, 50))}  p99 ${ms(
            percentile(result.latencies, 99),
          )}  ${((result.latencies.length / result.wallMs) * 1000).toFixed(
            0,
          )} req/s`,
        );
      }
    }
    const stat = (key: 'kd' | 'k8s') => ({
      requests: samples[key].length,
      p50Ms: round2(percentile(samples[key], 50)),
      p99Ms: round2(percentile(samples[key], 99)),
      reqPerS: Math.round((samples[key].length / walls[key]) * 1000),
      badAnswers: failures[key],
    });
    const a = stat('kd');
    const b = stat('k8s');
    console.log('');
    console.log(
      `  ${'endpoint'.padEnd(20)}${'requests'.padEnd(10)}${'p50'.padEnd(
        12,
      )}${'p99'.padEnd(12)}req/s   bad answers`,
    );
    for (const [label, s] of [
      ['Kube Delivery', a],
      ['Kubernetes plugin', b],
    ] as const) {
      console.log(
        `  ${label.padEnd(20)}${String(s.requests).padEnd(10)}${ms(
          s.p50Ms,
        ).padEnd(12)}${ms(s.p99Ms).padEnd(12)}${String(s.reqPerS).padEnd(8)}${
          s.badAnswers
        }`,
      );
    }
    const ratioP50 = a.p50Ms / b.p50Ms;
    const ratioP99 = a.p99Ms / b.p99Ms;
    console.log(
      `  ratio Kube Delivery / Kubernetes plugin: p50 ${ratioP50.toFixed(
        2,
      )}, p99 ${ratioP99.toFixed(2)}`,
    );
    summary = {
      bench: 'kube-delivery-status',
      clients,
      perClient,
      rounds,
      kubeDelivery: a,
      kubernetesPlugin: b,
      ratioP50: round2(ratioP50),
      ratioP99: round2(ratioP99),
    };
  } finally {
    await bench.stop();
    cleanup = await deleteBenchObjects(cluster, 'dev', [name]);
    console.log(`cleanup: ${cleanup}`);
    fs.rmSync(entityDir, { recursive: true, force: true });
  }
  console.log(JSON.stringify({ ...summary, cleanup }));
}

main().then(
  () => process.exit(0),
  error => {
    console.error(`bench:status failed: ${error?.stack ?? error}`);
    process.exit(1);
  },
);
