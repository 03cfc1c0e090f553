import {
  createDeliveryHarness,
  entityWithManifest,
  uniqueName,
  type DeliveryHarness,
} from '../__testUtils__/deliveryHarness';
import {
  deleteServiceObjects,
  FAULT_DATABASE,
  queueDeploy,
} from '../__testUtils__/faultScenario';
import { printFigures } from '../__testUtils__/figures';
import { waitUntil } from '../__testUtils__/releaseObjects';
import { RunnerChild } from '../__testUtils__/runnerChild';
import {
  createSharedDatabase,
  type SharedDatabase,
} from '../__testUtils__/sharedDatabase';
import { checkoutserviceManifest } from '../__testUtils__/smokeTestManifests';
import {
  clusterSnapshot,
  databaseSnapshot,
  rowCounts,
} from '../__testUtils__/snapshots';

jest.setTimeout(240_000);

/**
 * A replica frozen (SIGSTOP) in the middle of a rollout, past its 3 s lease:
 * another replica takes the deployment over and finishes it. When the frozen
 * one is thawed (SIGCONT) its timers and pending requests run on as if no
 * time had passed; it must notice the lost lease and write nothing, neither
 * to the database nor to the cluster.
 */
describe(`a replica paused past its lease and resumed (${FAULT_DATABASE})`, () => {
  let db: SharedDatabase;
  let harness: DeliveryHarness;
  const names: string[] = [];

  beforeAll(async () => {
    db = await createSharedDatabase();
    harness = await createDeliveryHarness({ knex: db.knex, runner: false });
  });

  afterAll(async () => {
    await RunnerChild.killAll();
    await harness?.close();
    await deleteServiceObjects(harness?.cluster, names);
    await db?.destroy();
  });

  it('writes nothing after losing the lease: database rows, objects, generations and managedFields unchanged', async () => {
    const h = harness;
    const paused = await RunnerChild.start({
      database: db.connection,
      runner: h.config.runner,
    });
    const name = uniqueName('paused');
    names.push(name);
    const selector = `app.kubernetes.io/name=${name}`;
    const { entity, writeManifest } = entityWithManifest({
      name,
      manifest: checkoutserviceManifest(name),
    });
    const queue = (version: string) => queueDeploy(h, entity, version);

    const v3 = await h.settle((await queue('0.1.3')).id, 90_000);
    expect(`${v3.status}: ${v3.message}`).toBe('succeeded: 0.1.3 is serving');

    // The replica is frozen while 0.1.4 rolls out (new pods available only after 8 s).
    writeManifest(
      checkoutserviceManifest(name, {
        minReadySeconds: 8,
        paymentTimeout: '9s',
      }),
    );
    const v4 = await queue('0.1.4');
    await waitUntil(
      async () =>
        (
          await h.store.getDeployment(v4.id)
        ).steps.some(s => s.name === 'Rollout' && s.status === 'running'),
      { timeoutMs: 60_000, intervalMs: 25, describe: () => paused.logs() },
    );
    process.kill(paused.pid, 'SIGSTOP');
    const frozenAt = Date.now();

    // The other replica claims the job once the lease ran out, and finishes it.
    h.runner.start();
    const done = await h.settle(v4.id, 120_000);
    expect(`${done.status}: ${done.message}`).toBe(
      'succeeded: 0.1.4 is serving',
    );
    expect(done.attempts).toBe(2);
    expect(done.leaseOwner).toBeUndefined();
    await h.runner.stop();

    // From here on only the thawed replica could change anything.
    const dbBefore = await databaseSnapshot(db.knex);
    const clusterBefore = await clusterSnapshot(h.cluster, ['dev'], selector);
    process.kill(paused.pid, 'SIGCONT');
    const pausedMs = Date.now() - frozenAt;
    // It wakes in the Rollout step, finds the rollout complete, and tries to
    // record it and clean up: both need the lease it no longer holds.
    await waitUntil(
      async () => paused.logs().includes('deployment abandoned: lease lost'),
      {
        timeoutMs: 30_000,
        describe: () => paused.logs(),
      },
    );
    // A few of its poll intervals (200 ms) more, for anything it would still do.
    await new Promise(resolve => setTimeout(resolve, 3000));
    const dbAfter = await databaseSnapshot(db.knex);
    const clusterAfter = await clusterSnapshot(h.cluster, ['dev'], selector);

    printFigures('replica paused past its lease', {
      pausedMs,
      leaseMs: h.config.runner.leaseMs,
      rows: JSON.stringify(rowCounts(dbAfter)),
      objectsChecked: clusterAfter.length,
      changedRows: Object.keys(dbAfter).filter(
        t => JSON.stringify(dbAfter[t]) !== JSON.stringify(dbBefore[t]),
      ).length,
    });
    expect(paused.running).toBe(true);
    expect(paused.logs()).toContain('deployment lease lost; stopping');
    expect(dbAfter).toEqual(dbBefore);
    expect(clusterAfter).toEqual(clusterBefore);
    expect(clusterAfter.map(line => line.split(' uid ')[0])).toEqual([
      `ConfigMap dev/${name}-config`,
      `Deployment dev/${name}`,
      `Service dev/${name}`,
      `ServiceAccount dev/${name}`,
    ]);
  });
});
