import {
  mockCredentials,
  type TestBackend,
} from '@backstage/backend-test-utils';
import type { Entity } from '@backstage/catalog-model';
import {
  AuthorizeResult,
  isPermission,
  type PolicyDecision,
} from '@backstage/plugin-permission-common';
import type {
  PermissionPolicy,
  PolicyQuery,
  PolicyQueryUser,
} from '@backstage/plugin-permission-node';
import { kubeDeliveryReadPermission } from '@internal/plugin-kube-delivery-common';
import { getDevCluster, type DevCluster } from '@internal/devcluster';
import request from 'supertest';
import { startDeliveryBackend } from '../__testUtils__/deliveryBackend';
import {
  entityWithManifest,
  uniqueName,
} from '../__testUtils__/deliveryHarness';
import { startFaultProxy, type FaultProxy } from '../__testUtils__/faultProxy';
import { waitUntil } from '../__testUtils__/releaseObjects';
import {
  deployThroughApi,
  settleThroughApi,
} from '../__testUtils__/routingScenario';
import {
  createSharedDatabase,
  type SharedDatabase,
} from '../__testUtils__/sharedDatabase';
import { checkoutserviceManifest } from '../__testUtils__/smokeTestManifests';

jest.setTimeout(300_000);

const DEPLOYER = 'user:default/mock';
const OUTSIDER = 'user:default/bob-outsider';

/** Everyone may do everything, except the outsider, who may not read Kube Delivery's data. */
class OutsiderPolicy implements PermissionPolicy {
  async handle(
    query: PolicyQuery,
    user?: PolicyQueryUser,
  ): Promise<PolicyDecision> {
    const outsider = user?.info.userEntityRef === OUTSIDER;
    return {
      result:
        outsider && isPermission(query.permission, kubeDeliveryReadPermission)
          ? AuthorizeResult.DENY
          : AuthorizeResult.ALLOW,
    };
  }
}

/** A service of a team and a system, with the relations the catalog derives from spec.owner and spec.system. */
function service(
  prefix: string,
  owner: string,
  system: string,
  options: { smokeTestExitCode?: number; lifecycle?: string } = {},
): Entity {
  const name = uniqueName(prefix);
  const { entity } = entityWithManifest({
    name,
    manifest: checkoutserviceManifest(name, {
      smokeTestExitCode: options.smokeTestExitCode,
    }),
  });
  return {
    ...entity,
    spec: {
      ...entity.spec,
      owner,
      system,
      lifecycle: options.lifecycle ?? 'production',
    },
    relations: [
      { type: 'ownedBy', targetRef: owner },
      { type: 'partOf', targetRef: system },
    ],
  };
}

/**
 * The Deliveries matrix through the HTTP API, on the local cluster, with
 * Backstage's permission backend and a real policy. The backend reaches the
 * cluster through a counting proxy: the matrix must not cause a request.
 */
