import {
  mockCredentials,
  mockServices,
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
import { createTestDatabases } from '../__testUtils__/testDatabases';
import { ClusterClients } from '../cluster';
import { EnvironmentRegistry } from '../config/EnvironmentRegistry';
import { RouteReconciler } from './RouteReconciler';
import { EnvironmentEvents } from '../events';
import { DatabaseRouteStore } from './RouteStore';

jest.setTimeout(180_000);

const API = '/api/kube-delivery';

describe('feature-branch routing on the local control plane', () => {
  const databases = createTestDatabases();
  let knex: Knex;
  let harness: DeliveryHarness;
  let backend: TestBackend | undefined;
  const name = uniqueName('adservice');
  const entity = routedAdservice(name);
  const entityRef = `component:default/${name}`;
  const routes = `${API}/entities/component/default/${name}/routes`;
  const asUser = () => mockCredentials.user.header();
  const liveVirtualService = () =>
    kubectlJson(harness.cluster, ['-n', 'dev', 'get', 'virtualservice', name]);

  /** Auditor events the routes created, with how each ended. */
  const audits: Array<{ eventId: string; outcome?: 'success' | 'fail' }> = [];
  const auditor = mockServices.auditor.mock({
    createEvent: async options => {
      const audit: (typeof audits)[number] = { eventId: options.eventId };
      audits.push(audit);
      return {
        success: async () => {
          audit.outcome = 'success';
        },
        fail: async () => {
          audit.outcome = 'fail';
        },
      };
    },
  });

  beforeAll(async () => {
    knex = await databases.init('SQLITE_3');
    harness = await createDeliveryHarness({ knex });
    await deployVersions(harness, entity);
    backend = await startDeliveryBackend({
      cluster: harness.cluster,
      knex,
      entities: [entity],
      permission: AuthorizeResult.ALLOW,
      features: [auditor.factory],
    });
  });

  afterAll(async () => {
    await backend?.stop();
    await harness?.close();
    if (harness) await removeRoutedServices(harness.cluster, [name]);
  });

  const userId = randomUUID();

  it('routes a header rule to the branch, first, with the mainline last', async () => {
    const res = await request(backend!.server)
      .post(routes)
      .set('Authorization', asUser())
      .send({
        environment: 'dev',
        branch: 'myfeature',
        kind: 'header',
        value: userId,
      });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      entityRef,
      environment: 'dev',
      service: name,
      branch: 'myfeature',
      kind: 'header',
      key: 'userid', // from the kube-delivery.io/routing annotation
      value: userId,
      owner: 'user:default/mock',
    });
    const ttl = Date.parse(res.body.expiresAt) - Date.now();
    expect(ttl).toBeGreaterThan(7.9 * 3600_000);
    expect(ttl).toBeLessThanOrEqual(8 * 3600_000);

    const vs = await liveVirtualService();
    const http = vs.spec.http;
    expect(http[0]).toEqual({
      name: `rule-${res.body.id}`,
      match: [{ headers: { userid: { exact: userId } } }],
      route: [{ destination: { host: `${name}-myfeature` } }],
    });
    expect(http[http.length - 1]).toEqual({
      name: 'mainline',
      route: [{ destination: { host: name } }],
    });

    const listed = await request(backend!.server)
      .get(`${routes}?environment=dev`)
      .set('Authorization', asUser());
    expect(listed.status).toBe(200);
    expect(listed.body.items.map((r: { id: string }) => r.id)).toEqual([
      res.body.id,
    ]);
  });

  it('answers the route tester from the live VirtualService', async () => {
    const hit = await request(backend!.server)
      .post(`${routes}/test`)
      .set('Authorization', asUser())
      .send({ environment: 'dev', headers: { UserId: userId } });
    expect(hit.status).toBe(200);
    expect(hit.body.destination).toEqual({ host: `${name}-myfeature` });
    expect(hit.body.rule).toMatchObject({ value: userId, branch: 'myfeature' });

    const miss = await request(backend!.server)
      .post(`${routes}/test`)
      .set('Authorization', asUser())
      .send({ environment: 'dev', headers: { userid: randomUUID() } });
    expect(miss.status).toBe(200);
    expect(miss.body.destination).toEqual({ host: name });
    expect(miss.body.routeName).toBe('mainline');
    expect(miss.body.rule).toBeUndefined();
  });

  it('extends a rule with PATCH, within the configured maximum, and records who did it', async () => {
    const [rule] = await new DatabaseRouteStore(knex).list({
      entityRef,
      environment: 'dev',
    });
    const before = await liveVirtualService();
    const res = await request(backend!.server)
      .patch(`${routes}/${rule.id}`)
      .set('Authorization', asUser())
      .send({ ttlMinutes: 24 * 60 });
    expect(res.status).toBe(200);
    expect(res.body.id).toBe(rule.id);
    const ttl = Date.parse(res.body.expiresAt) - Date.now();
    expect(ttl).toBeGreaterThan(23.9 * 3600_000);
    expect(ttl).toBeLessThanOrEqual(24 * 3600_000);
    // The expiry is not in the VirtualService: nothing to write there.
    expect((await liveVirtualService()).metadata.resourceVersion).toBe(
      before.metadata.resourceVersion,
    );

    for (const [body, status] of [
      [{ ttlMinutes: 7 * 24 * 60 + 1 }, 400],
      [{}, 400],
      [{ ttlMinutes: 60, value: '.*' }, 400],
    ] as const) {
      const refused = await request(backend!.server)
        .patch(`${routes}/${rule.id}`)
        .set('Authorization', asUser())
        .send(body);
      expect(refused.status).toBe(status);
    }
    const missing = await request(backend!.server)
      .patch(`${routes}/${randomUUID()}`)
      .set('Authorization', asUser())
      .send({ ttlMinutes: 60 });
    expect(missing.status).toBe(404);
    expect((await new DatabaseRouteStore(knex).get(rule.id))?.expiresAt).toBe(
      res.body.expiresAt,
    );

    const { items } = await new EnvironmentEvents(knex, mockServices.logger.mock()).list({
      environment: 'dev',
      limit: 100,
    });
    const mine = items.filter(e => e.entityRef === entityRef);
    expect(mine.map(e => [e.kind, e.details.action, e.actor])).toEqual([
      ['route-changed', 'extended', 'user:default/mock'],
      ['route-changed', 'created', 'user:default/mock'],
    ]);
    expect(mine[1].message).toMatch(
      new RegExp(
        `^Rule added: header userid=${userId} → ${name}-myfeature until 20`,
      ),
    );
  });

  it('refuses route changes the permission policy denies, changing nothing', async () => {
    const denied = await startDeliveryBackend({
      cluster: harness.cluster,
      knex,
      entities: [entity],
      permission: AuthorizeResult.DENY,
    });
    try {
      const before = await liveVirtualService();
      const [rule] = await new DatabaseRouteStore(knex).list({
        entityRef,
        environment: 'dev',
      });
      const attempts = [
        request(denied.server).post(routes).send({
          environment: 'dev',
          branch: 'myfeature',
          value: randomUUID(),
        }),
        request(denied.server)
          .patch(`${routes}/${rule.id}`)
          .send({ ttlMinutes: 60 }),
        request(denied.server).delete(`${routes}/${rule.id}`),
        request(denied.server).delete(
          `${API}/entities/component/default/${name}/branches/dev/myfeature`,
        ),
      ];
      for (const attempt of attempts) {
        const res = await attempt.set('Authorization', asUser());
        expect(res.status).toBe(403);
      }
      expect((await liveVirtualService()).metadata.resourceVersion).toBe(
        before.metadata.resourceVersion,
      );
      expect(await new DatabaseRouteStore(knex).get(rule.id)).toEqual(rule);
    } finally {
      await denied.stop();
    }
  });

  const VALUE = /^Routing value must be/;
  const offered =
    'it offers header:userid, cookie:shop_session-id, baggage:kd-branch. ' +
    'The platform team configures the routing keys of an environment';
  it.each<[string, Record<string, unknown>, RegExp]>([
    ['a regex wildcard', { value: '.*' }, VALUE],
    ['an alternation', { value: 'a|b' }, VALUE],
    ['an open group', { value: '(' }, VALUE],
    ['a double quote', { value: 'a"b' }, VALUE],
    ['a single quote', { value: "a'b" }, VALUE],
    ['non-ASCII', { value: 'zoë-Ω' }, VALUE],
    [
      'a newline',
      { value: 'abc\ndef' },
      /^Field "value" contains control characters/,
    ],
    [
      '10 kB',
      { value: 'x'.repeat(10_000) },
      /^Field "value" must NOT have more than 256 characters/,
    ],
    ['a header name with a regex', { key: 'user.*' }, /^Header name must be/],
    ['a quoted header name', { key: '"userid"' }, /^Header name must be/],
    [
      'a non-ASCII cookie name',
      { kind: 'cookie', key: 'sessión' },
      /^Cookie name must be/,
    ],
    [
      'a cookie name with a separator',
      { kind: 'cookie', key: 'a=b' },
      /^Cookie name must be/,
    ],
    [
      'a baggage key with a newline',
      { kind: 'baggage', key: 'k\nx' },
      /^Field "key" contains control characters/,
    ],
    [
      'an unknown kind',
      { kind: 'regex' },
      /^Field "kind" must be one of cookie, header, baggage/,
    ],
    [
      'a branch with a slash',
      { branch: '../mainline' },
      /^Field "branch" must be a feature branch/,
    ],
    [
      'a TTL beyond the maximum',
      { ttlMinutes: 7 * 24 * 60 + 1 },
      /^Field "ttlMinutes" must be a whole number of minutes from 1 to 10080/,
    ],
    [
      'a TTL as an object',
      { ttlMinutes: { $gt: 1 } },
      /^Field "ttlMinutes" must be/,
    ],
    ['an unknown field', { match: { regex: '.*' } }, /^Unknown field "match"/],
    [
      'a header the environment does not offer (user-agent)',
      { key: 'User-Agent' },
      new RegExp(
        `^Environment dev does not offer the routing key header:user-agent; ${offered}`,
      ),
    ],
    [
      'a cookie the environment does not offer',
      { kind: 'cookie', key: 'currency' },
      new RegExp(
        `^Environment dev does not offer the routing key cookie:currency; ${offered}`,
      ),
    ],
    [
      'a cookie named like an offered header',
      { kind: 'cookie', key: 'userid' },
      /^Environment dev does not offer the routing key cookie:userid; it offers/,
    ],
    [
      'an offered cookie in another case (cookie names are case-sensitive)',
      { kind: 'cookie', key: 'SHOP_SESSION-ID' },
      /^Environment dev does not offer the routing key cookie:SHOP_SESSION-ID;/,
    ],
    [
      'a baggage key the environment does not offer',
      { kind: 'baggage', key: 'tenant' },
      /^Environment dev does not offer the routing key baggage:tenant;/,
    ],
  ])(
    'refuses %s with a 400 and leaves the VirtualService and the rules alone',
    async (_what, overrides, message) => {
      const before = await liveVirtualService();
      const rowsBefore = await knex('kd_route_rules').where({
        entity_ref: entityRef,
      });
      const res = await request(backend!.server)
        .post(routes)
        .set('Authorization', asUser())
        .send({
          environment: 'dev',
          branch: 'myfeature',
          kind: 'header',
          value: randomUUID(),
          ...overrides,
        });
      expect(res.status).toBe(400);
      expect(res.body.error.message).toMatch(message);
      const after = await liveVirtualService();
      expect(after.metadata.resourceVersion).toBe(
        before.metadata.resourceVersion,
      );
      expect(
        await knex('kd_route_rules').where({ entity_ref: entityRef }),
      ).toEqual(rowsBefore);
    },
  );

  it.each([
    ['a branch with a regex', 'a%7Cb', /^Field "branch" must be a feature branch/],
    ['a branch with a slash', '..%2Fmainline', /^Field "branch" must be a feature branch/],
    [
      'a branch of 10 kB',
      'x'.repeat(10_000),
      /^Path parameter "branch" must NOT have more than 128 characters/,
    ],
  ])('refuses to remove %s, deleting nothing', async (_what, branch, why) => {
    const before = await liveVirtualService();
    const objects = await kubectlJson(harness.cluster, [
      '-n',
      'dev',
      'get',
      'deployment,service',
      '-l',
      `app.kubernetes.io/name=${name}`,
    ]);
    const res = await request(backend!.server)
      .delete(
        `${API}/entities/component/default/${name}/branches/dev/${branch}`,
      )
      .set('Authorization', asUser());
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(why);
    expect((await liveVirtualService()).metadata.resourceVersion).toBe(
      before.metadata.resourceVersion,
    );
    const after = await kubectlJson(harness.cluster, [
      '-n',
      'dev',
      'get',
      'deployment,service',
      '-l',
      `app.kubernetes.io/name=${name}`,
    ]);
    expect(after.items.map((o: any) => o.metadata.resourceVersion)).toEqual(
      objects.items.map((o: any) => o.metadata.resourceVersion),
    );
  });

  it('retries with a fresh read when another writer changes the VirtualService in between', async () => {
    const clusters = new ClusterClients(mockServices.logger.mock());
    const environments = EnvironmentRegistry.fromConfig(harness.config);
    const store = new DatabaseRouteStore(knex);
    let applies = 0;
    let conflicts = 0;
    const reconciler = new RouteReconciler({
      store,
      environment: env => environments.require(env),
      cluster: environment => {
        const real = clusters.deploy(environment);
        return {
          ...real,
          read: real.read.bind(real),
          list: real.list.bind(real),
          apply: async objects => {
            applies++;
            if (applies === 1) {
              // Another replica writes between our read and our apply.
              await harness.cluster.kubectl([
                '-n',
                'dev',
                'annotate',
                'virtualservice',
                name,
                `example.test/touched=${Date.now()}`,
                '--overwrite',
              ]);
            }
            try {
              return await real.apply(objects);
            } catch (error) {
              conflicts++;
              throw error;
            }
          },
        } as typeof real;
      },
      logger: mockServices.logger.mock(),
    });
    const { object: applied } = await reconciler.reconcile(
      { entityRef, service: name, ingress: false },
      'dev',
    );
    expect(conflicts).toBe(1);
    expect(applies).toBe(2);
    expect(applied.spec.http).toHaveLength(2);
  });

  it('deletes a rule and takes it out of the VirtualService', async () => {
    const [rule] = await new DatabaseRouteStore(knex).list({
      entityRef,
      environment: 'dev',
    });
    const res = await request(backend!.server)
      .delete(`${routes}/${rule.id}`)
      .set('Authorization', asUser());
    expect(res.status).toBe(200);
    const http: Array<{ name: string }> = (await liveVirtualService()).spec
      .http;
    expect(http.map(entry => entry.name)).not.toContain(`rule-${rule.id}`);
    expect(http).toHaveLength(1);
    const again = await request(backend!.server)
      .delete(`${routes}/${rule.id}`)
      .set('Authorization', asUser());
    expect(again.status).toBe(404);
  });

  it('makes every route change an auditor event, failed ones included', async () => {
    const succeeded = audits
      .filter(a => a.outcome === 'success')
      .map(a => a.eventId);
    expect(succeeded).toEqual(['route-create', 'route-extend', 'route-delete']);
    const failed = audits.filter(a => a.outcome === 'fail').map(a => a.eventId);
    // Refused values, TTLs and unknown rules: audited as failures, after authorisation.
    expect(failed).toEqual(
      expect.arrayContaining(['route-create', 'route-extend', 'route-delete']),
    );
    expect(audits.every(a => a.outcome !== undefined)).toBe(true);
  });
});
