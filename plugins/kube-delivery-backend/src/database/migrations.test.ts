import { resolvePackagePath } from '@backstage/backend-plugin-api';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  TEST_DATABASE_IDS,
  createTestDatabases,
} from '../__testUtils__/testDatabases';

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

  it('are named to sort after every migration added before them', () => {
    // knex runs pending migrations in name order, and the existing ones are
    // dated ahead of the calendar: one named by today's date would run
    // before them on a fresh database. Name a new one after the newest here.
    const addedInOrder = execFileSync(
      'git',
      [
        'log',
        '--reverse',
        '--diff-filter=A',
        '--format=',
        '--name-only',
        '--',
        '.',
      ],
      { cwd: migrationsDir, encoding: 'utf8' },
    )
      .split('\n')
      .map(file => path.basename(file))
      .filter(name => migrationFiles.includes(name));
    expect(addedInOrder.length).toBeGreaterThan(0);
    // Files not committed yet come last, as they will be added last.
    const order = [
      ...addedInOrder,
      ...migrationFiles.filter(name => !addedInOrder.includes(name)),
    ];
    expect(order).toEqual(migrationFiles);
  });

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

  it.each(TEST_DATABASE_IDS)(
    'claims each deployed service name for the entity that deployed it first, on upgrade, on %p',
    async databaseId => {
      const knex = await databases.init(databaseId);
      const claimsMigration = migrationFiles.findIndex(name =>
        name.includes('_name_claims'),
      );
      for (const _ of migrationFiles.slice(0, claimsMigration)) {
        await knex.migrate.up({ directory: migrationsDir });
      }
      const release = (id: string, entityRef: string) => ({
        id,
        entity_ref: entityRef,
        version: '0.1.3',
        image_ref: 'example.test/shop:0.1.3',
        channel: 'default',
        snapshot: '{}',
        created_at: 1,
        created_by: 'user:default/ada',
      });
      const deployment = (
        id: string,
        entityRef: string,
        releaseId: string,
        createdAt: number,
      ) => ({
        id,
        entity_ref: entityRef,
        environment: 'dev',
        track: 'mainline',
        release_id: releaseId,
        version: '0.1.3',
        kind: 'deploy',
        strategy: 'rolling',
        status: 'succeeded',
        active: false,
        created_by: 'user:default/ada',
        created_at: createdAt,
      });
      const [first, second] = [
        'component:default/shop',
        'resource:default/shop',
      ];
      await knex('kd_releases').insert([
        release('00000000-0000-4000-8000-000000000001', first),
        release('00000000-0000-4000-8000-000000000002', second),
      ]);
      // The impostor deployed after the service it collided with.
      await knex('kd_deployments').insert([
        deployment(
          '00000000-0000-4000-8000-000000000011',
          second,
          '00000000-0000-4000-8000-000000000002',
          200,
        ),
        deployment(
          '00000000-0000-4000-8000-000000000012',
          first,
          '00000000-0000-4000-8000-000000000001',
          100,
        ),
      ]);
      await knex.migrate.up({ directory: migrationsDir });
      const claims = await knex('kd_name_claims').select(
        'environment',
        'kind',
        'name',
        'entity_ref',
      );
      expect(claims).toEqual([
        {
          environment: 'dev',
          kind: 'service',
          name: 'shop',
          entity_ref: first,
        },
      ]);
      await knex.destroy();
    },
  );

  it.each(TEST_DATABASE_IDS)(
    'approvals: down finishes waiting deployments as expired and keeps one active deployment per track, on %p',
    async databaseId => {
      const knex = await databases.init(databaseId);
      await knex.migrate.latest({ directory: migrationsDir });
      await knex('kd_releases').insert({
        id: '00000000-0000-4000-8000-000000000001',
        entity_ref: 'component:default/shop',
        version: '1.0.0',
        image_ref: 'example.test/shop:1.0.0',
        channel: 'default',
        snapshot: '{}',
        created_at: 1,
        created_by: 'user:default/ada',
      });
      const deployment = (id: string, environment: string) => ({
        id,
        entity_ref: 'component:default/shop',
        environment,
        track: 'mainline',
        release_id: '00000000-0000-4000-8000-000000000001',
        version: '1.0.0',
        kind: 'deploy',
        strategy: 'rolling',
        status: 'waiting-approval',
        active: true,
        created_by: 'user:default/ada',
        created_at: 2,
        approval: 'waiting',
        approval_expires_at: Date.now() + 60_000,
      });
      await knex('kd_deployments').insert(
        deployment('00000000-0000-4000-8000-000000000011', 'production'),
      );

      await knex.migrate.down({ directory: migrationsDir });
      const [row] = await knex('kd_deployments').select();
      expect(row).toMatchObject({ status: 'expired' });
      expect(Boolean(row.active)).toBe(false);
      expect(row.approval).toBeUndefined();
      // The partial unique index survived the table change.
      const {
        approval: _a,
        approval_expires_at: _e,
        ...old
      } = deployment('00000000-0000-4000-8000-000000000012', 'test');
      await knex('kd_deployments').insert({ ...old, status: 'queued' });
      await expect(
        knex('kd_deployments').insert({
          ...old,
          id: '00000000-0000-4000-8000-000000000013',
          status: 'queued',
        }),
      ).rejects.toThrow(/unique/i);

      await knex.migrate.up({ directory: migrationsDir });
      expect(
        await knex.schema.hasColumn('kd_deployments', 'approval_expires_at'),
      ).toBe(true);
      await knex.destroy();
    },
  );
});
