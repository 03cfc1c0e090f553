/*
 * Route-edit benchmark: N developers create their routing rule on the same
 * service at once (POST …/routes), through backend replicas sharing one
 * database; then the live VirtualService is read back and every rule must be
 * in it. Baseline in the same run: single creations one after the other.
 * See bench/README.md.
 *
 *   yarn bench:routes [--rules 50] [--replicas 2] [--postgres] [--single 5]
 *
 * It measures and prints; it asserts nothing about timings.
 */
import { mockCredentials } from '@backstage/backend-test-utils';
import { getDevCluster } from '@internal/devcluster';
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { adserviceManifest } from '../plugins/kube-delivery-backend/src/__testUtils__/boutiqueManifests';
import { entityWithManifest } from '../plugins/kube-delivery-backend/src/__testUtils__/deliveryHarness';
import {
  createSharedDatabase,
  knexForShared,
} from '../plugins/kube-delivery-backend/src/__testUtils__/sharedDatabase';
import { startBenchBackend, type BenchBackend } from './lib/backend';
import { deleteBenchObjects, deployThroughApi } from './lib/cluster';
import {
  intOption,
  loadNote,
  median,
  ms,
  percentile,
  round2,
} from './lib/stats';

const BRANCH = 'myfeature';

async function main() {
  const argv = process.argv.slice(2);
  if (argv.includes('--help')) {
    console.log(
      'Usage: yarn bench:routes [--rules 50] [--replicas 2] [--single 5] [--postgres (scripts/postgres.sh url; default: a SQLite file)]',
    );
    return;
  }
  const rules = intOption(argv, '--rules', 50);
  const replicaCount = intOption(argv, '--replicas', 2);
  const singles = intOption(argv, '--single', 5);
  if (argv.includes('--postgres')) {
    process.env.KD_TEST_POSTGRES_URL = execFileSync(
      'bash',
      ['scripts/postgres.sh', 'url'],
      {
        encoding: 'utf8',
      },
    ).trim();
  } else {
    delete process.env.KD_TEST_POSTGRES_URL;
  }
  const cluster = await getDevCluster();
  const name = `bench-rt-${randomBytes(3).toString('hex')}`;
  const { entity } = entityWithManifest({
    name,
    manifest: adserviceManifest(name),
    annotations: { 'kube-delivery.io/routing': 'header:userid' },
  });
  const entityPath = `/api/kube-delivery/entities/component/default/${name}`;
  const shared = await createSharedDatabase();
  const replicas: BenchBackend[] = [];
  let summary: Record<string, unknown> = {};
  const cleanup: string[] = [];
  try {
    // One after the other: each runs the migrations at start-up.
    for (let i = 0; i < replicaCount; i++) {
      replicas.push(
        await startBenchBackend({
          cluster,
          entities: [entity],
          knex: knexForShared(shared.connection),
        }),
      );
    }
    console.log(
      `Route-edit benchmark — devcluster ${cluster.server}, service ${name} (routing header:userid) in dev; ` +
        `${replicaCount} backend replica(s) on one ${shared.description} database`,
    );
    console.log(`  ${loadNote()}`);
    // The mainline and the branch's workload, as the routing tests deploy them.
    for (const version of ['0.1.3', `0.1.4-${BRANCH}`]) {
      await deployThroughApi(replicas[0].baseUrl, entityPath, version, 'dev');
    }
    const create = async (user: string, i: number) => {
      const t0 = performance.now();
      const res = await fetch(
        `${replicas[i % replicas.length].baseUrl}${entityPath}/routes`,
        {
          method: 'POST',
          headers: {
            'Content-Type': 'application/json',
            Authorization: mockCredentials.user.header(
              `user:default/bench-${user}`,
            ),
          },
          body: JSON.stringify({
            environment: 'dev',
            branch: BRANCH,
            value: user,
          }),
        },
      );
      const latency = performance.now() - t0;
      const body = await res.text();
      return { latency, status: res.status, body };
    };

    // Baseline: single creations, one after the other.
    const singleUsers = Array.from({ length: singles }, () => randomUUID());
    const single: number[] = [];
    for (const [i, user] of singleUsers.entries()) {
      const r = await create(user, i);
      if (r.status !== 201)
        throw new Error(`single rule creation: HTTP ${r.status} ${r.body}`);
      single.push(r.latency);
    }
    // N at once.
    const users = Array.from({ length: rules }, () => randomUUID());
    const t0 = performance.now();
    const results = await Promise.all(users.map((user, i) => create(user, i)));
    const totalMs = performance.now() - t0;
    const refused = results.filter(r => r.status !== 201);

    const vs = await cluster.kubectl([
      '-n',
      'dev',
      'get',
      'virtualservice',
      name,
      '-o',
      'json',
    ]);
    if (vs.code !== 0)
      throw new Error(`kubectl get virtualservice ${name}: ${vs.stderr}`);
    const routed = new Set<string>(
      JSON.parse(vs.stdout).spec.http.flatMap(
        (entry: any) =>
          entry.match?.map((m: any) => m.headers?.userid?.exact) ?? [],
      ),
    );
    const lost = users.filter(u => !routed.has(u)).length;
    const lostSingles = singleUsers.filter(u => !routed.has(u)).length;
    const latencies = results.map(r => r.latency);
    const singleMedian = median(single);
    const p95 = percentile(latencies, 95);
    console.log(
      `  baseline: ${singles} single creations one after the other: median ${ms(
        singleMedian,
      )}`,
    );
    console.log(
      `  ${rules} at once (round-robin over ${replicaCount} replica(s)): total ${ms(
        totalMs,
      )}, p50 ${ms(percentile(latencies, 50))}, p95 ${ms(p95)}, max ${ms(
        Math.max(...latencies),
      )}; refused ${refused.length}${
        refused.length
          ? ` (${refused[0].status} ${refused[0].body.slice(0, 200)})`
          : ''
      }`,
    );
    console.log(
      `  lost rules: ${lost} of ${rules} (live VirtualService ${name} has ${routed.size} user rules, ` +
        `${singles + rules} expected; baseline rules lost: ${lostSingles})`,
    );
    console.log(
      `  ratios: p95 / single median = ${(p95 / singleMedian).toFixed(
        2,
      )}; total / (${rules} × single median) = ${(
        totalMs /
        (rules * singleMedian)
      ).toFixed(2)}`,
    );
    summary = {
      bench: 'kube-delivery-routes',
      database: shared.description,
      replicas: replicaCount,
      rules,
      totalMs: Math.round(totalMs),
      p50Ms: round2(percentile(latencies, 50)),
      p95Ms: round2(p95),
      singleMedianMs: round2(singleMedian),
      ratioP95ToSingle: round2(p95 / singleMedian),
      refused: refused.length,
      lost,
    };
  } finally {
    for (const replica of replicas) await replica.stop();
    const vsDelete = await cluster.kubectl([
      '-n',
      'dev',
      'delete',
      'virtualservice',
      name,
      '--ignore-not-found',
    ]);
    cleanup.push(
      vsDelete.code === 0
        ? `virtualservice ${name} deleted`
        : vsDelete.stderr.trim(),
    );
    cleanup.push(await deleteBenchObjects(cluster, 'dev', [name]));
    await shared
      .destroy()
      .catch(error => cleanup.push(`database: ${error.message}`));
    console.log(`cleanup: ${cleanup.join('; ')}`);
  }
  console.log(JSON.stringify({ ...summary, cleanup: cleanup.join('; ') }));
}

main().then(
  () => process.exit(0),
  error => {
    console.error(`bench:routes failed: ${error?.stack ?? error}`);
    process.exit(1);
  },
);
