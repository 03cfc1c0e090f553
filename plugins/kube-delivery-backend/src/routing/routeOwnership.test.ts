import { mockServices } from '@backstage/backend-test-utils';
import type { Entity } from '@backstage/catalog-model';
import { ConflictError, InputError, NotAllowedError } from '@backstage/errors';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Knex } from 'knex';
import { createTestDatabases } from '../__testUtils__/testDatabases';
import type { EnvironmentCluster } from '../cluster';
import type { EnvironmentConfig } from '../config/environments';
import { DatabaseClaimStore } from '../tenancy/ClaimStore';
import { ownerHash } from '../tenancy/ownership';
import { deleteBranchObjects } from './branches';
import {
  RouteReconciler,
  assertRouteWritable,
  gatewayBinding,
  type RouteTarget,
} from './RouteReconciler';
import { DatabaseRouteStore } from './RouteStore';
import { RoutingService, type RouteAdminCheck } from './RoutingService';
import { routeApi } from './routeApis';

jest.setTimeout(60_000);

const REF = 'component:default/frontend';
const OTHER = 'component:other/frontend';
const VS = routeApi('istio');
const GATEWAY = {
  namespace: 'istio-system',
  name: 'ingressgateway',
  hosts: ['dev.boutique.example', '*.boutique.example'],
};

function environment(
  overrides: Partial<EnvironmentConfig> = {},
): EnvironmentConfig {
  return {
    name: 'dev',
    namespace: 'dev',
    cluster: { name: 'dev', namespace: 'dev' },
    protected: false,
    featureBranches: true,
    routingKeys: ['header:UserId', 'cookie:shop_session-id'],
    adoptUnmanaged: false,
    allowNamespaceWithoutPodSecurity: false,
    shared: { configMaps: [], secrets: [] },
    variables: {},
    gateway: GATEWAY,
    ...overrides,
  } as EnvironmentConfig;
}

const target: RouteTarget = {
  entityRef: REF,
  service: 'frontend',
  ingress: true,
};

function liveObject(
  labels: Record<string, string> = {},
  annotations: Record<string, string> = {},
  manager = 'kubectl-client-side-apply',
): KubernetesObject {
  return {
    apiVersion: VS.apiVersion,
    kind: VS.kind,
    metadata: {
      name: 'frontend',
      namespace: 'dev',
      labels,
      annotations,
      managedFields: [{ manager, operation: 'Apply' }],
    },
  };
}

describe('assertRouteWritable', () => {
  const check =
    (live: KubernetesObject | undefined, env = environment()) =>
    () =>
      assertRouteWritable(live, target, VS, env);

  it("writes where there is no object, or the entity's own (refs compare case-insensitively)", () => {
    expect(check(undefined)).not.toThrow();
    expect(
      check(
        liveObject({
          'app.kubernetes.io/managed-by': 'kube-delivery',
          'kube-delivery.io/owner': ownerHash('Component:default/Frontend'),
        }),
      ),
    ).not.toThrow();
  });

  it("refuses another entity's object, naming it", () => {
    expect(
      check(
        liveObject(
          {
            'app.kubernetes.io/managed-by': 'kube-delivery',
            'kube-delivery.io/owner': ownerHash(OTHER),
          },
          { 'kube-delivery.io/entity-ref': OTHER },
        ),
      ),
    ).toThrow(
      new ConflictError(
        `VirtualService "frontend" in environment "dev" belongs to entity ${OTHER}, not to ${REF}; ` +
          "Kube Delivery never writes over another entity's object. Rename this service, or ask the owning team.",
      ),
    );
  });

  it('refuses an object Kube Delivery did not write, unless the environment adopts such objects', () => {
    const foreign = liveObject();
    expect(check(foreign)).toThrow(
      /belongs to no Kube Delivery entity \(written by kubectl-client-side-apply\)/,
    );
    expect(check(foreign, environment({ adoptUnmanaged: true }))).not.toThrow();
  });

  it("takes over an object an earlier version wrote, without owner label, unless it was another entity's", () => {
    const legacy = (annotations: Record<string, string>) =>
      liveObject(
        { 'app.kubernetes.io/managed-by': 'kube-delivery' },
        annotations,
        'kube-delivery',
      );
    expect(check(legacy({}))).not.toThrow();
    expect(
      check(
        legacy({ 'kube-delivery.io/entity-ref': 'Component:default/frontend' }),
      ),
    ).not.toThrow();
    expect(check(legacy({ 'kube-delivery.io/entity-ref': OTHER }))).toThrow(
      new RegExp(`belongs to entity ${OTHER}, not to ${REF}`),
    );
  });
});

