import { mockCredentials } from '@backstage/backend-test-utils';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { BACKEND_PROCESS_ENTRY } from '../__testUtils__/backendProcess';
import {
  createDeliveryHarness,
  kubectlJson,
  uniqueName,
  type DeliveryHarness,
} from '../__testUtils__/deliveryHarness';
import { printFigures } from '../__testUtils__/figures';
import {
  deployVersions,
  removeRoutedServices,
  routedAdservice,
} from '../__testUtils__/routingScenario';
import { RunnerChild } from '../__testUtils__/runnerChild';
import {
  createSharedDatabase,
  SHARED_DATABASES,
  type SharedDatabase,
} from '../__testUtils__/sharedDatabase';

jest.setTimeout(300_000);

const RULES = 50;

function percentile(sorted: number[], p: number): number {
  return sorted[
    Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)
  ];
}

/**
 * Two whole backend replicas, each a process of its own (backendProcess.ts:
 * the plugin with its HTTP API, runner and connection pool), on one database,
 * 50 developers creating their rule on the same service at once, half
 * through each: the reconcilers race on one VirtualService, and
 * resourceVersion preconditions must lose nothing.
 *
 * On one SQLite file both processes open (WAL, busy_timeout: every rule's
 * transaction contends for the file's single write lock across processes) and
 * on PostgreSQL.
 */
describe.each(SHARED_DATABASES)(
  'concurrent rule creation through two backend replicas sharing one database (%s)',
  (database, kind) => {
    const name = uniqueName('adservice');
    const entity = routedAdservice(name);
    let shared: SharedDatabase;
    let harness: DeliveryHarness;
    const replicas: RunnerChild[] = [];

    beforeAll(async () => {
      shared = await createSharedDatabase(kind);
      harness = await createDeliveryHarness({ knex: shared.knex });
      await deployVersions(harness, entity);
      // One after the other: each runs the migrations at start-up.
      for (let i = 0; i < 2; i++) {
        replicas.push(
          await RunnerChild.start({
            database: shared.connection,
            runner: harness.config.runner,
            entry: BACKEND_PROCESS_ENTRY,
            extra: { entities: [entity] },
            timeoutMs: 120_000,
          }),
        );
      }
    });

    afterAll(async () => {
      await RunnerChild.killAll();
      await harness?.close();
      if (harness) await removeRoutedServices(harness.cluster, [name]);
      await shared?.destroy();
    });

    it(`keeps all ${RULES} rules in the live VirtualService`, async () => {
      const users = Array.from({ length: RULES }, () => randomUUID());
      const latencies: number[] = [];
      const started = Date.now();
      const responses = await Promise.all(
        users.map(async (user, i) => {
          const begin = performance.now();
          const res = await request(`http://127.0.0.1:${replicas[i % 2].port}`)
            .post(
              `/api/kube-delivery/entities/component/default/${name}/routes`,
            )
            .set(
              'Authorization',
              mockCredentials.user.header(`user:default/dev-${i}`),
            )
            .send({ environment: 'dev', branch: 'myfeature', value: user });
          latencies.push(performance.now() - begin);
          return res;
        }),
      );
      const total = Date.now() - started;
      const failed = responses.filter(r => r.status !== 201);
      expect(failed.map(r => `${r.status}: ${r.text.slice(0, 300)}`)).toEqual(
        [],
      );
      expect(new Set(responses.map(r => r.body.owner)).size).toBe(RULES);
      for (const replica of replicas) expect(replica.running).toBe(true);

      const vs = await kubectlJson(harness.cluster, [
        '-n',
        'dev',
        'get',
        'virtualservice',
        name,
      ]);
      const http: Array<{
        name: string;
        match?: Array<{ headers: { userid: { exact: string } } }>;
      }> = vs.spec.http;
      const routed = http.flatMap(
        entry => entry.match?.map(m => m.headers.userid.exact) ?? [],
      );
      expect(routed.sort()).toEqual([...users].sort());
      expect(http).toHaveLength(RULES + 1);
      expect(http[RULES].name).toBe('mainline');
      const [{ count }] = await shared
        .knex('kd_route_rules')
        .count({ count: '*' });
      expect(Number(count)).toBe(RULES);

      latencies.sort((a, b) => a - b);
      printFigures(
        `${RULES} concurrent rule creations through 2 replica processes (${database})`,
        {
          p50Ms: percentile(latencies, 50).toFixed(0),
          p95Ms: percentile(latencies, 95).toFixed(0),
          maxMs: latencies[latencies.length - 1].toFixed(0),
          totalMs: total,
        },
      );
    });
  },
);
