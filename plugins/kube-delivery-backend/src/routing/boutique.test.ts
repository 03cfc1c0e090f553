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
  uniqueName,
  type DeliveryHarness,
} from '../__testUtils__/deliveryHarness';
import {
  boutiqueEntities,
  deployVersions,
  manualScheduler,
  removeRoutedServices,
  routedAdservice,
  startBoutiqueRouting,
  watchEvents,
} from '../__testUtils__/routingScenario';
import { createTestDatabases } from '../__testUtils__/testDatabases';
import { EnvironmentEvents } from '../events';
import { ROUTING_TASK_ID } from './task';

jest.setTimeout(180_000);

const API = '/api/kube-delivery';
const asUser = () => mockCredentials.user.header();

/**
 * The Online Boutique scenario on the local control plane: a developer
 * reaches `frontend-myfeature` through the gateway by their session cookie
 * and `adservice-myfeature` by their `userid`; everyone else stays on the
 * mainline. Then the routing task expires a rule and puts back a hand edit,
 * and the branch is removed, route entries before workloads.
 */
describe('Online Boutique feature-branch routing on the local control plane', () => {
  const databases = createTestDatabases();
  const scheduler = manualScheduler();
  const { frontend, adservice } = boutiqueEntities();
  const fe = frontend.metadata.name;
  const ad = adservice.metadata.name;
  const lateName = uniqueName('adservice');
  const late = routedAdservice(lateName);
  const routesOf = (name: string) =>
    `${API}/entities/component/default/${name}/routes`;
  let knex: Knex;
  let harness: DeliveryHarness;
  let backend: TestBackend;
  const live = (name: string) =>
    kubectlJson(harness.cluster, ['-n', 'dev', 'get', 'virtualservice', name]);
  const routeTest = (name: string, headers: Record<string, string>) =>
    request(backend.server)
      .post(`${routesOf(name)}/test`)
      .set('Authorization', asUser())
      .send({ environment: 'dev', headers });
  const events = async (entityRef: string) =>
    (
      await new EnvironmentEvents(knex, mockServices.logger.mock()).list({
        environment: 'dev',
        limit: 100,
      })
    ).items.filter(e => e.entityRef === entityRef);
  const session = randomUUID();
  const user = randomUUID();

  beforeAll(async () => {
    knex = await databases.init('SQLITE_3');
    ({ harness, backend } = await startBoutiqueRouting({
      knex,
      frontend,
      adservice,
      scheduler,
      moreEntities: [late],
    }));
  });

  afterAll(async () => {
    await backend?.stop();
    await harness?.close();
    if (harness)
      await removeRoutedServices(harness.cluster, [fe, ad, lateName]);
  });

  it('routes the chosen session to frontend-myfeature through the gateway-bound VirtualService', async () => {
    const res = await request(backend.server)
      .post(routesOf(fe))
      .set('Authorization', asUser())
      .send({ environment: 'dev', branch: 'myfeature', value: session });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      kind: 'cookie',
      key: 'shop_session-id',
      owner: 'user:default/mock',
    });

    const vs = await live(fe);
    expect(vs.spec.gateways).toEqual(['istio-system/ingressgateway', 'mesh']);
    expect(vs.spec.hosts).toEqual(['dev.boutique.example', fe]);
    expect(
      vs.spec.http.map((h: { route: any[] }) => h.route[0].destination.host),
    ).toEqual([`${fe}-myfeature`, fe]);
    expect(vs.metadata.annotations['kube-delivery.io/entity-ref']).toBe(
      `component:default/${fe}`,
    );

    const mine = await routeTest(fe, {
      Cookie: `currency=EUR; shop_session-id=${session}`,
    });
    expect(mine.status).toBe(200);
    expect(mine.body).toMatchObject({
      destination: { host: `${fe}-myfeature` },
      routeName: `rule-${res.body.id}`,
      rule: { id: res.body.id, value: session },
      kind: 'VirtualService',
    });
    for (const cookie of [
      `shop_session-id=${randomUUID()}`,
      `shop_session-id=${session}x`,
      '',
    ]) {
      const other = await routeTest(fe, { cookie });
      expect(other.body).toMatchObject({
        destination: { host: fe },
        routeName: 'mainline',
      });
    }
  });

  it('routes the chosen userid to adservice-myfeature in the mesh only', async () => {
    const res = await request(backend.server)
      .post(routesOf(ad))
      .set('Authorization', asUser())
      .send({ environment: 'dev', branch: 'myfeature', value: user });
    expect(res.status).toBe(201);
    const vs = await live(ad);
    // No ingress annotation: not bound to the gateway.
    expect(vs.spec.gateways).toBeUndefined();
    expect(vs.spec.hosts).toEqual([ad]);
    expect(vs.spec.http[0].match).toEqual([
      { headers: { userid: { exact: user } } },
    ]);

    const mine = await routeTest(ad, { userid: user });
    expect(mine.body.destination).toEqual({ host: `${ad}-myfeature` });
    const other = await routeTest(ad, { userid: randomUUID() });
    expect(other.body.destination).toEqual({ host: ad });
    // The frontend's session cookie means nothing to the ad service.
    const cookie = await routeTest(ad, {
      cookie: `shop_session-id=${session}`,
    });
    expect(cookie.body.destination).toEqual({ host: ad });
  });

  it('removes an expired rule from the live VirtualService in one run of the routing task', async () => {
    const res = await request(backend.server)
      .post(routesOf(ad))
      .set('Authorization', asUser())
      .send({
        environment: 'dev',
        branch: 'myfeature',
        value: 'expiring-user',
        ttlMinutes: 1,
      });
    expect(res.status).toBe(201);
    expect(
      (await live(ad)).spec.http.map((h: { name: string }) => h.name),
    ).toContain(`rule-${res.body.id}`);
    // A minute is too long to wait: let it have expired a second ago.
    await knex('kd_route_rules')
      .where({ id: res.body.id })
      .update({ expires_at: Date.now() - 1000 });

    await scheduler.run(ROUTING_TASK_ID);

    const names = (await live(ad)).spec.http.map(
      (h: { name: string }) => h.name,
    );
    expect(names).not.toContain(`rule-${res.body.id}`);
    expect(names).toHaveLength(2); // the userid rule of the previous test, and the mainline
    expect(await knex('kd_route_rules').where({ id: res.body.id })).toEqual([]);
    const [latest] = await events(`component:default/${ad}`);
    expect(latest).toMatchObject({
      kind: 'route-changed',
      actor: 'kube-delivery:routing',
      details: { action: 'expired' },
    });
    expect(latest.message).toBe(
      `Rule expired: header userid=expiring-user → ${ad}-myfeature`,
    );
  });

  it('puts back a hand-edited VirtualService and says so in the history', async () => {
    const before = await live(fe);
    // Someone sends everybody to the branch by hand.
    const edit = await harness.cluster.kubectl([
      '-n',
      'dev',
      'patch',
      'virtualservice',
      fe,
      '--type=merge',
      '-p',
      JSON.stringify({
        spec: {
          http: [
            {
              name: 'everyone',
              route: [{ destination: { host: `${fe}-myfeature` } }],
            },
          ],
        },
      }),
    ]);
    expect(edit.code).toBe(0);
    expect((await routeTest(fe, {})).body.destination).toEqual({
      host: `${fe}-myfeature`,
    });

    await scheduler.run(ROUTING_TASK_ID);

    const after = await live(fe);
    expect(after.spec).toEqual(before.spec);
    expect((await routeTest(fe, {})).body.destination).toEqual({ host: fe });
    const [latest] = await events(`component:default/${fe}`);
    expect(latest).toMatchObject({
      kind: 'route-changed',
      actor: 'kube-delivery:routing',
      details: {
        action: 'restored',
        object: `VirtualService/${fe}`,
        editors: ['kubectl-patch'],
      },
    });
    expect(latest.message).toMatch(
      /changed by hand \(kubectl-patch\); kube-delivery put back/,
    );

    // Restored once: the next run finds nothing to put back.
    await scheduler.run(ROUTING_TASK_ID);
    expect((await live(fe)).metadata.resourceVersion).toBe(
      after.metadata.resourceVersion,
    );
    expect((await events(`component:default/${fe}`))[0].id).toBe(latest.id);
  });

  it('recreates a VirtualService deleted by hand while rules exist', async () => {
    const before = await live(fe);
    const deleted = await harness.cluster.kubectl([
      '-n',
      'dev',
      'delete',
      'virtualservice',
      fe,
    ]);
    expect(deleted.code).toBe(0);
    expect(
      (await routeTest(fe, { cookie: `shop_session-id=${session}` })).body,
    ).toMatchObject({
      virtualService: false,
      destination: { host: fe },
    });

    await scheduler.run(ROUTING_TASK_ID);

    expect((await live(fe)).spec).toEqual(before.spec);
    expect(
      (await routeTest(fe, { cookie: `shop_session-id=${session}` })).body
        .destination,
    ).toEqual({
      host: `${fe}-myfeature`,
    });
    const [latest] = await events(`component:default/${fe}`);
    expect(latest).toMatchObject({
      actor: 'kube-delivery:routing',
      details: { action: 'recreated', object: `VirtualService/${fe}` },
    });
  });

  it('removes a branch: rules and route entries first, then its objects, never the mainline', async () => {
    const mainlineBefore = await kubectlJson(harness.cluster, [
      '-n',
      'dev',
      'get',
      'deployment,service,configmap',
      '-l',
      `app.kubernetes.io/name=${ad},kube-delivery.io/track=mainline`,
    ]);
    expect(mainlineBefore.items.length).toBeGreaterThanOrEqual(3);
    const watch = await watchEvents(harness.cluster, [
      {
        path: '/apis/networking.istio.io/v1/namespaces/dev/virtualservices',
        fieldSelector: `metadata.name=${ad}`,
      },
      {
        path: '/api/v1/namespaces/dev/services',
        fieldSelector: `metadata.name=${ad}-myfeature`,
      },
    ]);
    try {
      const res = await request(backend.server)
        .delete(
          `${API}/entities/component/default/${ad}/branches/dev/myfeature`,
        )
        .set('Authorization', asUser());
      expect(res.status).toBe(200);
      expect(res.body.branch).toBe('myfeature');
      expect(res.body.rules.map((r: { value: string }) => r.value)).toEqual([
        user,
      ]);
      expect(res.body.objects).toEqual(
        expect.arrayContaining([
          `Deployment/${ad}-myfeature`,
          `Service/${ad}-myfeature`,
          `ConfigMap/${ad}-config-myfeature`,
        ]),
      );
      // Let the watch streams deliver what happened.
      for (
        let i = 0;
        i < 50 && !watch.events.some(e => e.type === 'DELETED');
        i++
      ) {
        await new Promise(resolve => setTimeout(resolve, 100));
      }
    } finally {
      watch.stop();
    }
    const references = (e: { object: any }) =>
      JSON.stringify(e.object.spec?.http ?? []).includes(`${ad}-myfeature`);
    const serviceGone = watch.events.findIndex(
      e => e.kind === 'Service' && e.type === 'DELETED',
    );
    const unrouted = watch.events.findIndex(
      e =>
        e.kind === 'VirtualService' && e.type === 'MODIFIED' && !references(e),
    );
    expect(serviceGone).toBeGreaterThan(-1);
    expect(unrouted).toBeGreaterThan(-1);
    expect(unrouted).toBeLessThan(serviceGone);
    // No VirtualService after the unrouting references the branch again.
    expect(
      watch.events
        .slice(unrouted)
        .filter(e => e.kind === 'VirtualService' && references(e)),
    ).toEqual([]);

    const left = await kubectlJson(harness.cluster, [
      '-n',
      'dev',
      'get',
      'deployment,service,configmap,pdb,job',
      '-l',
      `app.kubernetes.io/name=${ad}`,
    ]);
    expect(
      left.items.map((o: any) => o.metadata.labels['kube-delivery.io/track']),
    ).not.toContain('myfeature');
    const mainlineAfter = await kubectlJson(harness.cluster, [
      '-n',
      'dev',
      'get',
      'deployment,service,configmap',
      '-l',
      `app.kubernetes.io/name=${ad},kube-delivery.io/track=mainline`,
    ]);
    const versions = (list: any) =>
      list.items
        .map(
          (o: any) =>
            `${o.kind}/${o.metadata.name}@${o.metadata.resourceVersion}`,
        )
        .sort();
    expect(versions(mainlineAfter)).toEqual(versions(mainlineBefore));
    expect((await routeTest(ad, { userid: user })).body.destination).toEqual({
      host: ad,
    });

    const [latest] = await events(`component:default/${ad}`);
    expect(latest).toMatchObject({
      kind: 'route-changed',
      actor: 'user:default/mock',
      details: { action: 'branch-removed', branch: 'myfeature' },
    });
    const again = await request(backend.server)
      .delete(`${API}/entities/component/default/${ad}/branches/dev/myfeature`)
      .set('Authorization', asUser());
    expect(again.status).toBe(404);
  });

  // Last: it stops the harness's runner, so the plugin's runner deploys.
  it('routes a rule made before its branch was deployed as soon as the branch deploy succeeds', async () => {
    await deployVersions(harness, late, ['0.1.3']);
    const rule = await request(backend.server)
      .post(routesOf(lateName))
      .set('Authorization', asUser())
      .send({ environment: 'dev', branch: 'myfeature', value: user });
    expect(rule.status).toBe(201);
    const hosts = async () =>
      (await live(lateName)).spec.http.map(
        (h: { route: any[] }) => h.route[0].destination.host,
      );
    expect(await hosts()).toEqual([lateName]);

    await harness.runner.stop();
    await deployVersions(harness, late, ['0.1.4-myfeature']);
    // No run of the routing task: the plugin's runner reconciled after the deploy.
    expect(await hosts()).toEqual([`${lateName}-myfeature`, lateName]);
    expect(
      (await routeTest(lateName, { userid: user })).body.destination,
    ).toEqual({
      host: `${lateName}-myfeature`,
    });
  });
  it('refuses to remove a branch while a deploy of it is queued or running, and removes it after', async () => {
    const release = (await harness.store.findRelease(
      `component:default/${lateName}`,
      '0.1.4-myfeature',
    ))!;
    const queued = await harness.delivery.deploy({
      entity: late,
      release,
      environment: 'dev',
      kind: 'deploy',
      createdBy: 'user:default/ada',
    });
    const remove = () =>
      request(backend.server)
        .delete(
          `${API}/entities/component/default/${lateName}/branches/dev/myfeature`,
        )
        .set('Authorization', asUser());
    const refused = await remove();
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toBe(
      `Deployment ${queued.id} of branch myfeature to dev is queued or running; remove the branch once it has finished`,
    );
    // Nothing was removed: the rule still routes to the branch.
    expect(
      (await routeTest(lateName, { userid: user })).body.destination,
    ).toEqual({
      host: `${lateName}-myfeature`,
    });

    expect((await harness.settle(queued.id)).status).toBe('succeeded');
    const removed = await remove();
    expect(removed.status).toBe(200);
    expect(removed.body.rules).toHaveLength(1);
  });
});
