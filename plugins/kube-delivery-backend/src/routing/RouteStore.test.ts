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
});