describe('gatewayBinding', () => {
  it('binds a service with ingress to the hosts it names that the gateway offers', () => {
    expect(
      gatewayBinding(
        {
          ingress: true,
          hosts: ['shop.boutique.example', 'shop.elsewhere.example'],
        },
        environment(),
      ),
    ).toEqual({
      name: 'istio-system/ingressgateway',
      hosts: ['shop.boutique.example'],
    });
  });

  it("binds a service naming no hosts to all the gateway's", () => {
    expect(gatewayBinding({ ingress: true }, environment())?.hosts).toEqual(
      GATEWAY.hosts,
    );
  });

  it('binds nothing without ingress or without a gateway', () => {
    expect(gatewayBinding({ ingress: false }, environment())).toBeUndefined();
    expect(
      gatewayBinding({ ingress: true }, environment({ gateway: undefined })),
    ).toBeUndefined();
  });

  it('refuses hosts the gateway does not offer', () => {
    expect(() =>
      gatewayBinding(
        { ingress: true, hosts: ['shop.elsewhere.example'] },
        environment(),
      ),
    ).toThrow(InputError);
  });
});

/** An in-memory namespace: objects by kind/name, resourceVersion preconditions, label selectors of `k=v` and `k`. */
function fakeCluster(objects: KubernetesObject[] = []) {
  const live = new Map<string, KubernetesObject>();
  let version = 0;
  const key = (kind: string, name: string) => `${kind}/${name}`;
  const put = (object: KubernetesObject) => {
    const stored = structuredClone(object);
    stored.metadata!.resourceVersion = String(++version);
    live.set(key(object.kind!, object.metadata!.name!), stored);
    return structuredClone(stored);
  };
  objects.forEach(put);
  const writes: string[] = [];
  const matches = (object: KubernetesObject, selector?: string) =>
    (selector ?? '')
      .split(',')
      .filter(Boolean)
      .every(term => {
        const labels = object.metadata?.labels ?? {};
        const [k, v] = term.split('=');
        if (k.endsWith('!')) return labels[k.slice(0, -1)] !== v;
        return v === undefined ? k in labels : labels[k] === v;
      });
  const cluster = {
    name: 'dev',
    namespace: 'dev',
    read: async (_apiVersion: string, kind: string, name: string) => {
      const object = live.get(key(kind, name));
      return object && structuredClone(object);
    },
    list: async (_apiVersion: string, kind: string, selector?: string) =>
      [...live.values()].filter(o => o.kind === kind && matches(o, selector)),
    apply: async (items: KubernetesObject[]) => ({
      changes: [],
      objects: items.map(object => {
        const existing = live.get(key(object.kind!, object.metadata!.name!));
        const wanted = object.metadata?.resourceVersion;
        if (wanted && existing?.metadata?.resourceVersion !== wanted) {
          throw new ConflictError('stale resourceVersion');
        }
        writes.push(`apply ${object.kind}/${object.metadata!.name}`);
        return put(object);
      }),
    }),
    delete: async (
      _apiVersion: string,
      kind: string,
      name: string,
      options: { owner?: string } = {},
    ) => {
      const existing = live.get(key(kind, name));
      if (!existing) return false;
      if (
        options.owner !== undefined &&
        existing.metadata?.labels?.['kube-delivery.io/owner'] !== options.owner
      ) {
        throw new ConflictError(`${kind} "${name}" belongs to another owner`);
      }
      writes.push(`delete ${kind}/${name}`);
      live.delete(key(kind, name));
      return true;
    },
  };
  return {
    cluster: cluster as unknown as EnvironmentCluster,
    live,
    writes,
  };
}

function service(
  name: string,
  labels: Record<string, string>,
  kind = 'Service',
): KubernetesObject {
  return {
    apiVersion: 'v1',
    kind,
    metadata: { name, namespace: 'dev', labels },
    ...(kind === 'Service' && { spec: { ports: [{ port: 80 }] } }),
  } as KubernetesObject;
}

const branchLabels = (owner: string) => ({
  'app.kubernetes.io/name': 'frontend',
  'kube-delivery.io/track': 'myfeature',
  'kube-delivery.io/owner': ownerHash(owner),
});

