import { ConflictError } from '@backstage/errors';
import {
  TEST_DATABASE_IDS,
  createTestDatabases,
} from '../__testUtils__/testDatabases';
import { DatabaseRouteStore, type NewRouteRule } from './RouteStore';

jest.setTimeout(60_000);

const HOUR = 3600_000;

function newRule(overrides: Partial<NewRouteRule> = {}): NewRouteRule {
  return {
    entityRef: 'component:default/adservice',
    environment: 'dev',
    service: 'adservice',
    branch: 'myfeature',
    kind: 'header',
    key: 'userid',
    value: 'alice',
    owner: 'user:default/ada',
    expiresAt: new Date(Date.now() + HOUR).toISOString(),
    ...overrides,
  };
}

describe('DatabaseRouteStore', () => {
  const databases = createTestDatabases();

  it.each(TEST_DATABASE_IDS)(
    'stores, lists, refuses duplicates and deletes on %p',
    async databaseId => {
      const knex = await databases.init(databaseId);
      const store = await DatabaseRouteStore.create({
        database: { getClient: async () => knex } as any,
      });

      const alice = await store.create(newRule());
      const bob = await store.create(newRule({ value: 'bob' }));
      await store.create(newRule({ environment: 'test' }));
      await expect(
        store.create(newRule({ branch: 'other' })),
      ).rejects.toBeInstanceOf(ConflictError);

      expect(await store.get(alice.id)).toEqual(alice);
      expect(await store.get('not-a-uuid')).toBeUndefined();
      const dev = await store.list({
        entityRef: alice.entityRef,
        environment: 'dev',
        now: new Date(),
      });
      expect(dev.map(r => r.id)).toEqual([alice.id, bob.id]);
      expect(await store.list({ entityRef: alice.entityRef })).toHaveLength(3);

      // An expired rule is left out of live listings and does not block a new one.
      const expired = await store.create(
        newRule({
          value: 'carol',
          expiresAt: new Date(Date.now() - 1000).toISOString(),
        }),
      );
      expect(
        (
          await store.list({
            entityRef: alice.entityRef,
            environment: 'dev',
            now: new Date(),
          })
        ).map(r => r.id),
      ).not.toContain(expired.id);
      const carol = await store.create(newRule({ value: 'carol' }));
      expect(await store.get(expired.id)).toBeUndefined();

      expect(
        await store.delete('component:default/other', carol.id),
      ).toBeUndefined();
      expect(await store.delete(alice.entityRef, carol.id)).toEqual(carol);
      expect(await store.delete(alice.entityRef, carol.id)).toBeUndefined();
      await knex.destroy();
    },
  );

  it.each(TEST_DATABASE_IDS)(
    'extends, deletes a branch and sweeps expired rules on %p',
    async databaseId => {
      const knex = await databases.init(databaseId);
      const store = await DatabaseRouteStore.create({
        database: { getClient: async () => knex } as any,
      });
      const ref = 'component:default/adservice';
      const mine = await store.create(newRule());
      const other = await store.create(
        newRule({ value: 'bob', branch: 'other' }),
      );
      const inTest = await store.create(
        newRule({ value: 'carl', environment: 'test' }),
      );
      const stale = await store.create(
        newRule({
          value: 'dora',
          expiresAt: new Date(Date.now() - 1000).toISOString(),
        }),
      );

      const later = new Date(Date.now() + 5 * HOUR).toISOString();
      expect(await store.setExpiry(ref, mine.id, later)).toEqual({
        ...mine,
        expiresAt: later,
      });
      expect(
        await store.setExpiry('component:default/other', mine.id, later),
      ).toBeUndefined();
      expect(await store.setExpiry(ref, 'not-a-uuid', later)).toBeUndefined();

      expect(
        (await store.listTargets(new Date()))
          .map(t => `${t.environment}:${t.service}:${t.entityRef}`)
          .sort(),
      ).toEqual([`dev:adservice:${ref}`, `test:adservice:${ref}`]);
      expect(
        await store.listTargets(new Date(), {
          entityRef: ref,
          environment: 'test',
        }),
      ).toEqual([
        { entityRef: ref, environment: 'test', service: 'adservice' },
      ]);
      expect(
        await store.listTargets(new Date(), {
          entityRef: 'component:default/other',
          environment: 'test',
        }),
      ).toEqual([]);
      const swept = await store.deleteExpired(new Date());
      expect(swept.map(r => r.id)).toEqual([stale.id]);
      // Another replica sweeping at the same time reports nothing twice.
      expect(await store.deleteExpired(new Date())).toEqual([]);

      const removed = await store.deleteBranch(ref, 'dev', 'myfeature');
      expect(removed.map(r => r.id)).toEqual([mine.id]);
      expect(
        (await store.list({ entityRef: ref })).map(r => r.id).sort(),
      ).toEqual([other.id, inTest.id].sort());
      await knex.destroy();
    },
  );
});
