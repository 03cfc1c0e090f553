import {
  resolvePackagePath,
  type DatabaseService,
} from '@backstage/backend-plugin-api';
import type { Knex } from 'knex';

const migrationsDir = resolvePackagePath(
  '@internal/plugin-kube-delivery-backend',
  'migrations',
);

/**
 * The plugin's database client, migrated to the latest schema unless the
 * app (`migrations.skip`) or the caller (`skipMigrations`) says not to.
 */
export async function migratedClient(
  database: DatabaseService,
  skipMigrations = false,
): Promise<Knex> {
  const client = await database.getClient();
  if (!database.migrations?.skip && !skipMigrations) {
    await client.migrate.latest({ directory: migrationsDir });
  }
  return client;
}
