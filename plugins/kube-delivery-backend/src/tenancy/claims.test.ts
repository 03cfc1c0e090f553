import {
  mockCredentials,
  type TestBackend,
} from '@backstage/backend-test-utils';
import { getDevCluster } from '@internal/devcluster';
import type { Knex } from 'knex';
import request from 'supertest';
import { startDeliveryBackend } from '../__testUtils__/deliveryBackend';
import { uniqueName } from '../__testUtils__/deliveryHarness';
import { UserPolicy } from '../__testUtils__/realPermissions';
import {
  createTestDatabases,
  TEST_DATABASE_IDS,
} from '../__testUtils__/testDatabases';
import { DatabaseClaimStore } from './ClaimStore';

jest.setTimeout(120_000);

const API = '/api/kube-delivery';
const ADMIN = 'user:default/platform-admin';

/**
 * Name claims: the store on SQLite and PostgreSQL, and their release through
 * the HTTP API, decided by Backstage's permission backend with a real policy
 * (only the platform admin may release a claim).
 */
describe('name claims', () => {
  const databases = createTestDatabases();

  describe.each(TEST_DATABASE_IDS)('store on %s', databaseId => {
    let store: DatabaseClaimStore;
    beforeAll(async () => {
      const knex = await databases.init(databaseId);
      store = await DatabaseClaimStore.create({
        database: { getClient: async () => knex } as any,
      });
    });

    it('gives a name to one entity per environment, all or nothing', async () => {
      const name = uniqueName('svc');
      await store.claim('dev', 'component:default/a', [
        { kind: 'service', name },
        { kind: 'host', name: `${name}.example` },
      ]);
      // Again by the same entity, in another case: nothing changes.
      await store.claim('dev', 'Component:default/A', [
        { kind: 'service', name },
      ]);
      await expect(
        store.claim('dev', 'resource:default/a', [
          { kind: 'service', name: `${name}-other` },
          { kind: 'host', name: `${name}.example` },
        ]),
      ).rejects.toThrow(
        `The host name "${name}.example" in environment "dev" belongs to component:default/a, not to resource:default/a`,
      );
      // All or nothing: the first name of the refused claim was not taken.
      const claims = await store.list('dev');
      expect(
        claims
          .filter(c => c.name.startsWith(name))
          .map(c => c.name)
          .sort(),
      ).toEqual([name, `${name}.example`]);
      // Another environment is another namespace of names.
      await store.claim('test', 'resource:default/a', [
        { kind: 'service', name },
      ]);
    });

    it('lets exactly one of many concurrent claims of a name win', async () => {
      const name = uniqueName('race');
      const results = await Promise.allSettled(
        Array.from({ length: 8 }, (_, i) =>
          store.claim('dev', `component:team-${i}/${name}`, [
            { kind: 'service', name },
          ]),
        ),
      );
      expect(results.filter(r => r.status === 'fulfilled')).toHaveLength(1);
      expect(
        (await store.list('dev')).filter(c => c.name === name),
      ).toHaveLength(1);
    });
  });

  describe('release through the HTTP API (permission backend, real policy)', () => {
    let knex: Knex;
    let backend: TestBackend;
    let store: DatabaseClaimStore;
    const policy = new UserPolicy(
      (permission, user) =>
        permission === 'kube-delivery.claim.delete' && user === ADMIN,
    );
    const name = uniqueName('gone');
    const url = `${API}/environments/dev/claims/service/${name}`;

    beforeAll(async () => {
      knex = await databases.init('SQLITE_3');
      store = new DatabaseClaimStore(knex);
      backend = await startDeliveryBackend({
        cluster: await getDevCluster(),
        knex,
        entities: [],
        permission: { policy },
      });
      await store.claim('dev', `component:default/${name}`, [
        { kind: 'service', name },
      ]);
    });

    afterAll(async () => {
      await backend?.stop();
    });

    const held = async () =>
      (await store.list('dev')).some(c => c.name === name);

    it('refuses everyone but the platform admin, and keeps the claim', async () => {
      const anonymous = await request(backend.server).delete(url);
      expect(anonymous.status).toBe(401);
      const user = await request(backend.server)
        .delete(url)
        .set(
          'Authorization',
          mockCredentials.user.header('user:default/mallory'),
        );
      expect(user.status).toBe(403);
      expect(user.body.error.message).toContain(
        'releasing a claim is for platform admins',
      );
      // The permission client lets a service principal through without the
      // policy: the endpoint takes none.
      const service = await request(backend.server)
        .delete(url)
        .set('Authorization', mockCredentials.service.header());
      expect(service.status).toBe(403);
      expect(await held()).toBe(true);
      expect(policy.asked).toContainEqual({
        permission: 'kube-delivery.claim.delete',
        user: 'user:default/mallory',
      });
    });

    it('lists the claim to anyone signed in, and releases it for the platform admin', async () => {
      const listed = await request(backend.server)
        .get(`${API}/environments/dev/claims`)
        .set(
          'Authorization',
          mockCredentials.user.header('user:default/mallory'),
        );
      expect(listed.status).toBe(200);
      expect(listed.body.items).toContainEqual(
        expect.objectContaining({
          kind: 'service',
          name,
          entityRef: `component:default/${name}`,
        }),
      );
      const released = await request(backend.server)
        .delete(url)
        .set('Authorization', mockCredentials.user.header(ADMIN));
      expect(released.status).toBe(200);
      expect(released.body).toMatchObject({
        kind: 'service',
        name,
        environment: 'dev',
      });
      expect(await held()).toBe(false);
      const again = await request(backend.server)
        .delete(url)
        .set('Authorization', mockCredentials.user.header(ADMIN));
      expect(again.status).toBe(404);
    });
  });
});
