import {
  mockCredentials,
  type TestBackend,
} from '@backstage/backend-test-utils';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import type { Knex } from 'knex';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { startDeliveryBackend } from '../__testUtils__/deliveryBackend';
import {
  createDeliveryHarness,
  kubectlJson,
  uniqueName,
  type DeliveryHarness,
} from '../__testUtils__/deliveryHarness';
import {
  deployVersions,
  removeRoutedServices,
  routedAdservice,
} from '../__testUtils__/routingScenario';
import {
  createSharedDatabase,
  knexForShared,
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
 * Two backend replicas (two plugin instances, each with its own connection
 * pool) on one PostgreSQL database, 50 developers creating their rule on the
 * same service at once, half through each: the reconcilers race on one
 * VirtualService, and resourceVersion preconditions must lose nothing.
 */
describe('concurrent rule creation through two backend replicas sharing PostgreSQL', () => {
  const name = uniqueName('adservice');
  const entity = routedAdservice(name);
  let shared: SharedDatabase;
  let harness: DeliveryHarness;
  const replicas: Array<{ backend: TestBackend; knex: Knex }> = [];

  beforeAll(async () => {
    shared = await createSharedDatabase();
    harness = await createDeliveryHarness({ knex: shared.knex });
    await deployVersions(harness, entity);
    // One after the other: each runs the migrations at start-up.
    for (let i = 0; i < 2; i++) {
      const knex = knexForShared(shared.connection);
      const backend = await startDeliveryBackend({
        cluster: harness.cluster,
        knex,
        entities: [entity],
        permission: AuthorizeResult.ALLOW,
      });
      replicas.push({ backend, knex });
    }
  });

  afterAll(async () => {
    for (const { backend, knex } of replicas) {
      await backend.stop();
      await knex.destroy();
    }
    await harness?.close();
    if (harness) await removeRoutedServices(harness.cluster, [name]);
    await shared?.destroy();
  });

  it(`keeps all ${RULES} rules in the live VirtualService`, async () => {
    // The point is PostgreSQL between replicas; SQLite would not show it.
    expect(shared.description).toBe('PostgreSQL');
    const users = Array.from({ length: RULES }, () => randomUUID());
    const latencies: number[] = [];
    const started = Date.now();
    const responses = await Promise.all(
      users.map(async (user, i) => {
        const begin = performance.now();
        const res = await request(replicas[i % 2].backend.server)
          .post(`/api/kube-delivery/entities/component/default/${name}/routes`)
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
    expect(responses.map(r => r.status)).toEqual(users.map(() => 201));
    expect(new Set(responses.map(r => r.body.owner)).size).toBe(RULES);

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

    latencies.sort((a, b) => a - b);
    // eslint-disable-next-line no-console
    console.log(
      `${RULES} concurrent rule creations through 2 replicas on PostgreSQL: ` +
        `p50 ${percentile(latencies, 50).toFixed(0)} ms, p95 ${percentile(
          latencies,
          95,
        ).toFixed(0)} ms, ` +
        `max ${latencies[latencies.length - 1].toFixed(
          0,
        )} ms, total ${total} ms`,
    );
  });
});
