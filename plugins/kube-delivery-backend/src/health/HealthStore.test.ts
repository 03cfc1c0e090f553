import { resolvePackagePath } from '@backstage/backend-plugin-api';
import { mockServices } from '@backstage/backend-test-utils';
import type { Knex } from 'knex';
import {
  TEST_DATABASE_IDS,
  createTestDatabases,
} from '../__testUtils__/testDatabases';
import { EnvironmentEvents } from '../events';
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
      const { items } = await new EnvironmentEvents(
        knex,
        mockServices.logger.mock(),
      ).list({ environment: 'dev', limit: 10 });
      expect(items).toEqual([
        expect.objectContaining({ ...event, environment: 'dev' }),
      ]);
    });
  });
});
