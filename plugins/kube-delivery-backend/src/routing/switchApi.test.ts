import { mockServices } from '@backstage/backend-test-utils';
import { getDevCluster, type DevCluster } from '@internal/devcluster';
import { createEnvironmentCluster } from '../cluster';
import type { EnvironmentConfig, RoutingApiName } from '../config/environments';
import {
  devClusterEnvironments,
  kubectlJson,
  uniqueName,
} from '../__testUtils__/deliveryHarness';
import { createTestDatabases } from '../__testUtils__/testDatabases';
import { DatabaseRouteStore } from './RouteStore';
import { RouteReconciler } from './RouteReconciler';

jest.setTimeout(120_000);

/**
 * An environment that switches `routingApi` from Istio to Gateway API: the
 * reconciler's first HTTPRoute of a service removes the service's
 * VirtualService it wrote before, and never another team's object.
 */
describe('switching an environment between Istio and Gateway API on the local control plane', () => {
  const databases = createTestDatabases();
  let cluster: DevCluster;
  let reconciler: RouteReconciler;
  let routingApi: RoutingApiName = 'istio';
  const services: string[] = [];

  /** A mainline Service in dev, as a deploy leaves it: routing needs its port. */
  async function mainlineService(prefix: string) {
    const name = uniqueName(prefix);
    services.push(name);
    const created = await cluster.kubectl([
      '-n',
      'dev',
      'create',
      'service',
      'clusterip',
      name,
      '--tcp=8080:8080',
    ]);
    expect(created.code).toBe(0);
    return name;
  }

  const get = async (resource: string, name: string) => {
    const result = await cluster.kubectl([
      '-n',
      'dev',
      'get',
      resource,
      name,
      '--ignore-not-found',
      '-o',
      'name',
    ]);
    return result.stdout.trim();
  };

  beforeAll(async () => {
    cluster = await getDevCluster();
    const knex = await databases.init('SQLITE_3');
    const store = await DatabaseRouteStore.create({
      database: { getClient: async () => knex } as any,
    });
    const dev = devClusterEnvironments(cluster).find(e => e.name === 'dev')!;
    const client = createEnvironmentCluster(
      dev.cluster,
      mockServices.logger.mock(),
    );
    reconciler = new RouteReconciler({
      store,
      environment: (): EnvironmentConfig => ({ ...dev, routingApi }),
      cluster: () => client,
      logger: mockServices.logger.mock(),
    });
  });

  afterAll(async () => {
    for (const name of services) {
      await cluster?.kubectl([
        '-n',
        'dev',
        'delete',
        `service/${name}`,
        `virtualservices.networking.istio.io/${name}`,
        `httproutes.gateway.networking.k8s.io/${name}`,
        '--ignore-not-found',
      ]);
    }
  });

  it('removes its VirtualService when the service gets its first HTTPRoute', async () => {
    const name = await mainlineService('switch');
    const target = {
      entityRef: `component:default/${name}`,
      service: name,
      ingress: false,
    };
    routingApi = 'istio';
    await reconciler.reconcile(target, 'dev');
    expect(await get('virtualservices.networking.istio.io', name)).toBe(
      `virtualservice.networking.istio.io/${name}`,
    );

    routingApi = 'gateway-api';
    await reconciler.reconcile(target, 'dev');
    const route = await kubectlJson(cluster, [
      '-n',
      'dev',
      'get',
      'httproutes.gateway.networking.k8s.io',
      name,
    ]);
    expect(route.metadata.annotations['kube-delivery.io/entity-ref']).toBe(
      target.entityRef,
    );
    expect(await get('virtualservices.networking.istio.io', name)).toBe('');
  });

  it("leaves another team's VirtualService of the same name alone", async () => {
    const name = await mainlineService('foreign');
    const applied = await cluster.kubectl(['-n', 'dev', 'apply', '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'networking.istio.io/v1',
        kind: 'VirtualService',
        metadata: { name, namespace: 'dev' },
        spec: {
          hosts: [name],
          http: [{ route: [{ destination: { host: name } }] }],
        },
      }),
    });
    expect(applied.code).toBe(0);
    routingApi = 'gateway-api';
    await reconciler.reconcile(
      { entityRef: `component:default/${name}`, service: name, ingress: false },
      'dev',
    );
    expect(await get('httproutes.gateway.networking.k8s.io', name)).toBe(
      `httproute.gateway.networking.k8s.io/${name}`,
    );
    expect(await get('virtualservices.networking.istio.io', name)).toBe(
      `virtualservice.networking.istio.io/${name}`,
    );
  });
});
