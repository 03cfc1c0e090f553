import { mockServices } from '@backstage/backend-test-utils';
import type { Entity } from '@backstage/catalog-model';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { WritePoint } from '../delivery/DeploymentJob';
import { ClusterClients } from '../cluster';
import { EnvironmentRegistry } from '../config/EnvironmentRegistry';
import { DeploymentRunner } from '../delivery';
import {
  createDeliveryHarness,
  entityWithManifest,
  uniqueName,
  type DeliveryHarness,
} from '../__testUtils__/deliveryHarness';
import {
  DEV_CLUSTER_GATEWAY,
  wireDeployRouting,
} from '../__testUtils__/deployRouting';
import {
  deleteServiceObjects,
  queueDeploy,
} from '../__testUtils__/faultScenario';
import { printFigures } from '../__testUtils__/figures';
import { waitUntil } from '../__testUtils__/releaseObjects';
import { RunnerChild } from '../__testUtils__/runnerChild';
import {
  createSharedDatabase,
  SHARED_DATABASES,
  type SharedDatabase,
} from '../__testUtils__/sharedDatabase';
import { checkoutserviceManifest } from '../__testUtils__/smokeTestManifests';
import {
  clusterSnapshot,
  databaseSnapshot,
  rowCounts,
} from '../__testUtils__/snapshots';

jest.setTimeout(600_000);

const INGRESS = 'kube-delivery.io/ingress';

/** Whether the process is stopped (SIGSTOP): state T in /proc/<pid>/stat. */
function isStopped(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('T');
  } catch {
    return false;
  }
}

interface Scenario {
  point: WritePoint;
  strategy: 'rolling' | 'blue-green';
  /** The manifest of each version. */
  manifest(name: string, version: string): string;
  /** Extra annotations of the entity at each version's release. */
  annotations?(version: string): Record<string, string>;
  /** What the frozen replica was doing when it stopped, in words. */
  what: string;
}

/** The ConfigMap is renamed from release to release: a prune has something to remove. */
const renamedConfig = (name: string, version: string) =>
  checkoutserviceManifest(name, {
    paymentTimeout: version === '0.1.4' ? '9s' : '5s',
  }).replaceAll(
    `${name}-config`,
    `${name}-config-${version === '0.1.4' ? 'b' : 'a'}`,
  );

const plain = (name: string, version: string) =>
  checkoutserviceManifest(name, {
    paymentTimeout: version === '0.1.4' ? '9s' : '5s',
  });

const SCENARIOS: Scenario[] = [
  {
    point: 'apply',
    strategy: 'rolling',
    manifest: plain,
    what: 'about to apply 0.1.4, lease checked',
  },
  {
    point: 'switch',
    strategy: 'blue-green',
    manifest: plain,
    what: 'about to switch the Service to 0.1.4, lease checked',
  },
  {
    point: 'prune',
    strategy: 'rolling',
    manifest: renamedConfig,
    what: "about to delete 0.1.3's ConfigMap (which 0.1.5 brings back), lease checked",
  },
  {
    point: 'cleanup',
    strategy: 'blue-green',
    manifest: plain,
    what: "about to clean up after 0.1.4 (decided; 0.1.5's objects appear later)",
  },
  {
    point: 'routing',
    strategy: 'rolling',
    manifest: plain,
    // 0.1.4 is public; 0.1.5 is not: a stale reconcile would bind it again.
    annotations: (version): Record<string, string> =>
      version === '0.1.4' ? { [INGRESS]: 'istio-system/ingressgateway' } : {},
    what: 'about to reconcile routing after 0.1.4 succeeded, lease checked',
  },
];

/**
 * A replica stopped (SIGSTOP, by itself, through the runner's write-point
 * hook) at each cluster write point of a deployment, after its lease check:
 * right before the apply, the blue-green switch, a prune's delete, the
 * blue-green clean-up, and the after-deploy routing reconcile. Meanwhile its
 * lease runs out, another replica takes the deployment over and finishes
 * it, and deploys a newer release (0.1.5) after it. When the stopped
 * replica is resumed (SIGCONT) its pending write goes on as if no time had
 * passed: the fence (the epoch on the objects, resourceVersion and uid
 * preconditions) must make the API server refuse it. Nothing may change,
 * in the cluster (every object of the namespace: resourceVersion or
 * generation, managedFields) or the database (every row), for longer than a
 * lease.
 */
