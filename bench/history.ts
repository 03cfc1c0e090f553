/*
 * History benchmark: one page of a service's deployment history, read with
 * the store method the API uses (DatabaseDeliveryStore.listDeployments), at
 * 100,000 deployment rows on SQLite and on PostgreSQL, against a baseline of
 * 1,000 rows in the same run. See bench/README.md.
 *
 *   yarn bench:history [--rows 100000] [--baseline-rows 1000] [--queries 300] [--sqlite-only]
 *
 * It measures and prints; it asserts nothing about timings.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import {
  createSharedDatabase,
  type SharedDatabase,
} from '../plugins/kube-delivery-backend/src/__testUtils__/sharedDatabase';
import { DatabaseDeliveryStore } from '../plugins/kube-delivery-backend/src/database';
import { intOption, loadNote, ms, percentile, round2 } from './lib/stats';

const ENVIRONMENTS = ['dev', 'test', 'production'];
/** The service whose history is read: a busy one, holding this share of all rows. */
const HOT_SHARE = 0.25;
const OTHER_SERVICES = 300;
const PAGE = 20;
const HOT = 'component:default/bench-history-hot';

/** Inserts `rows` deployment rows (and one release per service) in bulk, spread over ~3 years. */
async function fill(knex: Knex, rows: number) {
  const services = [
    HOT,
    ...Array.from(
      { length: OTHER_SERVICES },
      (_, i) => `component:default/bench-history-${i}`,
    ),
  ];
  const releaseOf = new Map(services.map(s => [s, randomUUID()]));
  const now = Date.now();
  await knex.batchInsert(
    'kd_releases',
    services.map(entityRef => ({
      id: releaseOf.get(entityRef),
      entity_ref: entityRef,
      version: '1.0.0',
      image_ref: 'example.test/bench:1.0.0',
      channel: 'default',
      branch: null,
      snapshot: '{}',
      created_at: now,
      created_by: 'user:default/bench',
    })),
    500,
  );
  const hotRows = Math.round(rows * HOT_SHARE);
  const span = 3 * 365 * 24 * 3600 * 1000;
  const batch: Record<string, unknown>[] = [];
  const flush = async () => {
    await knex.batchInsert('kd_deployments', batch.splice(0), 500);
  };
  for (let i = 0; i < rows; i++) {
    const entityRef = i < hotRows ? HOT : services[1 + (i % OTHER_SERVICES)];
    const createdAt = now - span + Math.floor((span * i) / rows);
    const failed = i % 10 === 0;
    batch.push({
      id: randomUUID(),
      entity_ref: entityRef,
      environment: ENVIRONMENTS[i % 3],
      track: 'mainline',
      release_id: releaseOf.get(entityRef),
      version: '1.0.0',
      kind: 'deploy',
      strategy: 'rolling',
      status: failed ? 'rolled-back' : 'succeeded',
      active: false,
      phase: 'done',
      steps: '[{"name":"Apply","status":"succeeded"}]',
      message: failed ? 'Rolled back' : 'Deployed',
      previous_release_id: null,
      created_by: 'user:default/bench',
      created_at: createdAt,
      started_at: createdAt + 100,
      finished_at: createdAt + 30_000,
      lease_owner: null,
      lease_expires_at: null,
      attempts: 1,
      cleanup_after: null,
    });
    if (batch.length >= 5000) await flush();
  }
  await flush();
  return { hotRows };
}

interface QueryResult {
  label: string;
  p50: number;
  p99: number;
}

async function measure(
  store: DatabaseDeliveryStore,
  queries: number,
): Promise<QueryResult[]> {
  // A cursor in the middle of the busy service's history, as a deep page has.
  let cursor: string | undefined;
  for (let i = 0; i < 50; i++) {
    cursor = (
      await store.listDeployments({
        entityRef: HOT,
        limit: 100,
        before: cursor,
      })
    ).nextCursor;
  }
  const cases: Array<[string, () => Promise<unknown>]> = [
    [
      'first page, all environments',
      () => store.listDeployments({ entityRef: HOT, limit: PAGE }),
    ],
    [
      'first page, environment dev',
      () =>
        store.listDeployments({
          entityRef: HOT,
          environment: 'dev',
          limit: PAGE,
        }),
    ],
    [
      'page after 5,000 rows (cursor)',
      () =>
        store.listDeployments({ entityRef: HOT, limit: PAGE, before: cursor }),
    ],
    [
      'lastSucceeded (status endpoint)',
      () => store.lastSucceeded(HOT, 'production', 'mainline'),
    ],
  ];
  const results: QueryResult[] = [];
  for (const [label, run] of cases) {
    for (let i = 0; i < 10; i++) await run(); // warm-up
    const latencies: number[] = [];
    for (let i = 0; i < queries; i++) {
      const t0 = performance.now();
      await run();
      latencies.push(performance.now() - t0);
    }
    results.push({
      label,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
    });
  }
  return results;
}

