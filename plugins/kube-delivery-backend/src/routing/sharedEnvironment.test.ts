import {
  mockCredentials,
  type TestBackend,
} from '@backstage/backend-test-utils';
import type { Entity } from '@backstage/catalog-model';
import { getDevCluster, type DevCluster } from '@internal/devcluster';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import type { Knex } from 'knex';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { startDeliveryBackend } from '../__testUtils__/deliveryBackend';
import { kubectlJson, uniqueName } from '../__testUtils__/deliveryHarness';
import {
  DEV_GATEWAY,
  deployThroughApi,
  gatewayRoute,
  publicFrontend,
  removeRoutedServices,
  routedAdservice,
  withDevGateway,
} from '../__testUtils__/routingScenario';
import { createTestDatabases } from '../__testUtils__/testDatabases';
import { ownerHash } from '../tenancy/ownership';

jest.setTimeout(300_000);

const API = '/api/kube-delivery';
const asUser = () => mockCredentials.user.header();
const refOf = (entity: Entity) =>
  `component:${entity.metadata.namespace}/${entity.metadata.name}`;
const pathOf = (entity: Entity) =>
  `${API}/entities/component/${entity.metadata.namespace}/${entity.metadata.name}`;

/**
 * Tenant isolation of routing in one environment: two public services share
 * the dev gateway, each bound for the hosts it names from its first deploy,
 * without any rule; rules match only on the keys the environment offers; and
 * an entity never changes routing objects or branch objects that are not its
 * own, including those of another entity with the same service name.
 */