describe('GET /deliveries: every service × environment', () => {
  let cluster: DevCluster;
  let proxy: FaultProxy;
  let db: SharedDatabase;
  let backend: TestBackend;
  const shopA = service(
    'shop-a',
    'group:default/team-a',
    'system:default/shop',
  );
  const shopB = service(
    'shop-b',
    'group:default/team-a',
    'system:default/shop',
    {
      smokeTestExitCode: 1,
    },
  );
  const other = service(
    'other',
    'group:default/team-b',
    'system:default/other',
    {
      lifecycle: 'experimental',
    },
  );
  const refOf = (e: Entity) => `component:default/${e.metadata.name}`;

  const matrix = async (query = '', user = DEPLOYER) => {
    const res = await request(backend.server)
      .get(`/api/kube-delivery/deliveries${query}`)
      .set('Authorization', mockCredentials.user.header(user));
    expect(res.status).toBe(200);
    return res.body;
  };
  const row = (body: any, entity: Entity) =>
    body.items.find((item: any) => item.entityRef === refOf(entity));
  const cells = (body: any, entity: Entity) =>
    Object.fromEntries(
      row(body, entity).cells.map((c: any) => [c.environment, c]),
    );

  beforeAll(async () => {
    cluster = await getDevCluster();
    proxy = await startFaultProxy(cluster);
    db = await createSharedDatabase();
    backend = await startDeliveryBackend({
      cluster: proxy.cluster,
      knex: db.knex,
      entities: [shopA, shopB, other],
      permission: { policy: new OutsiderPolicy() },
    });

    // shop-a: 0.1.3 in dev and test, then 0.1.4 in dev.
    await deployed(shopA, '0.1.3', 'succeeded');
    await promoted(shopA, 'test', 'succeeded');
    await deployed(shopA, '0.1.4', 'succeeded');
    // shop-b: its first deploy fails its smoke test.
    await deployed(shopB, '0.1.3', 'failed');
    // other: through to production, which is protected: it waits for approval.
    await deployed(other, '0.1.3', 'succeeded');
    await promoted(other, 'test', 'succeeded');
    await promoted(other, 'production', 'waiting-approval');
  });

  /** The scene is set through the API; a step that ends otherwise stops the suite. */
  async function deployed(entity: Entity, version: string, outcome: string) {
    const deployment = await deployThroughApi(backend, entity, version);
    if (deployment.status !== outcome) {
      throw new Error(
        `${entity.metadata.name} ${version}: ${JSON.stringify(deployment)}`,
      );
    }
  }

  async function promoted(
    entity: Entity,
    environment: string,
    outcome: string,
  ) {
    const res = await request(backend.server)
      .post(
        `/api/kube-delivery/entities/component/default/${entity.metadata.name}/promotions`,
      )
      .set('Authorization', mockCredentials.user.header())
      .send({ environment });
    if (res.status !== 202) throw new Error(`${res.status} ${res.text}`);
    const status =
      res.body.status === 'waiting-approval'
        ? res.body.status
        : (await settleThroughApi(backend, entity, res.body.id, 150_000))
            .status;
    if (status !== outcome) {
      throw new Error(`${entity.metadata.name} to ${environment}: ${status}`);
    }
  }

  afterAll(async () => {
    await backend?.stop();
    await proxy?.close();
    await db?.destroy();
    for (const namespace of ['dev', 'test']) {
      await cluster?.kubectl([
        '-n',
        namespace,
        'delete',
        'deployment,service,configmap,serviceaccount,job',
        '-l',
        `app.kubernetes.io/name in (${[shopA, shopB, other]
          .map(e => e.metadata.name)
          .join(',')})`,
        '--wait=false',
      ]);
    }
  });

  it('shows version, state, who and when per environment, and what the next promotion changes', async () => {
    // The status cache catches up with the deploys within moments.
    await waitUntil(
      async () => {
        const body = await matrix();
        return ['dev', 'test'].every(
          e => cells(body, shopA)[e].state === 'healthy',
        );
      },
      {
        timeoutMs: 30_000,
        describe: async () => JSON.stringify(await matrix()),
      },
    );
    const body = await matrix();
    expect(body.environments).toEqual(['dev', 'test', 'production']);
    expect(row(body, shopA)).toMatchObject({
      owner: 'group:default/team-a',
      system: 'system:default/shop',
      lifecycle: 'production',
    });
    const a = cells(body, shopA);
    expect(a.dev).toMatchObject({
      version: '0.1.4',
      state: 'healthy',
      deployedBy: DEPLOYER,
      differsFromPrevious: false,
    });
    expect(Date.parse(a.dev.deployedAt)).toBeGreaterThan(Date.now() - 300_000);
    // test runs 0.1.3: promoting dev's 0.1.4 would change it.
    expect(a.test).toMatchObject({
      version: '0.1.3',
      state: 'healthy',
      differsFromPrevious: true,
    });
    // Not deployed where test has a version: a promotion would change it too.
    expect(a.production).toMatchObject({
      state: 'not-deployed',
      differsFromPrevious: true,
    });
    expect(a.production.version).toBeUndefined();

    const b = cells(body, shopB);
    expect(b.dev.state).toBe('failed');
    expect(b.dev.version).toBeUndefined();
    expect(b.dev.message).toMatch(/^0\.1\.3: Smoke test \S+ failed/);

    const o = cells(body, other);
    expect(o.production).toMatchObject({
      state: 'waiting-approval',
      pendingVersion: '0.1.3',
    });
  });

  it('filters by system, owner and lifecycle, as the catalog relations say', async () => {
    const names = (body: any) =>
      body.items
        .map((i: any) => i.entityRef)
        .filter((r: string) => [shopA, shopB, other].map(refOf).includes(r))
        .sort();
    expect(names(await matrix('?system=system:default/shop'))).toEqual(
      [refOf(shopA), refOf(shopB)].sort(),
    );
    expect(names(await matrix('?owner=group:default/team-b'))).toEqual([
      refOf(other),
    ]);
    expect(names(await matrix('?lifecycle=experimental'))).toEqual([
      refOf(other),
    ]);
    // Short references take the filter's kind, as in the catalog.
    expect(names(await matrix('?owner=team-a'))).toEqual(
      [refOf(shopA), refOf(shopB)].sort(),
    );
  });

  it('refuses a malformed filter with a 400 that says what a reference looks like', async () => {
    const res = await request(backend.server)
      .get('/api/kube-delivery/deliveries?owner=group:')
      .set('Authorization', mockCredentials.user.header());
    expect(res.status).toBe(400);
    expect(res.body.error.message).toContain(
      'is not an entity reference such as group:default/boutique',
    );
  });

  it('lists nothing a caller may not read (the real permission backend decides)', async () => {
    const body = await matrix('', OUTSIDER);
    expect(body.environments).toEqual(['dev', 'test', 'production']);
    expect(body.items).toEqual([]);
    const unauthenticated = await request(backend.server).get(
      '/api/kube-delivery/deliveries',
    );
    expect(unauthenticated.status).toBe(401);
  });

  it('asks no API server: the matrix comes from the database and the status cache', async () => {
    const before = proxy.requests.length;
    for (let i = 0; i < 5; i++) await matrix();
    // A read of a service's live state names its Deployment or its pods'
    // labels; the status cache's own lists and watches (and scheduled health
    // checks) name neither.
    const names = [shopA, shopB, other].map(e => e.metadata.name);
    const reads = proxy.requests
      .slice(before)
      .filter(r => names.some(name => r.url.includes(name)));
    expect(reads).toEqual([]);
  });
});
