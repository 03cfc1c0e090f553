import { resolvePackagePath } from '@backstage/backend-plugin-api';
import type { Knex } from 'knex';
import {
  TEST_DATABASE_IDS,
  createTestDatabases,
} from '../__testUtils__/testDatabases';
import { DatabaseHealthStore } from './HealthStore';
import type { EnvironmentHealth } from './types';

jest.setTimeout(60_000);

const migrationsDir = resolvePackagePath(
  '@internal/plugin-kube-delivery-backend',
  'migrations',
);

const health = (
  checkedAt: string,
  status: EnvironmentHealth['status'],
): EnvironmentHealth => ({
  environment: 'dev',
  status,
  checkedAt,
  findings: [{ check: 'cluster', status, message: 'm', action: '' }],
});

describe('DatabaseHealthStore', () => {
  const databases = createTestDatabases();

  describe.each(TEST_DATABASE_IDS)('on %p', databaseId => {
    let knex: Knex;
    let store: DatabaseHealthStore;

    beforeEach(async () => {
      knex = await databases.init(databaseId);
      store = await DatabaseHealthStore.create({
        database: { getClient: async () => knex } as any,
      });
    });
    afterEach(async () => {
      await knex.destroy();
    });

    it('creates its tables and drops them again', async () => {
      expect(await knex.schema.hasTable('kd_environment_health')).toBe(true);
      expect(await knex.schema.hasTable('kd_environment_events')).toBe(true);
      // Undo this store's migration by name: later migrations stay.
      await knex.migrate.down({
        directory: migrationsDir,
        name: '20261201000000_environment_health.js',
      });
      expect(await knex.schema.hasTable('kd_environment_events')).toBe(false);
      expect(await knex.schema.hasTable('kd_environment_health')).toBe(false);
      expect(await knex.schema.hasTable('kd_deployments')).toBe(true);
    });

    it('stores the latest check only over the one it read (compare-and-set)', async () => {
      const first = health('2026-01-01T00:00:00.000Z', 'ok');
      expect(await store.saveHealth(first, undefined)).toBe(true);
      // A second "first" check lost the race.
      expect(
        await store.saveHealth(
          health('2026-01-01T00:00:00.500Z', 'ok'),
          undefined,
        ),
      ).toBe(false);
      expect(await store.getHealth('dev')).toEqual(first);

      const second = health('2026-01-01T00:05:00.000Z', 'error');
      const event = {
        environment: 'dev',
        kind: 'health-changed' as const,
        message: 'ok → error',
        details: { from: 'ok', to: 'error' },
        actor: 'kube-delivery:health-check',
      };
      expect(await store.saveHealth(second, first.checkedAt, event)).toBe(true);
      // Stale expectation: neither the check nor its event is written.
      expect(
        await store.saveHealth(
          health('2026-01-01T00:06:00.000Z', 'ok'),
          first.checkedAt,
          event,
        ),
      ).toBe(false);
      expect(await store.getHealth('dev')).toEqual(second);
      const { items } = await store.listEvents({
        environment: 'dev',
        limit: 10,
      });
      expect(items).toEqual([
        expect.objectContaining({ ...event, environment: 'dev' }),
      ]);
    });

    it('keeps the service an event concerns, and none for environment-wide ones', async () => {
      const routeEvent = await store.addEvent({
        environment: 'dev',
        entityRef: 'component:default/adservice',
        kind: 'route-changed',
        message: 'rule added',
        details: { ruleId: 'r1' },
        actor: 'user:default/a',
      });
      expect(routeEvent.entityRef).toBe('component:default/adservice');
      const { items } = await store.listEvents({
        environment: 'dev',
        limit: 10,
      });
      expect(items.map(e => [e.kind, e.entityRef])).toEqual([
        ['route-changed', 'component:default/adservice'],
      ]);
      const healthEvent = await store.addEvent({
        environment: 'dev',
        kind: 'health-changed',
        message: 'ok → error',
        details: {},
        actor: 'kube-delivery:health-check',
      });
      expect(healthEvent).not.toHaveProperty('entityRef');
    });

    it('pages events newest first with a cursor', async () => {
      for (let i = 0; i < 5; i++) {
        await store.addEvent({
          environment: 'test',
          kind: 'promotion-refused',
          message: `refused ${i}`,
          details: {},
          actor: 'user:default/a',
        });
      }
      await store.addEvent({
        environment: 'dev',
        kind: 'promotion-refused',
        message: 'elsewhere',
        details: {},
        actor: 'user:default/a',
      });
      const page1 = await store.listEvents({ environment: 'test', limit: 3 });
      expect(page1.items.map(e => e.message)).toEqual([
        'refused 4',
        'refused 3',
        'refused 2',
      ]);
      expect(page1.nextCursor).toBeDefined();
      const page2 = await store.listEvents({
        environment: 'test',
        limit: 3,
        before: page1.nextCursor,
      });
      expect(page2.items.map(e => e.message)).toEqual([
        'refused 1',
        'refused 0',
      ]);
      expect(page2.nextCursor).toBeUndefined();
      const all = [...page1.items, ...page2.items];
      expect(new Set(all.map(e => e.id)).size).toBe(5);
      const times = all.map(e => Date.parse(e.createdAt));
      expect([...times].sort((a, b) => b - a)).toEqual(times);
    });
  });
});