async function onDatabase(
  postgresUrl: string | undefined,
  rows: number,
  queries: number,
): Promise<{
  description: string;
  fillMs: number;
  results: QueryResult[];
  hotRows: number;
}> {
  if (postgresUrl) process.env.KD_TEST_POSTGRES_URL = postgresUrl;
  else delete process.env.KD_TEST_POSTGRES_URL;
  const shared: SharedDatabase = await createSharedDatabase();
  try {
    const store = await DatabaseDeliveryStore.create({
      database: { getClient: async () => shared.knex } as any,
    });
    const t0 = Date.now();
    const { hotRows } = await fill(shared.knex, rows);
    // Planner statistics, as autovacuum / a periodic ANALYZE keep them.
    await shared.knex.raw('ANALYZE');
    const fillMs = Date.now() - t0;
    return {
      description: shared.description,
      fillMs,
      results: await measure(store, queries),
      hotRows,
    };
  } finally {
    await shared.destroy();
  }
}

async function main() {
  const argv = process.argv.slice(2);
  if (argv.includes('--help')) {
    console.log(
      'Usage: yarn bench:history [--rows 100000] [--baseline-rows 1000] [--queries 300] [--sqlite-only]',
    );
    return;
  }
  const rows = intOption(argv, '--rows', 100_000);
  const baselineRows = intOption(argv, '--baseline-rows', 1_000);
  const queries = intOption(argv, '--queries', 300);
  const postgresUrl = argv.includes('--sqlite-only')
    ? undefined
    : execFileSync('bash', ['scripts/postgres.sh', 'url'], {
        encoding: 'utf8',
      }).trim();
  console.log(
    `History benchmark — DatabaseDeliveryStore.listDeployments (GET …/deployments), page of ${PAGE}; ` +
      `${(HOT_SHARE * 100).toFixed(
        0,
      )}% of the rows belong to the service read, the rest to ${OTHER_SERVICES} others; ` +
      `${queries} sequential queries per case`,
  );
  console.log(`  ${loadNote()}`);
  const summary: Record<string, unknown>[] = [];
  for (const database of postgresUrl ? [undefined, postgresUrl] : [undefined]) {
    const base = await onDatabase(database, baselineRows, queries);
    const full = await onDatabase(database, rows, queries);
    console.log('');
    console.log(
      `  ${full.description}: ${rows} rows (service read: ${
        full.hotRows
      }; filled in ${ms(
        full.fillMs,
      )}) vs baseline ${baselineRows} rows (service read: ${base.hotRows})`,
    );
    console.log(
      `    ${'query'.padEnd(34)}${`p50 @${rows}`.padEnd(
        14,
      )}${`p99 @${rows}`.padEnd(14)}${`p50 @${baselineRows}`.padEnd(
        13,
      )}${`p99 @${baselineRows}`.padEnd(13)}ratio p50  ratio p99`,
    );
    full.results.forEach((r, i) => {
      const b = base.results[i];
      console.log(
        `    ${r.label.padEnd(34)}${ms(r.p50).padEnd(14)}${ms(r.p99).padEnd(
          14,
        )}${ms(b.p50).padEnd(13)}${ms(b.p99).padEnd(13)}${(r.p50 / b.p50)
          .toFixed(2)
          .padEnd(11)}${(r.p99 / b.p99).toFixed(2)}`,
      );
      summary.push({
        database: full.description,
        query: r.label,
        rows,
        p50Ms: round2(r.p50),
        p99Ms: round2(r.p99),
        baselineRows,
        baselineP50Ms: round2(b.p50),
        baselineP99Ms: round2(b.p99),
      });
    });
  }
  console.log(
    JSON.stringify({
      bench: 'kube-delivery-history',
      page: PAGE,
      queries,
      results: summary,
    }),
  );
}

main().then(
  () => process.exit(0),
  error => {
    console.error(`bench:history failed: ${error?.stack ?? error}`);
    process.exit(1);
  },
);
