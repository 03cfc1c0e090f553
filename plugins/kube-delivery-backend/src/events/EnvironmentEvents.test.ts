import { mockServices } from '@backstage/backend-test-utils';
import type { Knex } from 'knex';
import {
  TEST_DATABASE_IDS,
  createTestDatabases,
} from '../__testUtils__/testDatabases';
import { migratedClient } from '../database/migrate';
import { EnvironmentEvents } from './EnvironmentEvents';

jest.setTimeout(60_000);

describe('EnvironmentEvents', () => {
  const databases = createTestDatabases();

  describe.each(TEST_DATABASE_IDS)('on %p', databaseId => {
    let knex: Knex;
    let events: EnvironmentEvents;
    let logger: ReturnType<typeof mockServices.logger.mock>;

    beforeEach(async () => {
      knex = await databases.init(databaseId);
      await migratedClient({ getClient: async () => knex } as any);
      logger = mockServices.logger.mock();
      events = new EnvironmentEvents(knex, logger);
    });
    afterEach(async () => {
      await knex.destroy();
    });

    it('keeps the service an event concerns, and none for environment-wide ones', async () => {
      await events.record({
        environment: 'dev',
        entityRef: 'component:default/adservice',
        kind: 'route-changed',
        message: 'rule added',
        details: { ruleId: 'r1' },
        actor: 'user:default/a',
      });
      const { items } = await events.list({
        environment: 'dev',
        limit: 10,
      });
      expect(items.map(e => [e.kind, e.entityRef])).toEqual([
        ['route-changed', 'component:default/adservice'],
      ]);
      await events.record({
        environment: 'dev',
        kind: 'health-changed',
        message: 'ok → error',
        details: {},
        actor: 'kube-delivery:health-check',
      });
      const [newest] = (await events.list({ environment: 'dev', limit: 1 }))
        .items;
      expect(newest.kind).toBe('health-changed');
      expect(newest).not.toHaveProperty('entityRef');
    });

    it('pages events newest first with a cursor', async () => {
      for (let i = 0; i < 5; i++) {
        await events.record({
          environment: 'test',
          kind: 'promotion-refused',
          message: `refused ${i}`,
          details: {},
          actor: 'user:default/a',
        });
      }
      await events.record({
        environment: 'dev',
        kind: 'promotion-refused',
        message: 'elsewhere',
        details: {},
        actor: 'user:default/a',
      });
      const page1 = await events.list({ environment: 'test', limit: 3 });
      expect(page1.items.map(e => e.message)).toEqual([
        'refused 4',
        'refused 3',
        'refused 2',
      ]);
      expect(page1.nextCursor).toBeDefined();
      const page2 = await events.list({
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

    it('never throws: a failed write is logged, naming the event', async () => {
      await knex.schema.dropTable('kd_environment_events');
      await expect(
        events.record({
          environment: 'dev',
          kind: 'certificate-changed',
          message: 'certificate uploaded',
          details: {},
          actor: 'user:default/a',
        }),
      ).resolves.toBeUndefined();
      expect(logger.warn).toHaveBeenCalledWith(
        'Could not record in the timeline: certificate uploaded',
        expect.objectContaining({ environment: 'dev' }),
      );
    });
  });
});
