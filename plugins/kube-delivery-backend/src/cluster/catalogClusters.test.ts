import {
  mockCredentials,
  type TestBackend,
} from '@backstage/backend-test-utils';
import type { Entity } from '@backstage/catalog-model';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { getDevCluster, type DevCluster } from '@internal/devcluster';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { OpensslCorpus } from '../certificates/__testUtils__/opensslCorpus';
import { startDeliveryBackend } from '../__testUtils__/deliveryBackend';
import {
  entityWithManifest,
  uniqueName,
} from '../__testUtils__/deliveryHarness';
import { waitUntil } from '../__testUtils__/releaseObjects';
import { deployThroughApi } from '../__testUtils__/routingScenario';
import {
  createSharedDatabase,
  type SharedDatabase,
} from '../__testUtils__/sharedDatabase';
import { checkoutserviceManifest } from '../__testUtils__/smokeTestManifests';

jest.setTimeout(300_000);

const USER = mockCredentials.user.header();
const PLATFORM_LOCATION = 'url:https://git.example.test/platform/clusters.yaml';
const TEAM_LOCATION = 'url:https://git.example.test/team-x/catalog-info.yaml';

/** A `kubernetes-cluster` Resource as the Kubernetes plugin's catalog locator reads it. */
function clusterResource(
  name: string,
  originLocation: string,
  annotations: Record<string, string>,
): Entity {
  return {
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'Resource',
    metadata: {
      name,
      namespace: 'default',
      annotations: {
        'backstage.io/managed-by-location': originLocation,
        'backstage.io/managed-by-origin-location': originLocation,
        'kubernetes.io/auth-provider': 'serviceAccount',
        ...annotations,
      },
    },
    spec: { type: 'kubernetes-cluster', owner: 'group:default/platform' },
  };
}

/**
 * Clusters of the Kubernetes plugin's `catalog` locator. Whoever may register
 * a catalog file can describe a `kubernetes-cluster` Resource; only those
 * registered from a location the platform trusts
 * (`kubeDelivery.trustedClusterLocations`) are used, or a team could point
 * production's cluster name at a server of its own and collect the
 * deployer's token.
 */
describe('clusters from the catalog locator', () => {
  let cluster: DevCluster;
  let db: SharedDatabase;
  let backend: TestBackend;
  /** The attacker's "API server": every request it receives, with its Authorization header. */
  const collected: string[] = [];
  const corpus = new OpensslCorpus();
  const serving = corpus.issue('attacker', {
    issuer: 'self',
    sans: ['localhost'],
  });
  const collector = https.createServer(
    { cert: serving.cert, key: serving.key },
    (req, res) => {
      collected.push(`${req.method} ${req.url} ${req.headers.authorization}`);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    },
  );
  const name = uniqueName('catalogcluster');
  const { entity } = entityWithManifest({
    name,
    manifest: checkoutserviceManifest(name),
  });

  beforeAll(async () => {
    cluster = await getDevCluster();
    await new Promise<void>(done => collector.listen(0, '127.0.0.1', done));
    const { port } = collector.address() as AddressInfo;
    db = await createSharedDatabase('sqlite');
    backend = await startDeliveryBackend({
      cluster,
      knex: db.knex,
      permission: AuthorizeResult.ALLOW,
      entities: [
        entity,
        clusterResource('shared-cluster', PLATFORM_LOCATION, {
          'kubernetes.io/api-server': cluster.server,
          'kubernetes.io/api-server-certificate-authority': cluster.caData,
        }),
        clusterResource('prod-eu', TEAM_LOCATION, {
          'kubernetes.io/api-server': `https://127.0.0.1:${port}`,
          'kubernetes.io/skip-tls-verify': 'true',
        }),
        clusterResource('eu-test', TEAM_LOCATION, {
          'kubernetes.io/api-server': `https://127.0.0.1:${port}`,
          'kubernetes.io/skip-tls-verify': 'true',
        }),
      ],
      configure: config => {
        Object.assign(config, {
          kubernetes: {
            serviceLocatorMethod: { type: 'multiTenant' },
            clusterLocatorMethods: [{ type: 'catalog' }],
          },
        });
        config.kubeDelivery.trustedClusterLocations = [PLATFORM_LOCATION];
        for (const environment of config.kubeDelivery.environments) {
          const token = environment.cluster.serviceAccountToken;
          if (environment.name === 'dev') {
            environment.cluster = {
              name: 'shared-cluster',
              serviceAccountToken: token,
            };
          } else if (environment.name === 'production') {
            environment.cluster = {
              name: 'prod-eu',
              serviceAccountToken: token,
            };
          } else {
            environment.cluster = {
              name: 'eu-test',
              serviceAccountToken: token,
            };
          }
        }
      },
    });
  });

  afterAll(async () => {
    await backend?.stop();
    await db?.destroy();
    collector.close();
    corpus.dispose();
    await cluster?.kubectl([
      '-n',
      'dev',
      'delete',
      'deployment,service',
      name,
      '--wait=false',
    ]);
  });

  const health = (environment: string) =>
    request(backend.server)
      .post(`/api/kube-delivery/environments/${environment}/health`)
      .set('Authorization', USER);

  it('deploys to a cluster registered from a trusted location', async () => {
    // Catalog clusters are looked up once the backend has started.
    await waitUntil(
      async () =>
        (
          await health('dev')
        ).body.findings?.some(
          (f: any) => f.check === 'cluster' && f.status === 'ok',
        ),
      { timeoutMs: 30_000 },
    );
    const deployed = await deployThroughApi(backend, entity, '0.1.3', 'dev');
    expect(`${deployed.status}: ${deployed.message}`).toBe(
      'succeeded: 0.1.3 is serving',
    );
  });

  it('never sends a request to a cluster a team registered under the production cluster name', async () => {
    const checked = await health('production');
    expect(checked.status).toBe(200);
    // Were the team's entity used, its server would hold the deployer's token now.
    expect(collected).toEqual([]);
    const finding = checked.body.findings.find(
      (f: any) => f.check === 'cluster',
    );
    expect(`${finding.status}: ${finding.message}`).toContain(
      `error: The cluster settings of environment "production" are unusable: Environment "production": cluster "prod-eu" Cluster "prod-eu" is described only by catalog entities registered from untrusted locations (${TEAM_LOCATION})`,
    );

    // test's cluster has the same story: only the team's entity describes it.
    const deployed = await deployThroughApi(backend, entity, '0.1.3', 'test');
    expect(`${deployed.status}: ${deployed.message}`).toContain(
      `failed: Environment "test": cluster "eu-test" Cluster "eu-test" is described only by catalog entities registered from untrusted locations (${TEAM_LOCATION})`,
    );
    const status = await request(backend.server)
      .get(`/api/kube-delivery/entities/component/default/${name}/status`)
      .set('Authorization', USER);
    expect(status.status).toBe(200);
    expect(collected).toEqual([]);
  });
});
