import { TestDatabases } from '@backstage/backend-test-utils';

/**
 * SQLite and PostgreSQL for the store tests. scripts/test.sh starts PostgreSQL
 * and sets KD_TEST_POSTGRES_URL; without it the PostgreSQL cases fail loudly
 * rather than disappear.
 */
export function createTestDatabases() {
  const postgresUrl = process.env.KD_TEST_POSTGRES_URL;
  if (postgresUrl) {
    process.env.BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING =
      postgresUrl;
  }
  const databases = TestDatabases.create({
    ids: ['POSTGRES_15', 'SQLITE_3'],
    disableDocker: true,
  });
  return databases;
}

export const TEST_DATABASE_IDS = ['POSTGRES_15', 'SQLITE_3'] as const;