describe.each(SHARED_DATABASES)(
  'a replica stopped at a cluster write point, resumed after a newer release (%s)',
  (database, kind) => {
    let db: SharedDatabase;
    let harness: DeliveryHarness;
    const names: string[] = [];
    const markers = fs.mkdtempSync(path.join(os.tmpdir(), 'kd-stale-'));

    beforeAll(async () => {
      db = await createSharedDatabase(kind);
      harness = await createDeliveryHarness({ knex: db.knex, runner: false });
      harness.config.environments.find(e => e.name === 'dev')!.gateway =
        DEV_CLUSTER_GATEWAY;
    });

    afterAll(async () => {
      await RunnerChild.killAll();
      await harness?.close();
      await deleteServiceObjects(harness?.cluster, names);
      for (const name of names) {
        await harness?.cluster.kubectl([
          'delete',
          'virtualservices',
          '-n',
          'dev',
          '--ignore-not-found',
          '--wait=false',
          name,
        ]);
      }
      await db?.destroy();
      fs.rmSync(markers, { recursive: true, force: true });
    });

    it.each(SCENARIOS.map(s => [s.point, s] as const))(
      'stopped right before the %s: 0 cluster changes and 0 rows changed by it once resumed',
      async (point, scenario) => {
        const h = harness;
        const leaseMs = h.config.runner.leaseMs;
        const watchMs = 2 * leaseMs + 2000;
        const name = uniqueName(`stale-${point}`);
        names.push(name);
        const marker = path.join(markers, `${name}.json`);
        const { entity: base, writeManifest } = entityWithManifest({
          name,
          manifest: scenario.manifest(name, '0.1.3'),
          annotations: { 'kube-delivery.io/strategy': scenario.strategy },
        });
        const entityAt = (version: string): Entity => {
          writeManifest(scenario.manifest(name, version));
          return {
            ...base,
            metadata: {
              ...base.metadata,
              annotations: {
                ...base.metadata.annotations,
                ...scenario.annotations?.(version),
              },
            },
          };
        };
        const queue = (version: string) =>
          queueDeploy(h, entityAt(version), version);

        // A replica left running by a failed case would claim this one's deployments.
        await RunnerChild.killAll();
        const stale = await RunnerChild.start({
          database: db.connection,
          runner: h.config.runner,
          extra: {
            pauseAt: { point, version: '0.1.4', marker },
            devGateway: true,
            routing: true,
          },
        });
        const v3 = await h.settle((await queue('0.1.3')).id, 90_000);
        expect(`${v3.status}: ${v3.message}`).toBe(
          'succeeded: 0.1.3 is serving',
        );

        // The replica stops itself at the write point of 0.1.4's deployment.
        const v4 = await queue('0.1.4');
        await waitUntil(
          async () => fs.existsSync(marker) && isStopped(stale.pid),
          { timeoutMs: 90_000, intervalMs: 25, describe: () => stale.logs() },
        );
        const stopped = JSON.parse(fs.readFileSync(marker, 'utf8'));
        expect(stopped).toMatchObject({ point, deploymentId: v4.id });

        // Another replica takes over (after the lease) and deploys 0.1.5 too.
        const logger = mockServices.logger.mock();
        const other = new DeploymentRunner({
          store: h.store,
          environments: EnvironmentRegistry.fromConfig(h.config),
          clusters: new ClusterClients(logger),
          settings: h.config.runner,
          logger,
        });
        await wireDeployRouting({
          knex: db.knex,
          store: h.store,
          runner: other,
          environments: h.config.environments,
          clusters: new ClusterClients(logger),
          logger,
        });
        other.start();
        try {
          const done4 = await h.settle(v4.id, 120_000);
          expect(`${done4.status}: ${done4.message}`).toBe(
            'succeeded: 0.1.4 is serving',
          );
          // The clean-up is stopped after 0.1.4 succeeded, at its first attempt.
          expect(done4.attempts).toBe(point === 'cleanup' ? 1 : 2);
          const v5 = await h.settle((await queue('0.1.5')).id, 120_000);
          expect(`${v5.status}: ${v5.message}`).toBe(
            'succeeded: 0.1.5 is serving',
          );
          // Blue-green: the other replica has cleaned up after 0.1.4 and 0.1.5.
          await waitUntil(
            async () =>
              (await db.knex('kd_deployments')
                .where({ entity_ref: v5.entityRef })
                .whereNotNull('cleanup_after')
                .count({ n: '*' })
                .first()
                .then(row => Number(row?.n))) === 0,
            { timeoutMs: 30_000 },
          );
        } finally {
          await other.stop();
        }

        // Stopped for longer than a lease, whatever it was doing.
        await new Promise(resolve =>
          setTimeout(
            resolve,
            Math.max(0, stopped.at + leaseMs + 1000 - Date.now()),
          ),
        );
        // From here on only the resumed replica could change anything.
        const dbBefore = await databaseSnapshot(db.knex);
        const clusterBefore = await clusterSnapshot(h.cluster, ['dev']);
        process.kill(stale.pid, 'SIGCONT');
        const resumedAt = Date.now();
        const pausedMs = resumedAt - stopped.at;
        const evidence =
          point === 'cleanup'
            ? /blue-green cleanup/
            : /deployment abandoned: lease lost/;
        await waitUntil(async () => evidence.test(stale.logs()), {
          timeoutMs: watchMs,
          describe: () => stale.logs(),
        });
        await new Promise(resolve =>
          setTimeout(resolve, Math.max(0, resumedAt + watchMs - Date.now())),
        );
        const watchedMs = Date.now() - resumedAt;
        const dbAfter = await databaseSnapshot(db.knex);
        const clusterAfter = await clusterSnapshot(h.cluster, ['dev']);
        const before = new Set(clusterBefore);
        const after = new Set(clusterAfter);
        const changedObjects = [
          ...clusterBefore.filter(line => !after.has(line)),
          ...clusterAfter.filter(line => !before.has(line)),
        ];
        const changedTables = Object.keys(dbAfter).filter(
          t => JSON.stringify(dbAfter[t]) !== JSON.stringify(dbBefore[t]),
        );
        const refusals = stale
          .logs()
          .split('\n')
          .filter(line => /fenced out/.test(line)).length;
        printFigures(`stale replica at the ${point} (${database})`, {
          database,
          point,
          stoppedWhile: scenario.what,
          pausedMs,
          leaseMs,
          watchMs: watchedMs,
          objectsChecked: clusterAfter.length,
          changedObjects: changedObjects.length,
          rows: JSON.stringify(rowCounts(dbAfter)),
          changedTables: changedTables.length,
          fencedOutWrites: refusals,
        });
        expect(pausedMs).toBeGreaterThan(leaseMs);
        expect(watchedMs).toBeGreaterThan(leaseMs);
        expect(stale.running).toBe(true);
        expect(changedObjects).toEqual([]);
        expect(dbAfter).toEqual(dbBefore);
        expect(refusals).toBeGreaterThan(0);
        await stale.kill();
      },
    );
  },
);
