import { mockCredentials, mockServices, type TestBackend } from '@backstage/backend-test-utils';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import type { Knex } from 'knex';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { adserviceManifest } from '../__testUtils__/boutiqueManifests';
import { startDeliveryBackend } from '../__testUtils__/deliveryBackend';
import {
  createDeliveryHarness,
  entityWithManifest,
  kubectlJson,
  uniqueName,
  type DeliveryHarness,
} from '../__testUtils__/deliveryHarness';
import { createTestDatabases } from '../__testUtils__/testDatabases';
import { ClusterRegistry } from '../delivery';
import { RouteReconciler } from './RouteReconciler';
import { DatabaseRouteStore } from './RouteStore';
import { RoutingService } from './RoutingService';

jest.setTimeout(180_000);

const createdBy = 'user:default/ada';
const API = '/api/kube-delivery';

describe('feature-branch routing on the local control plane', () => {
  const databases = createTestDatabases();
  let knex: Knex;
  let harness: DeliveryHarness;
  let backend: TestBackend | undefined;
  const name = uniqueName('adservice');
  const { entity } = entityWithManifest({
    name,
    manifest: adserviceManifest(name),
    annotations: { 'kube-delivery.io/routing': 'header:userid' },
  });
  const entityRef = `component:default/${name}`;
  const routes = `${API}/entities/component/default/${name}/routes`;
  const asUser = () => mockCredentials.user.header();
  const liveVirtualService = () =>
    kubectlJson(harness.cluster, ['-n', 'dev', 'get', 'virtualservice', name]);

  beforeAll(async () => {
    knex = await databases.init('SQLITE_3');
    harness = await createDeliveryHarness({ knex });
    for (const version of ['0.1.3', '0.1.4-myfeature']) {
      const release = await harness.delivery.createRelease({ entity, version, createdBy });
      const deployment = await harness.delivery.deploy({
        entity,
        release,
        environment: 'dev',
        kind: 'deploy',
        createdBy,
      });
      const settled = await harness.settle(deployment.id);
      if (settled.status !== 'succeeded') {
        throw new Error(`Deploying ${version} to dev ${settled.status}: ${settled.message}`);
      }
    }
    backend = await startDeliveryBackend({
      cluster: harness.cluster,
      knex,
      entities: [entity],
      permission: AuthorizeResult.ALLOW,
    });
  });

  afterAll(async () => {
    await backend?.stop();
    await harness?.close();
    if (harness) {
      await harness.cluster.kubectl(['-n', 'dev', 'delete', 'virtualservice', name, '--ignore-not-found']);
      await harness.cluster.kubectl([
        '-n',
        'dev',
        'delete',
        'deployment,service,configmap,pdb',
        '-l',
        `app.kubernetes.io/name=${name}`,
      ]);
    }
  });

  const userId = randomUUID();

  it('routes a header rule to the branch, first, with the mainline last', async () => {
    const res = await request(backend!.server)
      .post(routes)
      .set('Authorization', asUser())
      .send({ environment: 'dev', branch: 'myfeature', kind: 'header', value: userId });
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
    expect(listed.body.items.map((r: { id: string }) => r.id)).toEqual([res.body.id]);
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

  it.each([
    ['a regex wildcard', '.*', /^Routing value must be/],
    ['an alternation', 'a|b', /^Routing value must be/],
    ['an open group', '(', /^Routing value must be/],
    ['a newline', 'abc\ndef', /^Field "value" contains control characters/],
    ['10 kB', 'x'.repeat(10_000), /^Field "value" is longer than 256 characters/],
  ])('refuses %s as a value and leaves the VirtualService alone', async (_what, value, message) => {
    const before = await liveVirtualService();
    const res = await request(backend!.server)
      .post(routes)
      .set('Authorization', asUser())
      .send({ environment: 'dev', branch: 'myfeature', kind: 'header', value });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(message);
    const after = await liveVirtualService();
    expect(after.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
    const rows = await knex('kd_route_rules').where({ entity_ref: entityRef });
    expect(rows).toHaveLength(1);
  });

  it('loses no rule when two replicas create 20 rules at once', async () => {
    const replicas = [0, 1].map(() => {
      const store = new DatabaseRouteStore(knex);
      const clusters = new ClusterRegistry(mockServices.logger.mock());
      const environment = (env: string) => harness.delivery.environment(env);
      const cluster = clusters.forEnvironment.bind(clusters);
      return new RoutingService({
        store,
        reconciler: new RouteReconciler({
          store,
          environment,
          cluster,
          logger: mockServices.logger.mock(),
        }),
        environment,
        cluster,
      });
    });
    const values = Array.from({ length: 20 }, () => randomUUID());
    await Promise.all(
      values.map((value, i) =>
        replicas[i % 2].createRule({
          entity,
          environment: 'dev',
          branch: 'myfeature',
          value,
          owner: createdBy,
        }),
      ),
    );
    const http: Array<{ name: string; match?: Array<{ headers: { userid: { exact: string } } }> }> =
      (await liveVirtualService()).spec.http;
    const matched = http.flatMap(entry => entry.match?.map(m => m.headers.userid.exact) ?? []);
    expect(new Set(matched)).toEqual(new Set([userId, ...values]));
    expect(http).toHaveLength(22);
    expect(http[21].name).toBe('mainline');
  });

  it('retries with a fresh read when another writer changes the VirtualService in between', async () => {
    const clusters = new ClusterRegistry(mockServices.logger.mock());
    const store = new DatabaseRouteStore(knex);
    let applies = 0;
    let conflicts = 0;
    const reconciler = new RouteReconciler({
      store,
      environment: env => harness.delivery.environment(env),
      cluster: environment => {
        const real = clusters.forEnvironment(environment);
        return {
          ...real,
          read: real.read.bind(real),
          list: real.list.bind(real),
          apply: async objects => {
            applies++;
            if (applies === 1) {
              // Another replica writes between our read and our apply.
              await harness.cluster.kubectl(['-n', 'dev', 'annotate', 'virtualservice', name, `example.test/touched=${Date.now()}`, '--overwrite']);
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
    const applied = await reconciler.reconcile(entityRef, 'dev');
    expect(conflicts).toBe(1);
    expect(applies).toBe(2);
    expect(applied.spec.http).toHaveLength(22);
  });

  it('deletes a rule and takes it out of the VirtualService', async () => {
    const [rule] = await new DatabaseRouteStore(knex).list({ entityRef, environment: 'dev' });
    const res = await request(backend!.server)
      .delete(`${routes}/${rule.id}`)
      .set('Authorization', asUser());
    expect(res.status).toBe(200);
    const http: Array<{ name: string }> = (await liveVirtualService()).spec.http;
    expect(http.map(entry => entry.name)).not.toContain(`rule-${rule.id}`);
    expect(http).toHaveLength(21);
    const again = await request(backend!.server)
      .delete(`${routes}/${rule.id}`)
      .set('Authorization', asUser());
    expect(again.status).toBe(404);
  });
});
