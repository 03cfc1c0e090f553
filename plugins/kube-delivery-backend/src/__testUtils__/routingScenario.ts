import { mockServices, type TestBackend } from '@backstage/backend-test-utils';
import type { Entity } from '@backstage/catalog-model';
import type { DevCluster } from '@internal/devcluster';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { KubeConfig, Watch } from '@kubernetes/client-node';
import type { Knex } from 'knex';
import { adserviceManifest, frontendManifest } from './boutiqueManifests';
import { startDeliveryBackend } from './deliveryBackend';
import {
  createDeliveryHarness,
  entityWithManifest,
  uniqueName,
  type DeliveryHarness,
} from './deliveryHarness';

const createdBy = 'user:default/ada';

/** Deploys each version of the entity to the environment and waits until it succeeded. */
export async function deployVersions(
  harness: DeliveryHarness,
  entity: Entity,
  versions: string[] = ['0.1.3', '0.1.4-myfeature'],
  environment = 'dev',
): Promise<void> {
  for (const version of versions) {
    const release = await harness.delivery.createRelease({
      entity,
      version,
      createdBy,
    });
    const deployment = await harness.delivery.deploy({
      entity,
      release,
      environment,
      kind: 'deploy',
      createdBy,
    });
    const settled = await harness.settle(deployment.id);
    if (settled.status !== 'succeeded') {
      throw new Error(
        `Deploying ${entity.metadata.name} ${version} to ${environment} ${settled.status}: ${settled.message}`,
      );
    }
  }
}

/**
 * Online Boutique's two routed services under names unique to a test file:
 * the frontend (public, through the ingress gateway, routed by its session
 * cookie) and the ad service (gRPC, routed by `userid` metadata).
 */
export function boutiqueEntities() {
  const frontendName = uniqueName('frontend');
  const adserviceName = uniqueName('adservice');
  return {
    frontend: entityWithManifest({
      name: frontendName,
      manifest: frontendManifest(frontendName),
      annotations: {
        'kube-delivery.io/routing': 'cookie:shop_session-id',
        'kube-delivery.io/ingress': 'istio-system/ingressgateway',
      },
    }).entity,
    adservice: routedAdservice(adserviceName),
  };
}

/** The ad service, routed by its `userid` header, under the given name. */
export function routedAdservice(name: string): Entity {
  return entityWithManifest({
    name,
    manifest: adserviceManifest(name),
    annotations: { 'kube-delivery.io/routing': 'header:userid' },
  }).entity;
}

/** Removes what routing tests leave in `dev`: each service's route object and workloads. */
export async function removeRoutedServices(
  cluster: DevCluster,
  names: string[],
  routeResource = 'virtualservice',
): Promise<void> {
  for (const name of names) {
    await cluster.kubectl([
      '-n',
      'dev',
      'delete',
      routeResource,
      name,
      '--ignore-not-found',
    ]);
    await cluster.kubectl([
      '-n',
      'dev',
      'delete',
      'deployment,service,configmap,pdb,job',
      '-l',
      `app.kubernetes.io/name=${name}`,
    ]);
  }
}

/** The gateway the devcluster has, as an environment configures it. */
export const DEV_GATEWAY = {
  namespace: 'istio-system',
  name: 'ingressgateway',
  hosts: ['dev.boutique.example'],
};

/** A backend `configure` giving `dev` the devcluster's gateway, and a routing API if named. */
export function withDevGateway(routingApi?: string) {
  return (config: { kubeDelivery: Record<string, any> }) => {
    const dev = config.kubeDelivery.environments.find(
      (e: any) => e.name === 'dev',
    );
    dev.gateway = DEV_GATEWAY;
    if (routingApi) dev.routingApi = routingApi;
  };
}

/**
 * Deploys the boutique's frontend and ad service to dev (mainline and
 * branch) and starts a backend that routes them through the dev gateway,
 * with the routing task in the given manual scheduler.
 */
export async function startBoutiqueRouting(options: {
  knex: Knex;
  frontend: Entity;
  adservice: Entity;
  scheduler: ReturnType<typeof manualScheduler>;
  /** Entities in the catalog besides the two services. */
  moreEntities?: Entity[];
  routingApi?: string;
}): Promise<{ harness: DeliveryHarness; backend: TestBackend }> {
  const { knex, frontend, adservice } = options;
  const harness = await createDeliveryHarness({ knex });
  await Promise.all([
    deployVersions(harness, frontend),
    deployVersions(harness, adservice),
  ]);
  const backend = await startDeliveryBackend({
    cluster: harness.cluster,
    knex,
    entities: [frontend, adservice, ...(options.moreEntities ?? [])],
    permission: AuthorizeResult.ALLOW,
    configure: withDevGateway(options.routingApi),
    features: [options.scheduler.factory],
  });
  return { harness, backend };
}

/** A scheduler whose tasks run only when the test says so, as one scheduled run would. */
export function manualScheduler() {
  const tasks = new Map<string, () => Promise<void>>();
  const scheduler = mockServices.scheduler.mock({
    scheduleTask: async task => {
      tasks.set(task.id, async () => {
        await task.fn(new AbortController().signal as any);
      });
    },
  });
  return {
    factory: scheduler.factory,
    async run(id: string) {
      const fn = tasks.get(id);
      if (!fn)
        throw new Error(
          `No task ${id} was scheduled (have: ${[...tasks.keys()].join(', ')})`,
        );
      await fn();
    },
  };
}

/** Every watch event of the given collections (paths of the API), in arrival order. */
export async function watchEvents(
  cluster: DevCluster,
  paths: Array<{ path: string; fieldSelector?: string }>,
) {
  const config = new KubeConfig();
  config.loadFromFile(cluster.kubeconfigPath);
  const watch = new Watch(config);
  const events: Array<{
    type: string;
    kind: string;
    name: string;
    object: any;
  }> = [];
  const controllers = await Promise.all(
    paths.map(({ path, fieldSelector }) =>
      watch.watch(
        path,
        { ...(fieldSelector && { fieldSelector }) },
        (type, object) =>
          events.push({
            type,
            kind: object.kind,
            name: object.metadata?.name,
            object,
          }),
        () => {},
      ),
    ),
  );
  return {
    events,
    stop: () => controllers.forEach(c => c.abort()),
  };
}
