import {
  mockCredentials,
  type TestBackend,
} from '@backstage/backend-test-utils';
import {
  AuthorizeResult,
  isResourcePermission,
  type PolicyDecision,
} from '@backstage/plugin-permission-common';
import type {
  PermissionPolicy,
  PolicyQuery,
  PolicyQueryUser,
} from '@backstage/plugin-permission-node';
import { getDevCluster, type DevCluster } from '@internal/devcluster';
import {
  createKubeDeliveryTargetConditionalDecision,
  kubeDeliveryTargetConditions,
  RESOURCE_TYPE_KUBE_DELIVERY_TARGET,
} from '@internal/plugin-kube-delivery-common';
import request from 'supertest';
import { adserviceManifest } from '../__testUtils__/boutiqueManifests';
import { startDeliveryBackend } from '../__testUtils__/deliveryBackend';
import {
  entityWithManifest,
  uniqueName,
} from '../__testUtils__/deliveryHarness';
import { startFaultProxy, type FaultProxy } from '../__testUtils__/faultProxy';
import { deleteServiceObjects } from '../__testUtils__/faultScenario';
import { printFigures } from '../__testUtils__/figures';
import { listRoutes, type RouteEntry } from '../__testUtils__/routeTable';
import { DEV_GATEWAY, manualScheduler } from '../__testUtils__/routingScenario';
import {
  createSharedDatabase,
  type SharedDatabase,
} from '../__testUtils__/sharedDatabase';
import { clusterSnapshot, databaseSnapshot } from '../__testUtils__/snapshots';

jest.setTimeout(600_000);

const API = '/api/kube-delivery';
const database = process.env.KD_TEST_POSTGRES_URL
  ? 'PostgreSQL'
  : 'SQLite file';

/**
 * Valid bodies of the endpoints that change something, so that only the
 * caller's rights can refuse them. A new endpoint of that kind makes the
 * test fail until it is added here.
 */
const BODIES: Record<string, unknown> = {
  'POST /entities/:kind/:namespace/:name/releases': { version: '0.1.5' },
  'POST /entities/:kind/:namespace/:name/releases/from-feed': { tag: '0.1.5' },
  'POST /entities/:kind/:namespace/:name/deployments': {
    environment: 'dev',
    version: '0.1.3',
  },
  'POST /entities/:kind/:namespace/:name/rollbacks': {
    environment: 'dev',
    version: '0.1.3',
  },
  'POST /entities/:kind/:namespace/:name/promotions': { environment: 'test' },
  'POST /entities/:kind/:namespace/:name/restarts': { environment: 'dev' },
  'POST /entities/:kind/:namespace/:name/routes': {
    environment: 'dev',
    branch: 'myfeature',
    value: 'intruder-1',
  },
  'POST /entities/:kind/:namespace/:name/routes/test': {
    environment: 'dev',
    headers: { userid: 'tester-1' },
  },
  'PATCH /entities/:kind/:namespace/:name/routes/:id': { ttlMinutes: 600 },
  'DELETE /entities/:kind/:namespace/:name/routes/:id': undefined,
  'DELETE /entities/:kind/:namespace/:name/branches/:environment/:branch':
    undefined,
  'POST /environments/:name/certificates': {
    format: 'pem',
    certificateChain:
      '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
    privateKey:
      '-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n',
  },
  'POST /environments/:name/certificates/cert-manager': {},
  'POST /environments/:name/health': undefined,
  'DELETE /environments/:name/claims/:claimKind/:claimName': undefined,
  'POST /entities/:kind/:namespace/:name/deployments/:id/approve': {},
  'POST /entities/:kind/:namespace/:name/deployments/:id/reject': {
    reason: 'not this one',
  },
};

/** The owner of the other entity, as the real permission backend knows them. */
const OTHER_OWNER = 'user:default/other-owner';
const OTHER_TEAM = 'group:default/other-team';

/**
 * A real policy, decided by Backstage's permission backend: reads and
 * releases denied, and every permission on a target (an entity's service in
 * an environment, or an environment) conditional on owning the entity, which
 * the plugin's permission integration evaluates (false for environment-wide
 * targets).
 */