describe('deleteBranchObjects', () => {
  it("deletes only the branch's objects of the entity, each of that owner", async () => {
    const { cluster, live, writes } = fakeCluster([
      service('frontend-myfeature', branchLabels(REF)),
      service('frontend-config-myfeature', branchLabels(OTHER), 'ConfigMap'),
      service(
        'frontend-secret-myfeature',
        {
          'app.kubernetes.io/name': 'frontend',
          'kube-delivery.io/track': 'myfeature',
        },
        'Secret',
      ),
      service('frontend', {
        ...branchLabels(REF),
        'kube-delivery.io/track': 'mainline',
      }),
    ]);
    expect(
      await deleteBranchObjects(cluster, 'frontend', 'myfeature', REF),
    ).toEqual(['Service/frontend-myfeature']);
    expect(writes).toEqual(['delete Service/frontend-myfeature']);
    expect([...live.keys()].sort()).toEqual([
      'ConfigMap/frontend-config-myfeature',
      'Secret/frontend-secret-myfeature',
      'Service/frontend',
    ]);
  });
});

function frontendEntity(
  namespace = 'default',
  annotations: Record<string, string> = {},
): Entity {
  return {
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'Component',
    metadata: {
      name: 'frontend',
      namespace,
      annotations: {
        'kube-delivery.io/image': 'example.test/boutique/frontend',
        'kube-delivery.io/routing': 'cookie:shop_session-id',
        'kube-delivery.io/ingress': 'istio-system/ingressgateway',
        'kube-delivery.io/hosts': 'shop.boutique.example',
        ...annotations,
      },
    },
    spec: {
      type: 'service',
      lifecycle: 'production',
      owner: 'group:default/boutique',
    },
  };
}

