import {
  mockCredentials,
  type TestBackend,
} from '@backstage/backend-test-utils';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import {
  getDevCluster,
  startDevCluster,
  startDevClusterComponent,
  stopDevCluster,
  stopDevClusterComponent,
  type DevCluster,
} from '@internal/devcluster';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import {
  adminApply,
  adminGet,
  foreignIstioGateway,
  issueTestCertificates,
} from '../certificates/__testUtils__/gatewayFixtures';
import { OpensslCorpus } from '../certificates/__testUtils__/opensslCorpus';
import { startDeliveryBackend } from '../__testUtils__/deliveryBackend';
import {
  entityWithManifest,
  kubectlJson,
  uniqueName,
} from '../__testUtils__/deliveryHarness';
import { printFigures } from '../__testUtils__/figures';
import { waitUntil } from '../__testUtils__/releaseObjects';
import {
  deployThroughApi,
  rollbackThroughApi,
  settleThroughApi,
} from '../__testUtils__/routingScenario';
import {
  createSharedDatabase,
  type SharedDatabase,
} from '../__testUtils__/sharedDatabase';
import { checkoutserviceManifest } from '../__testUtils__/smokeTestManifests';

jest.setTimeout(600_000);

const USER = mockCredentials.user.header();
const GATEWAY = 'prod-gateway';
const HOST = 'shop.cert-test.example';

/**
 * dev and test run on the shared devcluster, production on a second, private
 * one (DEVCLUSTER_STATE_DIR), as a platform team runs production apart. The
 * environments name their clusters, which come from the Kubernetes plugin's
 * `kubernetes.clusterLocatorMethods`: dev and test deploy with their own
 * namespace-scoped tokens, production with the `serviceAccount` strategy of
 * the Kubernetes plugin and the production deployer's token in the
 * cluster's authMetadata. Everything goes through the HTTP API.
 */
