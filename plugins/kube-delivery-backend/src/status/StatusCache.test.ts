import { mockServices } from '@backstage/backend-test-utils';
import type { Entity } from '@backstage/catalog-model';
import type { Knex } from 'knex';
import net from 'node:net';
import { adserviceManifest } from '../__testUtils__/boutiqueManifests';
import {
  createDeliveryHarness,
  devClusterEnvironments,
  entityWithManifest,
  uniqueName,
  type DeliveryHarness,
} from '../__testUtils__/deliveryHarness';
import { deployVersions } from '../__testUtils__/routingScenario';
import { createTestDatabases } from '../__testUtils__/testDatabases';
import { createEnvironmentCluster, type RolloutStatus } from '../cluster';
import type { EnvironmentConfig } from '../config/environments';
import { ClusterClients } from '../cluster';
import { EnvironmentRegistry } from '../config/EnvironmentRegistry';
import { DeliveryService, ReleaseService } from '../delivery';
import { SETTLED_AFTER_MS } from '../delivery/DeliveryService';
import { StatusCache } from './StatusCache';

jest.setTimeout(180_000);

/**
 * A TCP proxy in front of the API server (TLS passes through untouched), so a
 * test can cut the cache's connections as a network failure would.
 */
async function startProxy(target: URL) {
  const sockets = new Set<net.Socket>();
  let refusing = false;
  const server = net.createServer(client => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = net.connect(Number(target.port), target.hostname);
    for (const [a, b] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      sockets.add(a);
      a.pipe(b);
      a.on('error', () => b.destroy());
      a.on('close', () => {
        sockets.delete(a);
        b.destroy();
      });
    }
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `https://127.0.0.1:${port}`,
    /** Drops every open connection and refuses new ones until resume(). */
    cut() {
      refusing = true;
      for (const socket of sockets) socket.destroy();
    },
    resume() {
      refusing = false;
    },
    close: () =>
      new Promise<void>(resolve => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Polls `read` until `done` holds; returns the last value (the assertion that follows says what was wrong). */
async function eventually<T>(
  read: () => T | Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise(resolve => setTimeout(resolve, 100));
  }
}

describe('StatusCache on the local control plane', () => {
  const databases = createTestDatabases();
  const logger = mockServices.logger.mock();
  let knex: Knex;
  let harness: DeliveryHarness;
  let proxy: Awaited<ReturnType<typeof startProxy>>;
  let dev: EnvironmentConfig;
  let cache: StatusCache;
  const name = uniqueName('status-cache');
  let entity: Entity;

  const direct = () =>
    createEnvironmentCluster(dev.cluster, logger).rolloutStatus(name);
  const cached = () => cache.rolloutStatus('dev', name);
  const devStats = () => cache.stats().find(s => s.environment === 'dev')!;
  const kubectl = async (args: string[]) => {
    const result = await harness.cluster.kubectl(args);
    if (result.code !== 0) throw new Error(result.stderr);
  };
  /** The cache's answer once it agrees with a direct read of the API server taken after it. */
  async function agreedStatus(
    done: (status: RolloutStatus) => boolean,
  ): Promise<RolloutStatus | undefined> {
    let last: RolloutStatus | undefined;
    await eventually(
      async () => {
        last = cached();
        return last && done(last) ? [last, await direct()] : undefined;
      },
      pair => pair !== undefined && stable(pair[0], pair[1]),
    );
    return last;
  }

  beforeAll(async () => {
    knex = await databases.init('SQLITE_3');
    harness = await createDeliveryHarness({ knex });
    proxy = await startProxy(new URL(harness.cluster.server));
    const environments = devClusterEnvironments(harness.cluster);
    dev = environments[0];
    // The cache reaches dev through the proxy; test and production directly.
    const cachedEnvironments = environments.map(e =>
      e.name === 'dev'
        ? { ...e, cluster: { ...e.cluster, url: proxy.url } }
        : e,
    );
    ({ entity } = entityWithManifest({
      name,
      manifest: adserviceManifest(name),
    }));
    await deployVersions(harness, entity, ['1.0.0']);
    cache = new StatusCache(
      cachedEnvironments,
      new ClusterClients(logger),
      logger,
    );
    await cache.start();
  });

  afterAll(async () => {
    await cache?.stop();
    await proxy?.close();
    await harness?.close();
    await harness?.cluster.kubectl([
      'delete',
      'deployments,services,configmaps,poddisruptionbudgets',
      '-n',
      'dev',
      '-l',
      `app.kubernetes.io/name=${name}`,
      '--ignore-not-found',
    ]);
  });

  it('is synced for every environment and answers as a direct read does', async () => {
    expect(cache.stats().map(s => [s.environment, s.synced])).toEqual([
      ['dev', true],
      ['test', true],
      ['production', true],
    ]);
    const status = await agreedStatus(s => s.ready === 1);
    expect(status).toMatchObject({ exists: true, desired: 1, ready: 1 });
    expect(status!.pods).toHaveLength(1);
    expect(status).toEqual(await direct());
  });

  it('follows a rollout through the watch, without listing again', async () => {
    const listsBefore = devStats().kinds.pods.lists;
    await kubectl(['-n', 'dev', 'scale', `deployment/${name}`, '--replicas=3']);
    const status = await agreedStatus(s => s.ready === 3 && s.complete);
    expect(status).toMatchObject({ desired: 3, ready: 3, complete: true });
    expect(status!.pods).toHaveLength(3);
    expect(status).toEqual(await direct());
    expect(devStats().kinds.pods.lists).toBe(listsBefore);
  });

  it('serves the status endpoint from the cache, with the same answer as direct reads', async () => {
    const clusters = new ClusterClients(logger);
    const read = jest.spyOn(clusters, 'deploy');
    const releases = new ReleaseService({
      store: harness.store,
      urlReader: mockServices.urlReader.mock(),
      channels: harness.config.channels,
    });
    const withCache = new DeliveryService({
      config: harness.config,
      environments: EnvironmentRegistry.fromConfig(harness.config),
      store: harness.store,
      releases,
      runner: harness.runner,
      clusters,
      claims: harness.claims,
      statusCache: cache,
    });
    const entityRef = `component:default/${name}`;
    await agreedStatus(s => s.ready === 3);
    // Right after a deployment the endpoint reads the cluster; this one is older.
    const current = await harness.store.lastSucceeded(
      entityRef,
      'dev',
      'mainline',
    );
    const settledAt = Date.parse(current!.finishedAt!) + SETTLED_AFTER_MS;
    await new Promise(resolve =>
      setTimeout(resolve, Math.max(0, settledAt - Date.now())),
    );
    const fromCache = await withCache.status(entityRef);
    expect(read).not.toHaveBeenCalled();
    expect(fromCache).toEqual(await harness.delivery.status(entityRef));
    expect(fromCache.find(s => s.environment === 'dev')!.rollout).toMatchObject(
      { exists: true, ready: 3 },
    );
  });

  it('resyncs after its connections are cut, and catches up with what changed meanwhile', async () => {
    const before = devStats().kinds.pods;
    proxy.cut();
    // Not synced while the cluster is unreachable: reads fall back to the API server.
    const unsynced = await eventually(devStats, s => !s.synced, 30_000);
    expect(unsynced.synced).toBe(false);
    expect(cached()).toBeUndefined();
    await kubectl(['-n', 'dev', 'scale', `deployment/${name}`, '--replicas=2']);
    proxy.resume();
    const status = await agreedStatus(
      s => s.desired === 2 && s.pods.length === 2 && s.complete,
    );
    expect(status).toMatchObject({ desired: 2, ready: 2 });
    expect(status).toEqual(await direct());
    const after = devStats().kinds.pods;
    expect(after.errors).toBeGreaterThan(before.errors);
    expect(after.lists).toBeGreaterThan(before.lists);
  });
});

/** Two reads agree once nothing is in flight between them (same pods, same counts). */
function stable(a: RolloutStatus, b: RolloutStatus) {
  return JSON.stringify(a) === JSON.stringify(b);
}
