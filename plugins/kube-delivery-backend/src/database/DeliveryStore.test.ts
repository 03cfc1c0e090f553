import { ConflictError } from '@backstage/errors';
import type { Knex } from 'knex';
import { DatabaseDeliveryStore } from './DeliveryStore';
import { TEST_DATABASE_IDS, createTestDatabases } from '../__testUtils__/testDatabases';

jest.setTimeout(60_000);

const entityRef = 'component:default/adservice';

async function createStore(knex: Knex) {
  return DatabaseDeliveryStore.create({
    database: { getClient: async () => knex } as any,
  });
}

describe('DatabaseDeliveryStore', () => {
  const databases = createTestDatabases();

  describe.each(TEST_DATABASE_IDS)('on %p', databaseId => {
    let knex: Knex;
    let store: DatabaseDeliveryStore;

    beforeEach(async () => {
      knex = await databases.init(databaseId);
      store = await createStore(knex);
    });
    afterEach(async () => {
      await knex.destroy();
    });

    const newRelease = (version: string) =>
      store.createRelease({
        entityRef,
        version,
        imageRef: `example/adservice:${version}`,
        channel: 'default',
        createdBy: 'user:default/ada',
        snapshot: { spec: { name: 'adservice' }, manifest: 'kind: Deployment' },
      });

    it('keeps releases immutable: a second release of a version is a conflict', async () => {
      const release = await newRelease('0.1.3');
      expect((await store.getRelease(release.id)).snapshot.manifest).toBe(
        'kind: Deployment',
      );
      await expect(newRelease('0.1.3')).rejects.toBeInstanceOf(ConflictError);
    });

    it('allows one active deployment per service, environment and track', async () => {
      const release = await newRelease('0.1.3');
      const deployment = {
        entityRef,
        environment: 'dev',
        track: 'mainline',
        releaseId: release.id,
        version: release.version,
        kind: 'deploy' as const,
        strategy: 'rolling' as const,
        createdBy: 'user:default/ada',
      };
      const first = await store.createDeployment(deployment);
      await expect(store.createDeployment(deployment)).rejects.toBeInstanceOf(
        ConflictError,
      );
      // Another track (a feature branch) and another environment are free.
      await store.createDeployment({ ...deployment, track: 'myfeature' });
      await store.createDeployment({ ...deployment, environment: 'test' });

      const claimed = await store.claimNext('replica-a', 10_000);
      expect(claimed?.id).toBe(first.id);
      expect(
        await store.updateDeployment(first.id, 'replica-a', {
          status: 'succeeded',
          finishedAt: Date.now(),
          freeLease: true,
        }),
      ).toBe(true);
      // The track is free again.
      await store.createDeployment(deployment);
      expect((await store.lastSucceeded(entityRef, 'dev', 'mainline'))?.id).toBe(
        first.id,
      );
    });

    it('gives a job to one replica and refuses writes from a replica that lost its lease', async () => {
      const release = await newRelease('0.1.4');
      const queued = await store.createDeployment({
        entityRef,
        environment: 'dev',
        track: 'mainline',
        releaseId: release.id,
        version: release.version,
        kind: 'deploy',
        strategy: 'rolling',
        createdBy: 'user:default/ada',
      });
      const [a, b] = await Promise.all([
        store.claimNext('replica-a', 50),
        store.claimNext('replica-b', 50),
      ]);
      expect([a?.id, b?.id].filter(Boolean)).toEqual([queued.id]);
      const winner = a ? 'replica-a' : 'replica-b';

      await new Promise(resolve => setTimeout(resolve, 80));
      const takeover = await store.claimNext('replica-c', 10_000);
      expect(takeover?.id).toBe(queued.id);
      expect(takeover?.attempts).toBe(2);

      expect(
        await store.updateDeployment(queued.id, winner, { message: 'late' }),
      ).toBe(false);
      expect(await store.renewLease(queued.id, winner, 10_000)).toBe(false);
      expect((await store.getDeployment(queued.id)).message).toBeUndefined();
    });

    it('pages history newest first with a cursor', async () => {
      const release = await newRelease('0.1.5');
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const d = await store.createDeployment({
          entityRef,
          environment: 'dev',
          track: 'mainline',
          releaseId: release.id,
          version: release.version,
          kind: 'deploy',
          strategy: 'rolling',
          createdBy: 'user:default/ada',
        });
        ids.push(d.id);
        await store.claimNext('replica-a', 10_000);
        await store.updateDeployment(d.id, 'replica-a', {
          status: 'succeeded',
          freeLease: true,
        });
      }
      const first = await store.listDeployments({ entityRef, limit: 2 });
      const second = await store.listDeployments({
        entityRef,
        limit: 2,
        before: first.nextCursor,
      });
      const third = await store.listDeployments({
        entityRef,
        limit: 2,
        before: second.nextCursor,
      });
      const seen = [...first.items, ...second.items, ...third.items].map(
        d => d.id,
      );
      expect(new Set(seen).size).toBe(5);
      expect(new Set(seen)).toEqual(new Set(ids));
      expect(third.nextCursor).toBeUndefined();
    });
  });
});