describe('RoutingService in a shared environment', () => {
  const databases = createTestDatabases();
  let knex: Knex;

  beforeAll(async () => {
    knex = await databases.init('SQLITE_3');
  });

  async function setUp(
    options: {
      objects?: KubernetesObject[];
      env?: Partial<EnvironmentConfig>;
      specOf?: (ref: string) => Promise<any>;
    } = {},
  ) {
    await knex('kd_route_rules')
      .delete()
      .catch(() => undefined);
    await knex('kd_name_claims')
      .delete()
      .catch(() => undefined);
    const store = await DatabaseRouteStore.create({
      database: { getClient: async () => knex } as any,
    });
    const claims = await DatabaseClaimStore.create({
      database: { getClient: async () => knex } as any,
    });
    const fake = fakeCluster(
      options.objects ?? [
        service('frontend', { 'app.kubernetes.io/name': 'frontend' }),
        service('frontend-myfeature', branchLabels(REF)),
      ],
    );
    const env = environment(options.env);
    const logger = mockServices.logger.mock();
    const routing = new RoutingService({
      store,
      reconciler: new RouteReconciler({
        store,
        environment: () => env,
        cluster: () => fake.cluster,
        logger,
      }),
      environment: () => env,
      cluster: () => fake.cluster,
      logger,
      claims,
      specOf: options.specOf,
    });
    const rows = () => knex('kd_route_rules').select();
    return { routing, claims, store, rows, ...fake };
  }

  const newRule = (
    entity: Entity,
    overrides: Record<string, unknown> = {},
  ) => ({
    entity,
    environment: 'dev',
    branch: 'myfeature',
    value: 'session-1',
    owner: 'user:default/ada',
    ...overrides,
  });

  it('lets only the owner or a route admin extend or delete a rule, naming the owner', async () => {
    const { routing, rows, writes } = await setUp();
    const rule = await routing.createRule(newRule(frontendEntity()));
    const before = { rows: await rows(), writes: [...writes] };
    const refused = (verb: string) =>
      new NotAllowedError(
        `Routing rule ${rule.id} is user:default/ada's: only its owner or a route admin of ${REF} in dev (kube-delivery.route.admin) may ${verb} it`,
      );
    const extend = (actor: string, isRouteAdmin?: RouteAdminCheck) =>
      routing.extendRule({
        entity: frontendEntity(),
        id: rule.id,
        ttlMinutes: 60,
        actor,
        isRouteAdmin,
      });
    await expect(extend('user:default/bob')).rejects.toThrow(refused('extend'));
    await expect(extend('service:ci', false)).rejects.toThrow(
      /is user:default\/ada's/,
    );
    // Admin elsewhere is not admin here.
    await expect(
      extend('user:default/bob', env => env === 'test'),
    ).rejects.toThrow(refused('extend'));
    await expect(
      routing.deleteRule(frontendEntity(), rule.id, 'user:default/bob'),
    ).rejects.toThrow(refused('delete'));
    expect(await rows()).toEqual(before.rows);
    expect(writes).toEqual(before.writes);

    // A route admin of the entity there may; so may the owner.
    const adminAsked: string[] = [];
    const extended = await extend('user:default/bob', async env => {
      adminAsked.push(env);
      return true;
    });
    expect(adminAsked).toEqual(['dev']);
    expect(extended.owner).toBe('user:default/ada');
    await expect(
      routing.deleteRule(frontendEntity(), rule.id, 'user:default/ada'),
    ).resolves.toMatchObject({ id: rule.id });
    expect(await rows()).toEqual([]);

    // Someone else's rule, deleted by a route admin (a boolean from the router).
    const other = await routing.createRule(
      newRule(frontendEntity(), { value: 'session-2' }),
    );
    await expect(
      routing.deleteRule(frontendEntity(), other.id, 'user:default/bob', true),
    ).resolves.toMatchObject({ id: other.id });
  });

  it('accepts a rule for a branch not deployed there, with a warning, and none once it is', async () => {
    const { routing, rows, live } = await setUp({
      objects: [service('frontend', { 'app.kubernetes.io/name': 'frontend' })],
    });
    const early = await routing.createRule(newRule(frontendEntity()));
    expect(early.warnings).toEqual([
      'frontend-myfeature is not deployed in dev yet: the rule routes once it is',
    ]);
    expect(await rows()).toHaveLength(1);
    // No route entry for it: the branch has no Service to send requests to.
    const vs: any = live.get('VirtualService/frontend');
    expect(JSON.stringify(vs.spec.http)).not.toContain('frontend-myfeature');

    live.set(
      'Service/frontend-myfeature',
      service('frontend-myfeature', branchLabels(REF)),
    );
    const later = await routing.createRule(
      newRule(frontendEntity(), { value: 'session-2' }),
    );
    expect(later).not.toHaveProperty('warnings');
  });

  it('lists rule values to owners and to those who may route, hidden from others', async () => {
    const { routing } = await setUp();
    const ada = await routing.createRule(newRule(frontendEntity()));
    const bob = await routing.createRule(
      newRule(frontendEntity(), {
        value: 'session-2',
        owner: 'user:default/bob',
      }),
    );
    const hidden = (r: typeof ada) => ({
      ...r,
      value: null,
      valueHidden: true,
    });
    const strip = ({ warnings: _w, ...r }: typeof ada) => r;
    expect(
      await routing.listRules(REF, 'dev', {
        actor: 'user:default/ada',
        mayRoute: () => false,
      }),
    ).toEqual([strip(ada), hidden(strip(bob))].map(expect.objectContaining));
    expect(
      await routing.listRules(REF, undefined, {
        actor: 'user:default/carol',
        mayRoute: env => env === 'dev',
      }),
    ).toEqual([strip(ada), strip(bob)].map(expect.objectContaining));
    expect(await routing.listRules(REF)).toEqual(
      [hidden(strip(ada)), hidden(strip(bob))].map(expect.objectContaining),
    );
  });

  it('refuses a rule on a key the environment does not offer, listing those it does', async () => {
    const { routing, rows, writes } = await setUp();
    await expect(
      routing.createRule(
        newRule(frontendEntity(), { kind: 'header', key: 'user-agent' }),
      ),
    ).rejects.toThrow(
      new InputError(
        'Environment dev does not offer the routing key header:user-agent; it offers header:UserId, cookie:shop_session-id. ' +
          'The platform team configures the routing keys of an environment (kubeDelivery.environments[].routingKeys).',
      ),
    );
    // The annotation's default is held to the same list.
    await expect(
      routing.createRule(
        newRule(
          frontendEntity('default', {
            'kube-delivery.io/routing': 'baggage:kd-branch',
          }),
        ),
      ),
    ).rejects.toThrow(
      /^The entity's kube-delivery.io\/routing annotation names the routing key baggage:kd-branch, which environment dev does not offer; it offers/,
    );
    expect(await rows()).toEqual([]);
    expect(writes).toEqual([]);
  });

  it('offers no key where none is configured', async () => {
    const { routing } = await setUp({ env: { routingKeys: [] } });
    await expect(routing.createRule(newRule(frontendEntity()))).rejects.toThrow(
      /names the routing key cookie:shop_session-id, which environment dev does not offer; it offers no routing keys\. The platform team/,
    );
  });

  it('takes a header key in any case, and binds the hosts the entity names', async () => {
    const { routing, live } = await setUp();
    const rule = await routing.createRule(
      newRule(frontendEntity(), { kind: 'header', key: 'USERID' }),
    );
    expect(rule.key).toBe('userid');
    const vs: any = live.get('VirtualService/frontend');
    expect(vs.spec.hosts).toEqual(['shop.boutique.example', 'frontend']);
    expect(vs.metadata.labels['kube-delivery.io/owner']).toBe(ownerHash(REF));
    expect(vs.metadata.annotations['kube-delivery.io/entity-ref']).toBe(REF);
  });

  it('refuses rules and branch removal under a service name another entity holds, writing nothing', async () => {
    const { routing, claims, rows, writes } = await setUp();
    const rule = await routing.createRule(newRule(frontendEntity()));
    const before = { rows: await rows(), writes: [...writes] };
    await claims.claim('dev', OTHER, [{ kind: 'service', name: 'frontend' }]);

    const refused = new RegExp(
      `^The service name "frontend" in environment "dev" belongs to ${OTHER}, not to ${REF}`,
    );
    await expect(
      routing.createRule(newRule(frontendEntity(), { value: 'session-2' })),
    ).rejects.toThrow(refused);
    await expect(
      routing.extendRule({
        entity: frontendEntity(),
        id: rule.id,
        ttlMinutes: 60,
        actor: 'user:default/ada',
      }),
    ).rejects.toThrow(refused);
    await expect(
      routing.deleteRule(frontendEntity(), rule.id, 'user:default/ada'),
    ).rejects.toThrow(refused);
    await expect(
      routing.removeBranch({
        entity: frontendEntity(),
        environment: 'dev',
        branch: 'myfeature',
        actor: 'user:default/ada',
      }),
    ).rejects.toThrow(ConflictError);
    expect(await rows()).toEqual(before.rows);
    expect(writes).toEqual(before.writes);
  });

  it('refuses a rule that would bind a host another entity holds', async () => {
    const { routing, claims, rows } = await setUp();
    await claims.claim('dev', OTHER, [
      { kind: 'host', name: 'shop.boutique.example' },
    ]);
    await expect(routing.createRule(newRule(frontendEntity()))).rejects.toThrow(
      /^The host name "shop.boutique.example" in environment "dev" belongs to component:other\/frontend/,
    );
    expect(await rows()).toEqual([]);
  });

  it('refuses a rule on a routing object of another entity (409), storing no rule', async () => {
    const foreign = liveObject(
      {
        'app.kubernetes.io/managed-by': 'kube-delivery',
        'kube-delivery.io/owner': ownerHash(OTHER),
      },
      { 'kube-delivery.io/entity-ref': OTHER },
      'kube-delivery',
    );
    const { routing, rows, writes } = await setUp({
      objects: [service('frontend', {}), foreign],
    });
    await expect(routing.createRule(newRule(frontendEntity()))).rejects.toThrow(
      new RegExp(
        `^VirtualService "frontend" in environment "dev" belongs to entity ${OTHER}`,
      ),
    );
    expect(await rows()).toEqual([]);
    expect(writes).toEqual([]);
  });

  it('binds a service with ingress to its hosts after a deploy without rules, once its mainline is there', async () => {
    const spec = {
      name: 'frontend',
      ingress: GATEWAY,
      hosts: ['shop.boutique.example'],
    };
    const none = await setUp({ objects: [] });
    await none.routing.reconcileDeployed(REF, 'dev', spec);
    expect(none.writes).toEqual([]);

    const { routing, live, writes } = await setUp();
    await routing.reconcileDeployed(REF, 'dev', spec);
    const vs: any = live.get('VirtualService/frontend');
    expect(vs.spec).toEqual({
      hosts: ['shop.boutique.example', 'frontend'],
      gateways: ['istio-system/ingressgateway', 'mesh'],
      http: [
        { name: 'mainline', route: [{ destination: { host: 'frontend' } }] },
      ],
    });
    expect(writes[0]).toBe('apply VirtualService/frontend');

    // Without the spec, the catalog's is used; a service without ingress and routing object gets none.
    const catalog = await setUp({
      specOf: async () => ({ ...spec, ingress: undefined }),
    });
    await catalog.routing.reconcileDeployed(REF, 'dev');
    expect(catalog.writes).toEqual([]);
  });

  it('unbinds the routing object of a service that no longer declares ingress after its deploy', async () => {
    const { routing, live } = await setUp();
    await routing.reconcileDeployed(REF, 'dev', {
      name: 'frontend',
      ingress: GATEWAY,
    });
    expect(
      (live.get('VirtualService/frontend') as any).spec.gateways,
    ).toBeDefined();
    await routing.reconcileDeployed(REF, 'dev', { name: 'frontend' });
    const vs: any = live.get('VirtualService/frontend');
    expect(vs.spec.gateways).toBeUndefined();
    expect(vs.spec.hosts).toEqual(['frontend']);
  });
});