describe('environments on two clusters, named from kubernetes.clusterLocatorMethods', () => {
  const savedStateDir = process.env.DEVCLUSTER_STATE_DIR;
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kd-prod-cluster-'));
  let shared: DevCluster;
  let production: DevCluster;
  let db: SharedDatabase;
  let backend: TestBackend;
  const corpus = new OpensslCorpus();
  const name = uniqueName('twoclusters');
  const { entity } = entityWithManifest({
    name,
    manifest: checkoutserviceManifest(name),
  });
  const entityPath = `/api/kube-delivery/entities/component/default/${name}`;

  /** Runs `fn` with the private cluster's state directory (component start and stop). */
  async function onProductionCluster<T>(fn: () => Promise<T>): Promise<T> {
    process.env.DEVCLUSTER_STATE_DIR = stateDir;
    try {
      return await fn();
    } finally {
      if (savedStateDir === undefined) delete process.env.DEVCLUSTER_STATE_DIR;
      else process.env.DEVCLUSTER_STATE_DIR = savedStateDir;
    }
  }

  const deploymentsIn = async (cluster: DevCluster, namespace: string) =>
    (
      await kubectlJson(cluster, ['-n', namespace, 'get', 'deployments'])
    ).items.map((d: any) => d.metadata.name as string);

  const imageIn = async (cluster: DevCluster, namespace: string) =>
    (await kubectlJson(cluster, ['-n', namespace, 'get', 'deployment', name]))
      .spec.template.spec.containers[0].image as string;

  const status = async () => {
    const res = await request(backend.server)
      .get(`${entityPath}/status`)
      .set('Authorization', USER);
    expect(res.status).toBe(200);
    return Object.fromEntries(
      (res.body.items as any[]).map(item => [item.environment, item]),
    );
  };

  /** Promotes what the environment before `target` runs into it, through the API. */
  async function promote(target: string, version: string) {
    const queued = await request(backend.server)
      .post(`${entityPath}/promotions`)
      .set('Authorization', USER)
      .send({ environment: target });
    expect(queued.status).toBe(202);
    const promoted = await settleThroughApi(
      backend,
      entity,
      queued.body.id,
      150_000,
    );
    expect(`${target} ${promoted.status}: ${promoted.message}`).toBe(
      `${target} succeeded: ${version} is serving`,
    );
  }

  beforeAll(async () => {
    shared = await getDevCluster();
    const started = Date.now();
    production = await onProductionCluster(() => startDevCluster());
    printFigures('two clusters, private production cluster', {
      startSeconds: ((Date.now() - started) / 1000).toFixed(1),
    });
    await adminApply(production, foreignIstioGateway(GATEWAY, name));
    db = await createSharedDatabase('postgres');
    backend = await startDeliveryBackend({
      cluster: shared,
      knex: db.knex,
      entities: [entity],
      permission: AuthorizeResult.ALLOW,
      configure: config => {
        Object.assign(config, {
          kubernetes: {
            serviceLocatorMethod: { type: 'multiTenant' },
            clusterLocatorMethods: [
              {
                type: 'config',
                clusters: [
                  {
                    name: 'local-shared',
                    url: shared.server,
                    caData: shared.caData,
                    authProvider: 'serviceAccount',
                  },
                  {
                    name: 'prod-eu',
                    url: production.server,
                    caData: production.caData,
                    authProvider: 'serviceAccount',
                    authMetadata: {
                      serviceAccountToken: production.tokens.production,
                    },
                  },
                ],
              },
            ],
          },
        });
        for (const environment of config.kubeDelivery.environments) {
          if (environment.name === 'production') {
            environment.cluster = { name: 'prod-eu', timeoutSeconds: 2 };
            environment.protected = false;
            environment.gateway = {
              namespace: 'istio-system',
              name: GATEWAY,
              hosts: [HOST],
              cluster: {
                name: 'prod-eu',
                serviceAccountToken: production.tokens['istio-system'],
              },
            };
          } else {
            environment.cluster = {
              name: 'local-shared',
              serviceAccountToken: environment.cluster.serviceAccountToken,
            };
          }
        }
      },
    });
  });

  afterAll(async () => {
    await backend?.stop();
    await db?.destroy();
    corpus.dispose();
    await onProductionCluster(() => stopDevCluster());
    fs.rmSync(stateDir, { recursive: true, force: true });
    await shared?.kubectl([
      '-n',
      'dev',
      'delete',
      'deployment,service',
      name,
      '--wait=false',
    ]);
    await shared?.kubectl([
      '-n',
      'test',
      'delete',
      'deployment,service',
      name,
      '--wait=false',
    ]);
  });

  it('deploys to dev on the shared cluster, promotes across clusters to production, and rolls back there', async () => {
    const dev = await deployThroughApi(backend, entity, '0.1.3', 'dev');
    expect(`${dev.status}: ${dev.message}`).toBe('succeeded: 0.1.3 is serving');

    await promote('test', '0.1.3');
    await promote('production', '0.1.3');
    // Production's objects are on the private cluster only.
    expect(await deploymentsIn(production, 'production')).toContain(name);
    expect(await deploymentsIn(shared, 'production')).not.toContain(name);
    expect(await deploymentsIn(shared, 'dev')).toContain(name);
    expect(await deploymentsIn(production, 'dev')).not.toContain(name);

    expect(
      (await deployThroughApi(backend, entity, '0.1.4', 'dev')).status,
    ).toBe('succeeded');
    await promote('test', '0.1.4');
    await promote('production', '0.1.4');
    expect(await imageIn(production, 'production')).toMatch(/:0\.1\.4$/);
    const back = await rollbackThroughApi(
      backend,
      entity,
      '0.1.3',
      'production',
    );
    expect(`${back.status}: ${back.message}`).toBe(
      'succeeded: 0.1.3 is serving',
    );
    expect(await imageIn(production, 'production')).toMatch(/:0\.1\.3$/);
    expect(await imageIn(shared, 'dev')).toMatch(/:0\.1\.4$/);
  });

  it('reads each environment live state from its own cluster', async () => {
    await waitUntil(
      async () => {
        const byEnvironment = await status();
        return (
          byEnvironment.production.rollout?.ready === 2 &&
          byEnvironment.dev.rollout?.ready === 1
        );
      },
      {
        timeoutMs: 60_000,
        describe: async () => JSON.stringify(await status()),
      },
    );
    const byEnvironment = await status();
    expect(byEnvironment.production.current.version).toBe('0.1.3');
    expect(byEnvironment.production.unreachable).toBeUndefined();
  });

  it('checks production health on the private cluster, with the Kubernetes plugin strategy credentials', async () => {
    const res = await request(backend.server)
      .post('/api/kube-delivery/environments/production/health')
      .set('Authorization', USER);
    expect(res.status).toBe(200);
    const cluster = res.body.findings.find((f: any) => f.check === 'cluster');
    expect(cluster.message).toContain(production.server);
    const credentials = res.body.findings.find(
      (f: any) => f.check === 'credentials',
    );
    expect(`${credentials.status}: ${credentials.message}`).toMatch(
      /^ok: .*deployer-production.* may do all \d+ things deploying needs in namespace "production"$/,
    );
  });

  it("uploads production's certificate to the private cluster's gateway", async () => {
    const certs = issueTestCertificates(corpus);
    const uploaded = await request(backend.server)
      .post('/api/kube-delivery/environments/production/certificates')
      .set('Authorization', USER)
      .send({
        format: 'pem',
        certificateChain: certs.shop.cert + certs.intermediate.cert,
        privateKey: certs.shop.key,
      });
    expect(uploaded.status).toBe(201);
    const gateway = await adminGet(
      production,
      'gateways.networking.istio.io',
      GATEWAY,
    );
    expect(gateway.spec.servers.map((s: any) => s.port.number)).toContain(443);
    const secretName = gateway.spec.servers.find(
      (s: any) => s.port.number === 443 && s.name !== 'team-tls',
    ).tls.credentialName;
    const onShared = await shared.kubectl([
      '-n',
      'istio-system',
      'get',
      'secret',
      secretName,
    ]);
    expect(onShared.code).not.toBe(0);
    const onProduction = await production.kubectl([
      '-n',
      'istio-system',
      'get',
      'secret',
      secretName,
    ]);
    expect(onProduction.code).toBe(0);
  });

  it('says since when production is unreachable while dev and test answer from the shared cluster', async () => {
    await onProductionCluster(() => stopDevClusterComponent('kube-apiserver'));
    const stoppedAt = Date.now();
    try {
      // The status cache's watches notice on their own; the direct read within timeoutSeconds.
      await waitUntil(async () => !!(await status()).production.unreachable, {
        timeoutMs: 60_000,
      });
      const timings: number[] = [];
      let byEnvironment: Record<string, any> = {};
      for (let i = 0; i < 5; i++) {
        const before = Date.now();
        byEnvironment = await status();
        timings.push(Date.now() - before);
      }
      expect(byEnvironment.production.unreachable.message).toContain(
        production.server,
      );
      expect(
        Date.parse(byEnvironment.production.unreachable.since),
      ).toBeGreaterThanOrEqual(stoppedAt - 1000);
      expect(byEnvironment.dev.unreachable).toBeUndefined();
      expect(byEnvironment.dev.rollout.ready).toBe(1);
      expect(byEnvironment.test.rollout.ready).toBe(1);

      const health = await request(backend.server)
        .post('/api/kube-delivery/environments/dev/health')
        .set('Authorization', USER);
      expect(health.status).toBe(200);
      const devCluster = health.body.findings.find(
        (f: any) => f.check === 'cluster',
      );
      expect(`${devCluster.status}: ${devCluster.message}`).toContain(
        `ok: The API server at ${shared.server} answers`,
      );
      printFigures('unreachable production cluster', {
        statusReadsMs: timings.join(' '),
        unreachableSaidAfterMs:
          Date.parse(byEnvironment.production.unreachable.since) - stoppedAt,
      });
    } finally {
      await onProductionCluster(() =>
        startDevClusterComponent('kube-apiserver'),
      );
    }
    await waitUntil(async () => !(await status()).production.unreachable, {
      timeoutMs: 60_000,
    });
  });
});
