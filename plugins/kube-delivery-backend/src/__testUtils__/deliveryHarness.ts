import { mockServices } from '@backstage/backend-test-utils';
import type { Entity } from '@backstage/catalog-model';
import { getDevCluster, type DevCluster } from '@internal/devcluster';
import type { Knex } from 'knex';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { ClusterClients } from '../cluster';
import type { DeliveryConfig } from '../config/environments';
import { EnvironmentRegistry } from '../config/EnvironmentRegistry';
import { devClusterEnvironments } from './devClusterEnvironments';
import { DatabaseDeliveryStore } from '../database';
import { DatabaseClaimStore } from '../tenancy';
import {
  DeliveryService,
  DeploymentRunner,
  ReleaseService,
} from '../delivery';
import type { DeploymentRecord } from '../database';

export function testDeliveryConfig(cluster: DevCluster): DeliveryConfig {
  return {
    environments: devClusterEnvironments(cluster),
    lifecycle: ['dev', 'test', 'production'],
    channels: [
      { name: 'default', prerelease: '^$' },
      {
        name: 'feature-branch',
        prerelease: '.+',
        environments: ['dev', 'test'],
      },
    ],
    runner: {
      leaseMs: 3000,
      blueGreenCleanupDelayMs: 1000,
      pollIntervalMs: 200,
    },
  };
}

export {
  devClusterEnvironments,
  TEST_ROUTING_KEYS,
} from './devClusterEnvironments';

/** A unique service name per test, so tests never touch each other's objects. */
export function uniqueName(prefix: string) {
  return `${prefix}-${randomBytes(3).toString('hex')}`;
}

/**
 * A catalog entity whose catalog file and manifest live in a temporary
 * directory, as a `file:` location does in a local catalog.
 */
export function entityWithManifest(options: {
  name: string;
  manifest: string;
  annotations?: Record<string, string>;
}): { entity: Entity; writeManifest: (text: string) => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kd-entity-'));
  const manifestPath = path.join(dir, 'deploy.yaml');
  const writeManifest = (text: string) => fs.writeFileSync(manifestPath, text);
  writeManifest(options.manifest);
  return {
    writeManifest,
    entity: {
      apiVersion: 'backstage.io/v1alpha1',
      kind: 'Component',
      metadata: {
        name: options.name,
        namespace: 'default',
        annotations: {
          'backstage.io/managed-by-location': `file:${path.join(
            dir,
            'catalog-info.yaml',
          )}`,
          'kube-delivery.io/image': `example.test/boutique/${options.name}`,
          'kube-delivery.io/manifest': './deploy.yaml',
          ...options.annotations,
        },
      },
      spec: {
        type: 'service',
        lifecycle: 'production',
        owner: 'group:default/boutique',
      },
    },
  };
}

export interface DeliveryHarness {
  cluster: DevCluster;
  store: DatabaseDeliveryStore;
  claims: DatabaseClaimStore;
  delivery: DeliveryService;
  runner: DeploymentRunner;
  config: DeliveryConfig;
  /** Waits until a deployment is no longer queued or running. */
  settle(deploymentId: string, timeoutMs?: number): Promise<DeploymentRecord>;
  close(): Promise<void>;
}

/** The delivery backend's parts on a real database and the devcluster, without HTTP. */
export async function createDeliveryHarness(options: {
  knex: Knex;
  runner?: boolean;
  config?: Partial<DeliveryConfig['runner']>;
  /** The cluster the environments point at; default the running devcluster (e.g. a fault proxy's view of it). */
  cluster?: DevCluster;
}): Promise<DeliveryHarness> {
  const cluster = options.cluster ?? (await getDevCluster());
  const base = testDeliveryConfig(cluster);
  const config = { ...base, runner: { ...base.runner, ...options.config } };
  const logger = mockServices.logger.mock();
  const store = await DatabaseDeliveryStore.create({
    database: { getClient: async () => options.knex } as any,
  });
  const clusters = new ClusterClients(logger);
  const environments = EnvironmentRegistry.fromConfig(config);
  const runner = new DeploymentRunner({
    store,
    environments,
    clusters,
    settings: config.runner,
    logger,
  });
  const releases = new ReleaseService({
    store,
    urlReader: mockServices.urlReader.mock(),
    channels: config.channels,
  });
  const claims = new DatabaseClaimStore(options.knex);
  const delivery = new DeliveryService({
    config,
    environments,
    store,
    releases,
    runner,
    clusters,
    claims,
  });
  if (options.runner !== false) runner.start();
  return {
    cluster,
    store,
    claims,
    delivery,
    runner,
    config,
    async settle(deploymentId, timeoutMs = 120_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const deployment = await store.getDeployment(deploymentId);
        if (deployment.status !== 'queued' && deployment.status !== 'running') {
          return deployment;
        }
        if (Date.now() > deadline) {
          throw new Error(
            `Deployment ${deploymentId} still ${
              deployment.status
            } after ${timeoutMs} ms: ${JSON.stringify(deployment.steps)}`,
          );
        }
        await new Promise(resolve => setTimeout(resolve, 200));
      }
    },
    async close() {
      await runner.stop();
    },
  };
}

/** Reads an object through the admin kubeconfig, for assertions. */
export async function kubectlJson<T = any>(
  cluster: DevCluster,
  args: string[],
): Promise<T> {
  const result = await cluster.kubectl([...args, '-o', 'json']);
  if (result.code !== 0)
    throw new Error(`kubectl ${args.join(' ')}: ${result.stderr}`);
  return JSON.parse(result.stdout);
}
