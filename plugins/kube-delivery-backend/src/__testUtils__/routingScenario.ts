import {
  mockCredentials,
  mockServices,
  type TestBackend,
} from '@backstage/backend-test-utils';
import type { Entity } from '@backstage/catalog-model';
import type { DevCluster } from '@internal/devcluster';
import {
  evaluateHttpRoutes,
  type RouteEvaluation,
} from '@internal/plugin-kube-delivery-common';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { KubeConfig, Watch } from '@kubernetes/client-node';
import type { Knex } from 'knex';
import request from 'supertest';
import { gatewayCovers } from '../tenancy/hosts';
import { adserviceManifest, frontendManifest } from './boutiqueManifests';
import { startDeliveryBackend } from './deliveryBackend';
import {
  createDeliveryHarness,
  entityWithManifest,
  kubectlJson,
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
 * A public Online Boutique frontend under the given name: bound to the dev
 * gateway, routed by its session cookie, serving the given gateway hosts
 * (`kube-delivery.io/hosts`) when named.
 */
export function publicFrontend(name: string, hosts?: string[]): Entity {
  return entityWithManifest({
    name,
    manifest: frontendManifest(name),
    annotations: {
      'kube-delivery.io/routing': 'cookie:shop_session-id',
      'kube-delivery.io/ingress': 'istio-system/ingressgateway',
      ...(hosts && { 'kube-delivery.io/hosts': hosts.join(', ') }),
    },
  }).entity;
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
      'deployment,service,configmap,pdb,job,serviceaccount',
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

/** A backend `configure` giving `dev` the devcluster's gateway (or the given one), and a routing API if named. */
export function withDevGateway(
  routingApi?: string,
  gateway: typeof DEV_GATEWAY = DEV_GATEWAY,
) {
  return (config: { kubeDelivery: Record<string, any> }) => {
    const dev = config.kubeDelivery.environments.find(
      (e: any) => e.name === 'dev',
    );
    dev.gateway = gateway;
    if (routingApi) dev.routingApi = routingApi;
  };
}

/**
 * Where the ingress gateway sends a request for `host` in `dev`, as Istio
 * picks among the live VirtualServices: those bound to the gateway that name
 * the host, else those whose wildcard covers it. Exactly one must serve it;
 * the request is evaluated on that one. The route tester cannot answer this:
 * it evaluates one entity's object, whatever the host.
 */
export async function gatewayRoute(
  cluster: DevCluster,
  host: string,
  headers: Record<string, string> = {},
  gateway = `${DEV_GATEWAY.namespace}/${DEV_GATEWAY.name}`,
): Promise<{ virtualService: string; evaluation?: RouteEvaluation }> {
  const { items } = await kubectlJson(cluster, [
    '-n',
    'dev',
    'get',
    'virtualservices.networking.istio.io',
  ]);
  const bound = (items as any[]).filter(
    vs =>
      !vs.metadata.deletionTimestamp &&
      (vs.spec?.gateways ?? []).includes(gateway),
  );
  const named = bound.filter(vs => (vs.spec.hosts ?? []).includes(host));
  const serving = named.length
    ? named
    : bound.filter(vs =>
        (vs.spec.hosts ?? []).some(
          (h: string) => h.includes('*') && gatewayCovers(h, host),
        ),
      );
  if (serving.length !== 1) {
    throw new Error(
      `${serving.length} VirtualServices serve ${host} on ${gateway}: ${serving
        .map(vs => vs.metadata.name)
        .join(', ')}`,
    );
  }
  const [vs] = serving;
  return {
    virtualService: vs.metadata.name,
    evaluation: evaluateHttpRoutes(vs.spec.http ?? [], {
      headers: { ...headers, host },
    }),
  };
}

const entityPath = (entity: Entity) =>
  `/api/kube-delivery/entities/component/${
    entity.metadata.namespace ?? 'default'
  }/${entity.metadata.name}`;

/**
 * Creates a release of `version` and deploys it to the environment through
 * the backend's HTTP API, so the plugin's own runner deploys it (and runs
 * what follows a deploy, like routing); waits until it is no longer queued
 * or running and returns the deployment.
 */
export async function deployThroughApi(
  backend: TestBackend,
  entity: Entity,
  version: string,
  environment = 'dev',
  timeoutMs = 150_000,
): Promise<{ id: string; status: string; message?: string }> {
  const path = entityPath(entity);
  const auth = mockCredentials.user.header();
  const release = await request(backend.server)
    .post(`${path}/releases`)
    .set('Authorization', auth)
    .send({ version });
  if (release.status !== 201 && release.status !== 409) {
    throw new Error(
      `Release ${version} of ${entity.metadata.name}: ${
        release.status
      } ${JSON.stringify(release.body)}`,
    );
  }
  return queueAndSettle(
    backend,
    entity,
    'deployments',
    { environment, version },
    `Deploying ${entity.metadata.name} ${version} to ${environment}`,
    timeoutMs,
  );
}

/** Queues a deployment (`deployments` or `rollbacks`) and waits until it finished. */
async function queueAndSettle(
  backend: TestBackend,
  entity: Entity,
  collection: 'deployments' | 'rollbacks',
  body: { environment: string; version: string },
  what: string,
  timeoutMs: number,
): Promise<{ id: string; status: string; message?: string }> {
  const queued = await request(backend.server)
    .post(`${entityPath(entity)}/${collection}`)
    .set('Authorization', mockCredentials.user.header())
    .send(body);
  if (queued.status !== 202) {
    throw new Error(`${what}: ${queued.status} ${JSON.stringify(queued.body)}`);
  }
  return settleThroughApi(backend, entity, queued.body.id, timeoutMs);
}

/** Waits until a deployment is no longer queued or running, polling the API. */
export async function settleThroughApi(
  backend: TestBackend,
  entity: Entity,
  id: string,
  timeoutMs: number,
): Promise<{ id: string; status: string; message?: string }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await request(backend.server)
      .get(`${entityPath(entity)}/deployments/${id}`)
      .set('Authorization', mockCredentials.user.header());
    if (res.status === 200 && !['queued', 'running'].includes(res.body.status))
      return res.body;
    if (Date.now() > deadline) {
      throw new Error(
        `Deployment ${id} of ${
          entity.metadata.name
        } still unfinished after ${timeoutMs} ms: ${JSON.stringify(res.body)}`,
      );
    }
    await new Promise(resolve => setTimeout(resolve, 200));
  }
}

/** Rolls back to an earlier `version` through the API and waits until it finished. */
export async function rollbackThroughApi(
  backend: TestBackend,
  entity: Entity,
  version: string,
  environment = 'dev',
  timeoutMs = 150_000,
): Promise<{ id: string; status: string; message?: string }> {
  return queueAndSettle(
    backend,
    entity,
    'rollbacks',
    { environment, version },
    `Rolling ${entity.metadata.name} back to ${version} in ${environment}`,
    timeoutMs,
  );
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
