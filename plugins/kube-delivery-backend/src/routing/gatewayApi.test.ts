import {
  mockCredentials,
  mockServices,
  type TestBackend,
} from '@backstage/backend-test-utils';
import type { Knex } from 'knex';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import {
  kubectlJson,
  type DeliveryHarness,
} from '../__testUtils__/deliveryHarness';
import {
  boutiqueEntities,
  manualScheduler,
  removeRoutedServices,
  startBoutiqueRouting,
} from '../__testUtils__/routingScenario';
import { createTestDatabases } from '../__testUtils__/testDatabases';
import { EnvironmentEvents } from '../events';
import { ROUTING_TASK_ID } from './task';

jest.setTimeout(180_000);

const API = '/api/kube-delivery';
const asUser = () => mockCredentials.user.header();

/** The same rules with `routingApi: gateway-api`: an HTTPRoute per service, evaluated with Gateway API precedence. */
describe('feature-branch routing with Gateway API HTTPRoutes on the local control plane', () => {
  const databases = createTestDatabases();
  const scheduler = manualScheduler();
  const { frontend, adservice } = boutiqueEntities();
  // Registered, never deployed: no Service port for backendRefs.
  const undeployed = boutiqueEntities().adservice;
  const fe = frontend.metadata.name;
  const ad = adservice.metadata.name;
  const routesOf = (name: string) =>
    `${API}/entities/component/default/${name}/routes`;
  let knex: Knex;
  let harness: DeliveryHarness;
  let backend: TestBackend;
  const live = (name: string) =>
    kubectlJson(harness.cluster, [
      '-n',
      'dev',
      'get',
      'httproutes.gateway.networking.k8s.io',
      name,
    ]);
  const routeTest = (name: string, headers: Record<string, string>) =>
    request(backend.server)
      .post(`${routesOf(name)}/test`)
      .set('Authorization', asUser())
      .send({ environment: 'dev', headers });
  const session = randomUUID();
  const user = randomUUID();

  beforeAll(async () => {
    knex = await databases.init('SQLITE_3');
    ({ harness, backend } = await startBoutiqueRouting({
      knex,
      frontend,
      adservice,
      scheduler,
      moreEntities: [undeployed],
      routingApi: 'gateway-api',
    }));
  });

  afterAll(async () => {
    await backend?.stop();
    await harness?.close();
    if (harness) {
      await removeRoutedServices(
        harness.cluster,
        [fe, ad],
        'httproutes.gateway.networking.k8s.io',
      );
    }
  });

  it('binds the frontend HTTPRoute to the gateway and its Service, and routes the chosen session to the branch', async () => {
    const res = await request(backend.server)
      .post(routesOf(fe))
      .set('Authorization', asUser())
      .send({ environment: 'dev', branch: 'myfeature', value: session });
    expect(res.status).toBe(201);

    const route = await live(fe);
    expect(route.spec.parentRefs).toEqual([
      {
        group: 'gateway.networking.k8s.io',
        kind: 'Gateway',
        namespace: 'istio-system',
        name: 'ingressgateway',
      },
      { group: '', kind: 'Service', name: fe },
    ]);
    expect(route.spec.hostnames).toEqual(['dev.boutique.example']);
    expect(
      route.spec.rules.map((r: any) => [
        r.name,
        r.backendRefs[0].name,
        r.backendRefs[0].port,
      ]),
    ).toEqual([
      [`rule-${res.body.id}`, `${fe}-myfeature`, 80],
      ['mainline', fe, 80],
    ]);
    // Read back with the API server's defaults filled in, which the tester must understand.
    expect(route.spec.rules[0].matches[0].path).toEqual({
      type: 'PathPrefix',
      value: '/',
    });

    const mine = await routeTest(fe, {
      cookie: `shop_session-id=${session}; currency=EUR`,
    });
    expect(mine.body).toMatchObject({
      destination: { host: `${fe}-myfeature`, port: { number: 80 } },
      routeName: `rule-${res.body.id}`,
      rule: { id: res.body.id },
      kind: 'HTTPRoute',
    });
    const other = await routeTest(fe, {
      cookie: `shop_session-id=${randomUUID()}`,
    });
    expect(other.body).toMatchObject({
      destination: { host: fe },
      routeName: 'mainline',
    });
  });

  it('routes the chosen userid to the ad service branch with a mesh-only HTTPRoute', async () => {
    const res = await request(backend.server)
      .post(routesOf(ad))
      .set('Authorization', asUser())
      .send({ environment: 'dev', branch: 'myfeature', value: user });
    expect(res.status).toBe(201);
    const route = await live(ad);
    expect(route.spec.parentRefs).toEqual([
      { group: '', kind: 'Service', name: ad },
    ]);
    expect(route.spec.hostnames).toBeUndefined();
    expect(route.spec.rules[0].matches[0].headers).toEqual([
      { type: 'Exact', name: 'userid', value: user },
    ]);

    expect((await routeTest(ad, { userid: user })).body.destination).toEqual({
      host: `${ad}-myfeature`,
      port: { number: 9555 },
    });
    expect(
      (await routeTest(ad, { userid: randomUUID() })).body.destination,
    ).toEqual({
      host: ad,
      port: { number: 9555 },
    });
  });

  it('refuses a hostile value with a 400 and leaves the HTTPRoute alone', async () => {
    const before = await live(ad);
    const res = await request(backend.server)
      .post(routesOf(ad))
      .set('Authorization', asUser())
      .send({ environment: 'dev', branch: 'myfeature', value: '.*' });
    expect(res.status).toBe(400);
    expect((await live(ad)).metadata.resourceVersion).toBe(
      before.metadata.resourceVersion,
    );
  });

  it('refuses a rule for a service whose mainline is not deployed, keeping nothing', async () => {
    const name = undeployed.metadata.name;
    const res = await request(backend.server)
      .post(routesOf(name))
      .set('Authorization', asUser())
      .send({ environment: 'dev', branch: 'myfeature', value: user });
    expect(res.status).toBe(409);
    expect(res.body.error.message).toBe(
      `Service "${name}" has no port in dev; deploy the mainline there before routing to its branches`,
    );
    expect(await knex('kd_route_rules').where({ service: name })).toEqual([]);
    const route = await harness.cluster.kubectl([
      '-n',
      'dev',
      'get',
      'httproutes.gateway.networking.k8s.io',
      name,
    ]);
    expect(route.stderr).toMatch(/NotFound/);
  });

  it('puts back a hand-edited HTTPRoute in one run of the routing task', async () => {
    const before = await live(ad);
    const edit = await harness.cluster.kubectl([
      '-n',
      'dev',
      'patch',
      'httproutes.gateway.networking.k8s.io',
      ad,
      '--type=json',
      '-p',
      JSON.stringify([{ op: 'remove', path: '/spec/rules/0' }]),
    ]);
    expect(edit.code).toBe(0);
    expect((await routeTest(ad, { userid: user })).body.destination.host).toBe(
      ad,
    );

    await scheduler.run(ROUTING_TASK_ID);

    expect((await live(ad)).spec).toEqual(before.spec);
    expect((await routeTest(ad, { userid: user })).body.destination.host).toBe(
      `${ad}-myfeature`,
    );
    const { items } = await new EnvironmentEvents(knex, mockServices.logger.mock()).list({
      environment: 'dev',
      limit: 50,
    });
    expect(
      items.find(e => e.entityRef === `component:default/${ad}`),
    ).toMatchObject({
      details: {
        action: 'restored',
        object: `HTTPRoute/${ad}`,
        editors: ['kubectl-patch'],
      },
    });
  });
});