class OwnersOnlyPolicy implements PermissionPolicy {
  async handle(
    query: PolicyQuery,
    user?: PolicyQueryUser,
  ): Promise<PolicyDecision> {
    const { permission } = query;
    if (
      user &&
      isResourcePermission(permission, RESOURCE_TYPE_KUBE_DELIVERY_TARGET)
    ) {
      return createKubeDeliveryTargetConditionalDecision(
        permission,
        kubeDeliveryTargetConditions.isEntityOwner({
          claims: user.info.ownershipEntityRefs,
        }),
      );
    }
    return { result: AuthorizeResult.DENY };
  }
}

/**
 * Endpoints any authenticated caller may use, by design: environment-wide
 * facts that are no entity's. A health check on demand records its
 * observation (the health tables) and asks the cluster SelfSubjectAccessReviews.
 */
const OPEN_TO_AUTHENTICATED: Record<string, { writesTables?: string[] }> = {
  // The API's OpenAPI spec, as @backstage/backend-openapi-utils serves it.
  'GET /openapi.json': {},
  'GET /environments': {},
  // Lists only the services the caller may read (deliveries/deliveries.test.ts).
  'GET /deliveries': {},
  'GET /environments/:name/certificates': {},
  // The first read of an environment's health checks it (nothing stored yet).
  'GET /environments/:name/health': {
    writesTables: ['kd_environment_health', 'kd_environment_events'],
  },
  'GET /environments/:name/events': {},
  'GET /environments/:name/claims': {},
  'POST /environments/:name/health': {
    writesTables: ['kd_environment_health', 'kd_environment_events'],
  },
};

/** Cluster requests that change nothing: reads, and identity and access reviews (questions, not writes). */
const isClusterWrite = (r: { method: string; url: string }) =>
  r.method !== 'GET' &&
  !/^\/apis\/(authorization|authentication)\.k8s\.io\/v1\/(namespaces\/[^/]+\/)?\w*reviews(\?|$)/.test(
    r.url,
  );

/**
 * Every endpoint of the plugin (read from the running router, so new ones
 * are covered) called by five callers who may not act on the entity: no
 * credentials, a user the policy denies, a user and a service token the
 * policy allows on a different entity only (its targets
 * `<environment>:<entity ref>` too), and the owner of a different entity
 * whom Backstage's permission backend allows every permission on a
 * `kube-delivery-target` only where the plugin's permission integration
 * finds them the entity's owner (conditional decisions). Each call must be refused (or,
 * for the environment-wide reads, answered) without a single change: every
 * row of every plugin table compared before and after each call, no write
 * request reaching the cluster (the backends talk to it through a counting
 * proxy), and the entity's objects in the cluster unchanged at the end.
 */