describe('two public services sharing the dev gateway on the local control plane', () => {
  const databases = createTestDatabases();
  const shopName = uniqueName('shop');
  const blogName = uniqueName('blog');
  const shopHost = `${shopName}.boutique.example`;
  const blogHost = `${blogName}.boutique.example`;
  const shop = publicFrontend(shopName, [shopHost]);
  const blog = publicFrontend(blogName, [blogHost]);
  // Another team's entity under the same service name.
  const impostor: Entity = {
    ...shop,
    metadata: { ...shop.metadata, namespace: 'other' },
  };
  // Routes by a header the environment does not offer.
  const debugName = uniqueName('debug');
  const debug = routedAdservice(debugName);
  debug.metadata.annotations!['kube-delivery.io/routing'] = 'header:x-debug';
  // A third public service that names the shop's host.
  const copycatName = uniqueName('copycat');
  const copycat = publicFrontend(copycatName, [shopHost]);
  // Never deployed; its VirtualService is written by others.
  const strayName = uniqueName('stray');
  const stray = routedAdservice(strayName);
  const gateway = {
    ...DEV_GATEWAY,
    hosts: ['dev.boutique.example', '*.boutique.example'],
  };

  let knex: Knex;
  let cluster: DevCluster;
  let backend: TestBackend;
  const live = (name: string) =>
    kubectlJson(cluster, ['-n', 'dev', 'get', 'virtualservice', name]);
  const rulesOf = (entity: Entity) =>
    knex('kd_route_rules').where({ entity_ref: refOf(entity) });
  const createRule = (entity: Entity, body: Record<string, unknown> = {}) =>
    request(backend.server)
      .post(`${pathOf(entity)}/routes`)
      .set('Authorization', asUser())
      .send({
        environment: 'dev',
        branch: 'myfeature',
        value: randomUUID(),
        ...body,
      });
  const removeBranch = (entity: Entity) =>
    request(backend.server)
      .delete(`${pathOf(entity)}/branches/dev/myfeature`)
      .set('Authorization', asUser());
  const session = randomUUID();

  beforeAll(async () => {
    knex = await databases.init('SQLITE_3');
    cluster = await getDevCluster();
    backend = await startDeliveryBackend({
      cluster,
      knex,
      entities: [shop, blog, impostor, debug, stray, copycat],
      permission: AuthorizeResult.ALLOW,
      configure: withDevGateway(undefined, gateway),
    });
  });

  afterAll(async () => {
    await backend?.stop();
    if (cluster) {
      await removeRoutedServices(cluster, [shopName, blogName, strayName]);
    }
  });

  it('binds each public service to the gateway for its own host on its first deploy, with no rule', async () => {
    const deployed = await Promise.all([
      deployThroughApi(backend, shop, '0.1.3'),
      deployThroughApi(backend, blog, '0.1.3'),
    ]);
    for (const deployment of deployed) {
      expect(`${deployment.status}: ${deployment.message}`).toMatch(
        /^succeeded: /,
      );
    }
    expect(await rulesOf(shop)).toEqual([]);
    expect(await rulesOf(blog)).toEqual([]);

    for (const [entity, host] of [
      [shop, shopHost],
      [blog, blogHost],
    ] as const) {
      const name = entity.metadata.name;
      const vs = await live(name);
      expect(vs.spec).toEqual({
        hosts: [host, name],
        gateways: ['istio-system/ingressgateway', 'mesh'],
        http: [{ name: 'mainline', route: [{ destination: { host: name } }] }],
      });
      expect(vs.metadata.labels).toMatchObject({
        'app.kubernetes.io/managed-by': 'kube-delivery',
        'kube-delivery.io/owner': ownerHash(refOf(entity)),
      });
      expect(vs.metadata.annotations['kube-delivery.io/entity-ref']).toBe(
        refOf(entity),
      );

      // What the gateway does with a request for the host: the one
      // VirtualService naming it sends it to the service's mainline.
      const routed = await gatewayRoute(cluster, host);
      expect(routed.virtualService).toBe(name);
      expect(routed.evaluation?.destination).toEqual({ host: name });

      const tested = await request(backend.server)
        .post(`${pathOf(entity)}/routes/test`)
        .set('Authorization', asUser())
        .send({ environment: 'dev', headers: { host } });
      expect(tested.status).toBe(200);
      expect(tested.body).toMatchObject({
        destination: { host: name },
        routeName: 'mainline',
        virtualService: true,
        kind: 'VirtualService',
      });
    }
  });

  it('refuses rules on routing keys dev does not offer with a 400, changing neither the VirtualService nor the rules', async () => {
    const before = await live(shopName);
    const rowsBefore = await knex('kd_route_rules').select();
    const offered =
      'it offers header:userid, cookie:shop_session-id, baggage:kd-branch. ' +
      'The platform team configures the routing keys of an environment (kubeDelivery.environments[].routingKeys).';
    for (const [body, message] of [
      [
        { kind: 'header', key: 'user-agent' },
        `Environment dev does not offer the routing key header:user-agent; ${offered}`,
      ],
      [
        { kind: 'cookie', key: 'currency' },
        `Environment dev does not offer the routing key cookie:currency; ${offered}`,
      ],
    ] as const) {
      const res = await createRule(shop, body);
      expect(res.status).toBe(400);
      expect(res.body.error.message).toBe(message);
    }
    // The entity's routing annotation is its default key, held to the same list.
    const byDefault = await createRule(debug);
    expect(byDefault.status).toBe(400);
    expect(byDefault.body.error.message).toBe(
      `The entity's kube-delivery.io/routing annotation names the routing key header:x-debug, which environment dev does not offer; ${offered}`,
    );
    expect((await live(shopName)).metadata.resourceVersion).toBe(
      before.metadata.resourceVersion,
    );
    expect(await knex('kd_route_rules').select()).toEqual(rowsBefore);
  });

  it("routes a session to a branch through the service's own host only", async () => {
    const branch = await deployThroughApi(backend, shop, '0.1.4-myfeature');
    expect(`${branch.status}: ${branch.message}`).toMatch(/^succeeded: /);
    const rule = await createRule(shop, { value: session });
    expect(rule.status).toBe(201);
    expect(rule.body).toMatchObject({ kind: 'cookie', key: 'shop_session-id' });

    const cookie = { cookie: `shop_session-id=${session}` };
    const mine = await gatewayRoute(cluster, shopHost, cookie);
    expect(mine.virtualService).toBe(shopName);
    expect(mine.evaluation?.destination).toEqual({
      host: `${shopName}-myfeature`,
    });
    expect(
      (await gatewayRoute(cluster, shopHost)).evaluation?.destination,
    ).toEqual({ host: shopName });
    // The same session on the other service's host stays there.
    const other = await gatewayRoute(cluster, blogHost, cookie);
    expect(other.virtualService).toBe(blogName);
    expect(other.evaluation?.destination).toEqual({ host: blogName });
    expect((await live(shopName)).spec.hosts).toEqual([shopHost, shopName]);
  });

  it("refuses another entity's rule and branch removal under the same service name with a 409, writing nothing", async () => {
    const before = await live(shopName);
    const branchBefore = await kubectlJson(cluster, [
      '-n',
      'dev',
      'get',
      'deployment,service,configmap',
      '-l',
      `app.kubernetes.io/name=${shopName},kube-delivery.io/track=myfeature`,
    ]);
    expect(branchBefore.items.length).toBeGreaterThanOrEqual(2);

    const rule = await createRule(impostor, { value: randomUUID() });
    expect(rule.status).toBe(409);
    expect(rule.body.error.message).toMatch(
      new RegExp(`belongs to (entity )?component:default/${shopName}`),
    );
    const removal = await removeBranch(impostor);
    expect(removal.status).toBe(409);
    expect(removal.body.error.message).toMatch(
      new RegExp(`belongs to (entity )?component:default/${shopName}`),
    );

    expect((await live(shopName)).metadata.resourceVersion).toBe(
      before.metadata.resourceVersion,
    );
    expect(await rulesOf(impostor)).toEqual([]);
    const branchAfter = await kubectlJson(cluster, [
      '-n',
      'dev',
      'get',
      'deployment,service,configmap',
      '-l',
      `app.kubernetes.io/name=${shopName},kube-delivery.io/track=myfeature`,
    ]);
    const versions = (list: any) =>
      list.items
        .map(
          (o: any) =>
            `${o.kind}/${o.metadata.name}@${o.metadata.resourceVersion}`,
        )
        .sort();
    expect(versions(branchAfter)).toEqual(versions(branchBefore));
    // The session still reaches the branch.
    expect(
      (
        await gatewayRoute(cluster, shopHost, {
          cookie: `shop_session-id=${session}`,
        })
      ).evaluation?.destination,
    ).toEqual({ host: `${shopName}-myfeature` });
  });

  it("removes a branch's objects of its own only: an object of that branch it did not write stays", async () => {
    const strayObject = `${blogName}-notes-myfeature`;
    const created = await cluster.kubectl(['-n', 'dev', 'apply', '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: {
          name: strayObject,
          namespace: 'dev',
          labels: {
            'app.kubernetes.io/name': blogName,
            'kube-delivery.io/track': 'myfeature',
          },
        },
        data: { note: 'not Kube Delivery' },
      }),
    });
    expect(created.code).toBe(0);
    const res = await removeBranch(blog);
    expect(res.status).toBe(404);
    const left = await kubectlJson(cluster, [
      '-n',
      'dev',
      'get',
      'configmap',
      strayObject,
    ]);
    expect(left.data).toEqual({ note: 'not Kube Delivery' });
  });

  it('takes over its VirtualService written before objects had owners, and refuses one written by hand', async () => {
    const write = (metadata: Record<string, unknown>) =>
      cluster.kubectl(['-n', 'dev', 'apply', '-f', '-'], {
        input: JSON.stringify({
          apiVersion: 'networking.istio.io/v1',
          kind: 'VirtualService',
          metadata: { name: strayName, namespace: 'dev', ...metadata },
          spec: {
            hosts: [strayName],
            http: [{ route: [{ destination: { host: strayName } }] }],
          },
        }),
      });
    expect((await write({})).code).toBe(0);
    const byHand = await live(strayName);
    const refused = await createRule(stray, { kind: 'header', key: 'userid' });
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toMatch(
      new RegExp(
        `^VirtualService "${strayName}" in environment "dev" belongs to no Kube Delivery entity \\(written by kubectl`,
      ),
    );
    expect((await live(strayName)).metadata.resourceVersion).toBe(
      byHand.metadata.resourceVersion,
    );
    expect(await rulesOf(stray)).toEqual([]);

    // As an earlier Kube Delivery wrote it: managed, the entity annotated, no owner label.
    expect(
      (
        await write({
          labels: { 'app.kubernetes.io/managed-by': 'kube-delivery' },
          annotations: { 'kube-delivery.io/entity-ref': refOf(stray) },
        })
      ).code,
    ).toBe(0);
    const taken = await createRule(stray, { kind: 'header', key: 'userid' });
    expect(taken.status).toBe(201);
    const vs = await live(strayName);
    expect(vs.metadata.labels['kube-delivery.io/owner']).toBe(
      ownerHash(refOf(stray)),
    );
    expect(vs.spec.http.map((h: { name: string }) => h.name)).toEqual([
      'mainline',
    ]);
  });

  it('refuses a second claim of a host with a 409 naming its owner, writing nothing', async () => {
    const before = await live(shopName);
    const release = await request(backend.server)
      .post(`${pathOf(copycat)}/releases`)
      .set('Authorization', asUser())
      .send({ version: '0.1.3' });
    expect(release.status).toBe(201);
    const res = await request(backend.server)
      .post(`${pathOf(copycat)}/deployments`)
      .set('Authorization', asUser())
      .send({ environment: 'dev', version: '0.1.3' });
    expect(res.status).toBe(409);
    expect(res.body.error.message).toContain(
      `The host name "${shopHost}" in environment "dev" belongs to ${refOf(
        shop,
      )}`,
    );
    const after = await live(shopName);
    expect(after.metadata.resourceVersion).toBe(
      before.metadata.resourceVersion,
    );
    const objects = await kubectlJson(cluster, [
      '-n',
      'dev',
      'get',
      'deployment,service,serviceaccount,virtualservice',
      '-l',
      `app.kubernetes.io/name=${copycatName}`,
    ]);
    expect(objects.items).toEqual([]);
  });
});
