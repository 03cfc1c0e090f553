import type { TestBackend } from '@backstage/backend-test-utils';
import type { Entity } from '@backstage/catalog-model';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { getDevCluster, type DevCluster } from '@internal/devcluster';
import type { Knex } from 'knex';
import { frontendManifest } from '../__testUtils__/boutiqueManifests';
import { startDeliveryBackend } from '../__testUtils__/deliveryBackend';
import {
  entityWithManifest,
  uniqueName,
} from '../__testUtils__/deliveryHarness';
import { printFigures } from '../__testUtils__/figures';
import {
  GatewayClient,
  servedManifest,
  startLoad,
  TRAEFIK_DEV_GATEWAY,
  waitUntil,
  type LoadFigures,
} from '../__testUtils__/gatewayTraffic';
import {
  deployThroughApi,
  removeRoutedServices,
  rollbackThroughApi,
  withDevGateway,
} from '../__testUtils__/routingScenario';
import { createTestDatabases } from '../__testUtils__/testDatabases';

jest.setTimeout(1_200_000);

/** Deploys per strategy under traffic. */
const DEPLOYS = 20;
const ROLLBACKS = 5;
const RECREATES = 3;
const RPS = 50;

/**
 * Zero downtime proven with real requests: 50 requests per second through Traefik
 * (the dev Gateway, Gateway API) to the service's pods, which the pod runner serves and
 * which keep serving through their preStop sleep after deletion, as on a real node.
 */