describe(`every endpoint against callers without rights (${database})`, () => {
  let cluster: DevCluster;
  let db: SharedDatabase;
  let proxy: FaultProxy;
  let admin: TestBackend;
  let denied: TestBackend;
  let otherOnly: TestBackend;
  let ownersOnly: TestBackend;
  const target = uniqueName('authz');
  const other = uniqueName('authz-other');
  const ref = (name: string) => `component:default/${name}`;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    cluster = await getDevCluster();
    db = await createSharedDatabase();
    proxy = await startFaultProxy(cluster);
    const entities = [target, other].map(name => {
      const { entity } = entityWithManifest({
        name,
        manifest: adserviceManifest(name),
        annotations: { 'kube-delivery.io/routing': 'header:userid' },
      });
      return name === other
        ? { ...entity, spec: { ...entity.spec, owner: OTHER_TEAM } }
        : entity;
    });
    const start = (
      permission: Parameters<typeof startDeliveryBackend>[0]['permission'],
    ) =>
      startDeliveryBackend({
        cluster: proxy.cluster,
        knex: db.knex,
        entities,
        permission,
        features: [manualScheduler().factory],
        // dev has a gateway, so the certificate endpoints have something to change.
        configure: config => {
          config.kubeDelivery.environments[0].gateway = {
            ...DEV_GATEWAY,
            cluster: {
              url: proxy.cluster.server,
              caData: proxy.cluster.caData,
              serviceAccountToken: cluster.tokens['istio-system'],
            },
          };
        },
      });
    // One after the other: each runs the migrations on the shared database.
    admin = await start(AuthorizeResult.ALLOW);
    denied = await start(AuthorizeResult.DENY);
    otherOnly = await start({ onlyEntityRef: ref(other) });
    ownersOnly = await start({
      policy: new OwnersOnlyPolicy(),
      ownership: { [OTHER_OWNER]: [OTHER_TEAM] },
    });

    // What the refused calls could change: a release deployed to dev, a route rule.
    const as = async (
      method: 'get' | 'post',
      path: string,
      body: object | undefined,
      status: number,
    ) => {
      const req = request(admin.server)
        [method](`${API}${path}`)
        .set('Authorization', mockCredentials.user.header());
      const res = await (body ? req.send(body) : req);
      if (res.status !== status) {
        throw new Error(
          `${method} ${path} answered ${res.status}: ${res.text}`,
        );
      }
      return res.body;
    };
    const entityPath = `/entities/component/default/${target}`;
    ids.release = (
      await as('post', `${entityPath}/releases`, { version: '0.1.3' }, 201)
    ).id;
    ids.deployment = (
      await as(
        'post',
        `${entityPath}/deployments`,
        { environment: 'dev', version: '0.1.3' },
        202,
      )
    ).id;
    let deployment = { status: 'queued' };
    while (['queued', 'running'].includes(deployment.status)) {
      await new Promise(resolve => setTimeout(resolve, 200));
      deployment = await as(
        'get',
        `${entityPath}/deployments/${ids.deployment}`,
        undefined,
        200,
      );
    }
    if (deployment.status !== 'succeeded') {
      throw new Error(`The arranged deployment ${JSON.stringify(deployment)}`);
    }
    ids.rule = (
      await as(
        'post',
        `${entityPath}/routes`,
        { environment: 'dev', branch: 'myfeature', value: 'tester-1' },
        201,
      )
    ).id;
  });

  afterAll(async () => {
    // The proxy first: it cuts the status caches' watches, which the
    // backends would otherwise wait for. The backends before the database:
    // their runners poll it until they stop.
    await proxy?.close();
    await Promise.all(
      [admin, denied, otherOnly, ownersOnly].map(b => b?.stop()),
    );
    await deleteServiceObjects(cluster, [target]);
    await cluster?.kubectl([
      'delete',
      'virtualservices.networking.istio.io',
      '-n',
      'dev',
      '--ignore-not-found',
      '--wait=false',
      target,
    ]);
    await db?.destroy();
  });

  /** The concrete URL of a route for the target entity. */
  function urlOf(route: RouteEntry): string {
    const entityScoped = route.path.startsWith('/entities/');
    const values: Record<string, string> = {
      kind: 'component',
      namespace: 'default',
      name: entityScoped ? target : 'dev',
      environment: 'dev',
      branch: 'myfeature',
      claimKind: 'service',
      claimName: target,
    };
    return `${API}${route.path.replace(/:(\w+)/g, (_, param: string) => {
      if (param === 'id') {
        if (route.path.includes('/deployments/')) return ids.deployment;
        if (route.path.includes('/releases/')) return ids.release;
        if (route.path.includes('/routes/')) return ids.rule;
      }
      const value = values[param];
      if (!value)
        throw new Error(
          `No value for :${param} of ${route.path}: add one to urlOf`,
        );
      return value;
    })}`;
  }

  const callers = () => [
    { caller: 'no credentials', backend: denied, authorization: undefined },
    {
      caller: 'a user the policy denies',
      backend: denied,
      authorization: mockCredentials.user.header(),
    },
    {
      caller: 'a user allowed on another entity',
      backend: otherOnly,
      authorization: mockCredentials.user.header(),
    },
    {
      caller: 'a service token allowed on another entity',
      backend: otherOnly,
      authorization: mockCredentials.service.header(),
    },
    {
      caller: "another entity's owner (real permission backend, conditions)",
      backend: ownersOnly,
      authorization: mockCredentials.user.header(OTHER_OWNER),
    },
  ];

  it('refuses every call that could change something, and nothing changes', async () => {
    const routes = listRoutes(admin.server, API).filter(
      // The framework's own endpoints (auth cookie, JWKS, permission metadata).
      r => !r.path.startsWith('/.'),
    );
    const missing = routes
      .map(r => `${r.method} ${r.path}`)
      .filter(key => !key.startsWith('GET ') && !(key in BODIES));
    expect({ endpointsWithoutBody: missing }).toEqual({
      endpointsWithoutBody: [],
    });

    const clusterBefore = await clusterSnapshot(
      cluster,
      ['dev', 'test', 'production'],
      `app.kubernetes.io/name=${target}`,
    );
    /** One line per call that broke a rule; the matrix passes when there is none. */
    const violations: string[] = [];
    const statuses = new Map<number, number>();
    let cells = 0;
    for (const route of routes) {
      const key = `${route.method} ${route.path}`;
      const open = OPEN_TO_AUTHENTICATED[key];
      for (const { caller, backend, authorization } of callers()) {
        const before = await databaseSnapshot(db.knex);
        const sentAt = proxy.requests.length;
        let req = request(backend.server)[route.method.toLowerCase() as 'get'](
          urlOf(route),
        );
        if (authorization) req = req.set('Authorization', authorization);
        const body = BODIES[key];
        const res = await (body === undefined ? req : req.send(body as object));
        const writes = proxy.requests.slice(sentAt).filter(isClusterWrite);
        const after = await databaseSnapshot(db.knex);
        const changedTables = Object.keys(after).filter(
          table =>
            JSON.stringify(after[table]) !== JSON.stringify(before[table]) &&
            !(authorization && open?.writesTables?.includes(table)),
        );
        cells++;
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        let expected = 403;
        if (!authorization) expected = 401;
        else if (open) expected = 200;
        const call = `${key} by ${caller}`;
        if (res.status !== expected) {
          violations.push(
            `${call}: ${res.status}, not ${expected}: ${res.text.slice(
              0,
              200,
            )}`,
          );
        }
        if (res.status >= 400 && typeof res.body?.error?.message !== 'string') {
          violations.push(`${call}: refused without a reason`);
        }
        // What is done in an environment is refused on its target,
        // <environment>:<entity ref> (the route tester only reads).
        const environment = key.endsWith('/routes/test')
          ? undefined
          : (body as { environment?: string } | undefined)?.environment ??
            (route.path.includes(':environment') ? 'dev' : undefined);
        if (
          res.status === 403 &&
          environment &&
          !caller.includes('service') &&
          !String(res.body?.error?.message).includes(
            ` on ${environment}:${ref(target)};`,
          )
        ) {
          violations.push(
            `${call}: the reason does not name the target: ${res.body?.error?.message}`,
          );
        }
        if (changedTables.length > 0) {
          violations.push(`${call}: changed ${changedTables.join(', ')}`);
        }
        if (writes.length > 0) {
          violations.push(
            `${call}: wrote to the cluster: ${writes
              .map(w => `${w.method} ${w.url}`)
              .join(', ')}`,
          );
        }
      }
    }
    const clusterAfter = await clusterSnapshot(
      cluster,
      ['dev', 'test', 'production'],
      `app.kubernetes.io/name=${target}`,
    );
    printFigures('authorization matrix', {
      endpoints: routes.length,
      callers: callers().length,
      cells,
      statuses: [...statuses.entries()]
        .map(([status, n]) => `${status}:${n}`)
        .join(' '),
      violations: violations.length,
      objectsCompared: clusterAfter.length,
    });
    expect(violations).toEqual([]);
    expect(clusterAfter).toEqual(clusterBefore);
    expect(clusterBefore.length).toBeGreaterThan(0);
  });
});
