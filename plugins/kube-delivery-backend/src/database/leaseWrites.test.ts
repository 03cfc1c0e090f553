import type { Knex } from 'knex';
import { printFigures } from '../__testUtils__/figures';
import {
  createSharedDatabase,
  frozenWriteLockHolder,
  knexForShared,
  SHARED_DATABASES,
  type SharedDatabase,
} from '../__testUtils__/sharedDatabase';
import { DatabaseDeliveryStore } from './DeliveryStore';

jest.setTimeout(60_000);

const LEASE_MS = 1500;

/**
 * A lease holder's writes (renewals, progress) while another process holds
 * the database's write lock: they land once the lock is released within the
 * lease; past the lease they report the lease lost (false), never an error.
 * On a SQLite file a locked write fails with SQLITE_BUSY after the busy
 * timeout (here 200 ms): the store waits that out while the lease lasts. On
 * PostgreSQL the write waits for the row lock.
 */
describe.each(SHARED_DATABASES)(
  'lease writes while another process holds the write lock (%s)',
  (database, kind) => {
    let db: SharedDatabase;
    let knex: Knex;
    let store: DatabaseDeliveryStore;
    let holder: { release(): Promise<void>; kill(): void } | undefined;

    beforeAll(async () => {
      db = await createSharedDatabase(kind);
      knex = knexForShared(db.connection, { busyTimeoutMs: 200 });
      store = await DatabaseDeliveryStore.create({
        database: { getClient: async () => knex } as any,
      });
    });
    afterEach(() => holder?.kill());
    afterAll(async () => {
      await knex?.destroy();
      await db?.destroy();
    });

    let serial = 0;
    async function claimed(owner: string) {
      const version = `0.1.${serial++}`;
      const entityRef = `component:default/lock-${version.replace(/\./g, '-')}`;
      const release = await store.createRelease({
        entityRef,
        version,
        imageRef: `example/lock:${version}`,
        channel: 'default',
        createdBy: 'user:default/ada',
        snapshot: { spec: { name: 'lock' }, manifest: undefined },
      });
      const deployment = await store.createDeployment({
        entityRef,
        environment: 'dev',
        track: 'mainline',
        releaseId: release.id,
        version,
        kind: 'deploy',
        strategy: 'rolling',
        createdBy: 'user:default/ada',
      });
      const claim = await store.claimNext(owner, LEASE_MS);
      expect(claim?.id).toBe(deployment.id);
      return deployment.id;
    }

    it('a progress write and a renewal wait for a lock released within the lease, and land', async () => {
      const id = await claimed('replica-a');
      holder = await frozenWriteLockHolder(db.connection, id);
      const started = Date.now();
      const releasing = new Promise(resolve => setTimeout(resolve, 600)).then(
        () => holder!.release(),
      );
      const written = await store.updateDeployment(id, 'replica-a', {
        message: 'progress',
      });
      const renewed = await store.renewLease(id, 'replica-a', LEASE_MS);
      await releasing;
      printFigures(`lease write behind a released lock (${database})`, {
        leaseMs: LEASE_MS,
        writtenAfterMs: Date.now() - started,
      });
      expect({ written, renewed }).toEqual({ written: true, renewed: true });
      expect((await store.getDeployment(id)).message).toBe('progress');
      // Done: the next case's claim must not find this one.
      expect(
        await store.updateDeployment(id, 'replica-a', {
          status: 'succeeded',
          freeLease: true,
        }),
      ).toBe(true);
    });

    it('past the lease, a renewal and a progress write report the lease lost instead of failing, and another replica takes the deployment over', async () => {
      const id = await claimed('replica-b');
      holder = await frozenWriteLockHolder(db.connection, id);
      const started = Date.now();
      // PostgreSQL waits for the row lock: the holder goes once the lease is over.
      const killing = new Promise(resolve =>
        setTimeout(resolve, LEASE_MS + 1000),
      ).then(() => {
        if (kind === 'postgres') holder!.kill();
      });
      const renewed = await store.renewLease(id, 'replica-b', LEASE_MS);
      const written = await store.updateDeployment(id, 'replica-b', {
        message: 'too late',
      });
      const answeredAfterMs = Date.now() - started;
      await killing;
      holder.kill();
      printFigures(
        `lease write behind a lock held past the lease (${database})`,
        {
          leaseMs: LEASE_MS,
          answeredAfterMs,
        },
      );
      expect({ renewed, written }).toEqual({ renewed: false, written: false });
      expect(answeredAfterMs).toBeGreaterThanOrEqual(LEASE_MS - 100);
      // The lock is gone: the deployment is free for another replica.
      let takenOver;
      for (let i = 0; i < 50 && !takenOver; i++) {
        takenOver = await store.claimNext('replica-c', LEASE_MS);
        if (!takenOver) await new Promise(resolve => setTimeout(resolve, 100));
      }
      expect(takenOver).toMatchObject({
        id,
        attempts: 2,
        leaseOwner: 'replica-c',
      });
      expect(
        await store.updateDeployment(id, 'replica-b', { message: 'stale' }),
      ).toBe(false);
      expect((await store.getDeployment(id)).message).not.toBe('stale');
    });
  },
);
