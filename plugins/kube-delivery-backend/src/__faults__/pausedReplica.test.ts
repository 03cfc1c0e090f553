import {
  createDeliveryHarness,
  entityWithManifest,
  uniqueName,
  type DeliveryHarness,
} from '../__testUtils__/deliveryHarness';
import {
  deleteServiceObjects,
  queueDeploy,
  renderedInDev,
  ROLLING_STEPS_SUCCEEDED,
  servingInDev,
  stepOutcomes,
} from '../__testUtils__/faultScenario';
import { printFigures } from '../__testUtils__/figures';
import { waitUntil } from '../__testUtils__/releaseObjects';
import { RunnerChild } from '../__testUtils__/runnerChild';
import {
  createSharedDatabase,
  frozenWriteLockHolder,
  SHARED_DATABASES,
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
 *
 * On a SQLite file (the frozen process keeps its connection, and so its WAL
 * read mark, open) and on PostgreSQL.
 */
describe.each(SHARED_DATABASES)(
  'a replica paused past its lease and resumed (%s)',
  (database, kind) => {
    let db: SharedDatabase;
    let harness: DeliveryHarness;
    const names: string[] = [];

    beforeAll(async () => {
      db = await createSharedDatabase(kind);
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

      printFigures(`replica paused past its lease (${database})`, {
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
  },
);

/**
 * A process frozen (SIGSTOP) while it holds the database's write lock: on a
 * SQLite file the whole file (BEGIN IMMEDIATE, WAL), on PostgreSQL the row of
 * the deployment another replica is running. That replica's writes wait
 * (SQLite answers SQLITE_BUSY after each 10 s busy timeout, and blocks its
 * event loop meanwhile; PostgreSQL waits for the row); its lease runs out. It
 * must neither fail nor roll back the deploy over the lock, nor keep running
 * it without its lease: once the holder is gone the deployment is taken over
 * as attempt 2 and finishes, and its record says so.
 */
describe.each(SHARED_DATABASES)(
  'a process frozen while it holds the write lock (%s)',
  (database, kind) => {
    const HOLD_MS = 15_000;
    let db: SharedDatabase;
    let harness: DeliveryHarness;
    let holder: { release(): Promise<void>; kill(): void } | undefined;
    const names: string[] = [];

    beforeAll(async () => {
      db = await createSharedDatabase(kind);
      harness = await createDeliveryHarness({ knex: db.knex });
    });

    afterAll(async () => {
      holder?.kill();
      await harness?.close();
      await deleteServiceObjects(harness?.cluster, names);
      await db?.destroy();
    });

    it('the deploy another replica runs is taken over once the lock is gone, not failed, rolled back or run twice', async () => {
      const h = harness;
      const name = uniqueName('locked');
      names.push(name);
      const { entity, writeManifest } = entityWithManifest({
        name,
        manifest: checkoutserviceManifest(name),
      });
      const v3 = await h.settle(
        (
          await queueDeploy(h, entity, '0.1.3')
        ).id,
        90_000,
      );
      expect(`${v3.status}: ${v3.message}`).toBe('succeeded: 0.1.3 is serving');

      writeManifest(
        checkoutserviceManifest(name, {
          minReadySeconds: 8,
          paymentTimeout: '9s',
        }),
      );
      const v4 = await queueDeploy(h, entity, '0.1.4');
      await waitUntil(
        async () =>
          (
            await h.store.getDeployment(v4.id)
          ).steps.some(s => s.name === 'Rollout' && s.status === 'running'),
        { timeoutMs: 60_000, intervalMs: 25 },
      );
      holder = await frozenWriteLockHolder(db.connection, v4.id);
      const lockedAt = Date.now();
      await new Promise(resolve => setTimeout(resolve, HOLD_MS));
      // (On SQLite this process's event loop was blocked by the busy waits: longer.)
      const heldMs = Date.now() - lockedAt;
      holder.kill();
      const done = await h.settle(v4.id, 180_000);
      printFigures(`write lock held by a frozen process (${database})`, {
        heldMs,
        leaseMs: h.config.runner.leaseMs,
        outcome: `${done.status} at attempt ${done.attempts}, ${
          Date.parse(done.finishedAt ?? '') - lockedAt
        } ms after the lock was taken`,
      });
      expect(`${done.status}: ${done.message}`).toBe(
        'succeeded: 0.1.4 is serving',
      );
      // Attempt 1 stopped at the lost lease; attempt 2 ran it from the start.
      expect(done.attempts).toBe(2);
      expect(stepOutcomes(done)).toEqual([
        'Dry run:succeeded',
        'Apply:succeeded',
        'Rollout:failed',
        'Resume:succeeded',
        ...ROLLING_STEPS_SUCCEEDED,
      ]);
      expect(done.steps[2].message).toMatch(/^Interrupted: the runner stopped/);
      expect(await servingInDev(h.cluster, name)).toEqual({
        objects: await renderedInDev(h, done.entityRef, '0.1.4'),
        image: `example.test/boutique/${name}:0.1.4`,
        allAvailable: true,
        paymentTimeout: '9s',
      });
    });
  },
);
