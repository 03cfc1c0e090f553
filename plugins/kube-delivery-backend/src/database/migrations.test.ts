import { resolvePackagePath } from '@backstage/backend-plugin-api';
import fs from 'node:fs';
import { TEST_DATABASE_IDS, createTestDatabases } from '../__testUtils__/testDatabases';

const migrationsDir = resolvePackagePath(
  '@internal/plugin-kube-delivery-backend',
  'migrations',
);
const migrationFiles = fs
  .readdirSync(migrationsDir)
  .filter(name => name.endsWith('.js'))
  .sort();

jest.setTimeout(60_000);

describe('migrations', () => {
  const databases = createTestDatabases();

  it.each(TEST_DATABASE_IDS)(
    'go up and down one step at a time on %p',
    async databaseId => {
      const knex = await databases.init(databaseId);
      for (const _ of migrationFiles) {
        await knex.migrate.up({ directory: migrationsDir });
      }
      expect(await knex.schema.hasTable('kd_releases')).toBe(true);
      expect(await knex.schema.hasTable('kd_deployments')).toBe(true);

      for (const _ of migrationFiles) {
        await knex.migrate.down({ directory: migrationsDir });
      }
      expect(await knex.schema.hasTable('kd_deployments')).toBe(false);
      expect(await knex.schema.hasTable('kd_releases')).toBe(false);
      await knex.destroy();
    },
  );
});