describe('deploys under real HTTP traffic through Traefik', () => {
  const databases = createTestDatabases();
  let knex: Knex;
  let cluster: DevCluster;
  let backend: TestBackend;
  let client: GatewayClient;

  const service = (strategy: string) => {
    const name = uniqueName(`fe-${strategy}`);
    const host = `${name}.dev.boutique.example`;
    const { entity } = entityWithManifest({
      name,
      manifest: servedManifest(frontendManifest(name)),
      annotations: {
        'kube-delivery.io/strategy': strategy,
        'kube-delivery.io/replicas': '2',
        'kube-delivery.io/ingress': `${TRAEFIK_DEV_GATEWAY.namespace}/${TRAEFIK_DEV_GATEWAY.name}`,
        'kube-delivery.io/hosts': host,
      },
    });
    return { name, host, entity };
  };
  const rolling = service('rolling');
  const blueGreen = service('blue-green');
  const recreate = service('recreate');
  const all = [rolling, blueGreen, recreate];

  beforeAll(async () => {
    knex = await databases.init('SQLITE_3');
    cluster = await getDevCluster();
    client = new GatewayClient(cluster);
    backend = await startDeliveryBackend({
      cluster,
      knex,
      entities: all.map(s => s.entity),
      permission: AuthorizeResult.ALLOW,
      configure: withDevGateway('gateway-api', TRAEFIK_DEV_GATEWAY),
    });
  });

  afterAll(async () => {
    client?.close();
    await backend?.stop();
    if (cluster) {
      await removeRoutedServices(
        cluster,
        all.map(s => s.name),
        'httproutes.gateway.networking.k8s.io',
      );
    }
  });

  async function deploy(entity: Entity, version: string) {
    const done = await deployThroughApi(backend, entity, version);
    expect(done).toMatchObject({ status: 'succeeded' });
  }

  /**
   * Waits until the traffic is answered by `version`: a deploy succeeds once Kubernetes
   * finished the rollout, and the proxy follows the EndpointSlices a moment later (the
   * old pods keep serving meanwhile, in their preStop sleep).
   */
  async function answeredBy(
    load: ReturnType<typeof startLoad>,
    version: string,
  ) {
    const started = Date.now();
    await waitUntil(`the gateway to answer with ${version}`, async () =>
      load.answers.some(a => a.answer.version === version),
    );
    return Date.now() - started;
  }

  /** Deploys the first version and waits until the gateway answers with it. */
  async function firstVersion(
    s: { entity: Entity; host: string },
    version: string,
  ) {
    await deploy(s.entity, version);
    await waitUntil(
      `the gateway to answer ${s.host} with ${version}`,
      async () => {
        const answer = await client.get(s.host);
        return answer.version === version;
      },
    );
  }

  function report(
    what: string,
    figures: LoadFigures,
    extra: Record<string, string | number> = {},
  ) {
    printFigures(what, {
      requests: figures.sent,
      failed: figures.failed,
      longestOutageMs: figures.longestOutageMs,
      versionsAnswering: Object.keys(figures.versions).length,
      seconds: figures.seconds,
      ...extra,
    });
  }

  it(`rolling: ${DEPLOYS} deploys and ${ROLLBACKS} rollbacks at ${RPS} requests/s fail no request`, async () => {
    await firstVersion(rolling, '1.0.0');
    const load = startLoad({ client, host: rolling.host, rps: RPS });
    const lags: number[] = [];
    for (let i = 1; i <= DEPLOYS; i++) {
      await deploy(rolling.entity, `1.${i}.0`);
      lags.push(await answeredBy(load, `1.${i}.0`));
    }
    for (let i = 1; i <= ROLLBACKS; i++) {
      const done = await rollbackThroughApi(
        backend,
        rolling.entity,
        `1.${DEPLOYS - i}.0`,
      );
      expect(done).toMatchObject({ status: 'succeeded' });
      lags.push(await answeredBy(load, `1.${DEPLOYS - i}.0`));
    }
    await new Promise(resolve => setTimeout(resolve, 3000));
    const figures = await load.stop();
    report('rolling deploys and rollbacks under traffic (Traefik)', figures, {
      deploys: DEPLOYS,
      rollbacks: ROLLBACKS,
      maxMsFromSuccessToNewVersion: Math.max(...lags),
    });
    expect(figures.failures.slice(0, 5)).toEqual([]);
    // Every release of the run answered requests: 1.0.0 to 1.20.0.
    expect(Object.keys(figures.versions).length).toBe(DEPLOYS + 1);
    expect((await client.get(rolling.host)).version).toBe(
      `1.${DEPLOYS - ROLLBACKS}.0`,
    );
  });

  it(`blue-green: ${DEPLOYS} deploys at ${RPS} requests/s fail no request`, async () => {
    await firstVersion(blueGreen, '2.0.0');
    const load = startLoad({ client, host: blueGreen.host, rps: RPS });
    const lags: number[] = [];
    for (let i = 1; i <= DEPLOYS; i++) {
      await deploy(blueGreen.entity, `2.${i}.0`);
      lags.push(await answeredBy(load, `2.${i}.0`));
    }
    await new Promise(resolve => setTimeout(resolve, 3000));
    const figures = await load.stop();
    report('blue-green deploys under traffic (Traefik)', figures, {
      deploys: DEPLOYS,
      maxMsFromSuccessToNewVersion: Math.max(...lags),
    });
    expect(figures.failures.slice(0, 5)).toEqual([]);
    expect(Object.keys(figures.versions).length).toBe(DEPLOYS + 1);
    expect((await client.get(blueGreen.host)).version).toBe(`2.${DEPLOYS}.0`);
  });

  it(`recreate: the gap of each of ${RECREATES} deploys is measured and reported`, async () => {
    await firstVersion(recreate, '3.0.0');
    const gaps: number[] = [];
    let failed = 0;
    for (let i = 1; i <= RECREATES; i++) {
      const load = startLoad({ client, host: recreate.host, rps: RPS });
      await deploy(recreate.entity, `3.${i}.0`);
      await answeredBy(load, `3.${i}.0`);
      const figures = await load.stop();
      gaps.push(figures.longestOutageMs);
      failed += figures.failed;
    }
    printFigures('recreate deploys under traffic (Traefik)', {
      deploys: RECREATES,
      failedRequests: failed,
      gapsMs: gaps.join(' '),
    });
    // Recreate stops the old pods before it starts new ones: there is a gap, and it is reported.
    expect(gaps.every(gap => gap > 0)).toBe(true);
  });
});
