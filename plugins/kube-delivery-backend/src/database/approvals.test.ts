import { ConflictError } from '@backstage/errors';
import type { Knex } from 'knex';
import { DatabaseDeliveryStore, type NewDeployment } from './DeliveryStore';
import {
  TEST_DATABASE_IDS,
  createTestDatabases,
} from '../__testUtils__/testDatabases';

jest.setTimeout(60_000);

const entityRef = 'component:default/cart';
const requester = 'user:default/ada';
const approver = 'user:default/grace';

describe('DatabaseDeliveryStore approvals', () => {
  const databases = createTestDatabases();

  describe.each(TEST_DATABASE_IDS)('on %p', databaseId => {
    let knex: Knex;
    let store: DatabaseDeliveryStore;
    let waiting: NewDeployment;

    beforeEach(async () => {
      knex = await databases.init(databaseId);
      store = await DatabaseDeliveryStore.create({
        database: { getClient: async () => knex } as any,
      });
      const release = await store.createRelease({
        entityRef,
        version: '1.2.0',
        imageRef: 'example/cart:1.2.0',
        channel: 'default',
        createdBy: 'service:ci',
        snapshot: { spec: { name: 'cart' } },
      });
      waiting = {
        entityRef,
        environment: 'production',
        track: 'mainline',
        releaseId: release.id,
        version: release.version,
        kind: 'deploy',
        strategy: 'rolling',
        createdBy: requester,
        approval: {
          state: 'waiting',
          expiresAt: Date.now() + 60_000,
          event: {
            kind: 'approval-requested',
            actor: requester,
            message: 'Deployment of 1.2.0 to production waits for approval',
          },
        },
      };
    });
    afterEach(async () => {
      await knex.destroy();
    });

    const events = () =>
      knex('kd_environment_events')
        .where({ entity_ref: entityRef })
        .orderBy([
          { column: 'created_at', order: 'asc' },
          { column: 'id', order: 'asc' },
        ])
        .select('kind', 'actor', 'environment', 'details');

    it('stores a waiting deployment that holds its track, is never claimed, and writes the request event with it', async () => {
      const created = await store.createDeployment(waiting);
      expect(created).toMatchObject({
        status: 'waiting-approval',
        message: 'Deployment of 1.2.0 to production waits for approval',
        approval: {
          state: 'waiting',
          expiresAt: new Date(
            waiting.approval!.state === 'waiting'
              ? waiting.approval!.expiresAt
              : 0,
          ).toISOString(),
        },
      });
      expect((await store.listActive(entityRef)).map(d => d.id)).toEqual([
        created.id,
      ]);
      // The track is taken: a second request is the usual conflict.
      await expect(store.createDeployment(waiting)).rejects.toBeInstanceOf(
        ConflictError,
      );
      expect(await store.claimNext('replica-a', 10_000)).toBeUndefined();
      const [event] = await events();
      expect(event).toMatchObject({
        kind: 'approval-requested',
        actor: requester,
        environment: 'production',
      });
      expect(JSON.parse(event.details)).toEqual({
        deploymentId: created.id,
        version: '1.2.0',
        deploymentKind: 'deploy',
      });
    });

    it('queues an approved deployment for the runner, once', async () => {
      const created = await store.createDeployment(waiting);
      const decision = {
        state: 'approved' as const,
        by: approver,
        at: Date.now(),
        message: `Approved by ${approver}`,
        event: {
          kind: 'approval-granted' as const,
          actor: approver,
          message: 'approved',
        },
      };
      const approved = await store.decideApproval(created.id, decision);
      expect(approved).toMatchObject({
        status: 'queued',
        approval: { state: 'approved', decidedBy: approver },
      });
      // A second decision finds nothing waiting and writes nothing.
      expect(await store.decideApproval(created.id, decision)).toBeUndefined();
      expect((await store.claimNext('replica-a', 10_000))?.id).toBe(created.id);
      expect((await events()).map(e => e.kind)).toEqual([
        'approval-requested',
        'approval-granted',
      ]);
    });

    it('finishes rejected and expired deployments, freeing the track; an expired one cannot be approved', async () => {
      const rejected = await store.createDeployment(waiting);
      const now = Date.now();
      expect(
        await store.decideApproval(rejected.id, {
          state: 'rejected',
          by: approver,
          at: now,
          reason: 'freeze until Monday',
          message: `Rejected by ${approver}: freeze until Monday`,
          event: {
            kind: 'approval-rejected',
            actor: approver,
            message: 'rejected',
          },
        }),
      ).toMatchObject({
        status: 'rejected',
        finishedAt: new Date(now).toISOString(),
        approval: { state: 'rejected', reason: 'freeze until Monday' },
      });
      expect(await store.listActive(entityRef)).toEqual([]);

      const lapsed = await store.createDeployment({
        ...waiting,
        approval: {
          ...waiting.approval!,
          state: 'waiting',
          expiresAt: Date.now() - 1,
        } as NewDeployment['approval'],
      });
      const later = Date.now();
      expect(
        (await store.listExpiredApprovals(later, 10)).map(d => d.id),
      ).toEqual([lapsed.id]);
      expect(
        await store.listExpiredApprovals(later, 10, {
          entityRef,
          environment: 'test',
        }),
      ).toEqual([]);
      const approve = {
        state: 'approved' as const,
        by: approver,
        at: later,
        message: 'Approved',
        event: {
          kind: 'approval-granted' as const,
          actor: approver,
          message: 'approved',
        },
      };
      expect(await store.decideApproval(lapsed.id, approve)).toBeUndefined();
      expect(
        await store.decideApproval(lapsed.id, {
          state: 'expired',
          by: 'kube-delivery:approval-expiry',
          at: later,
          message: 'Expired',
          event: {
            kind: 'approval-expired',
            actor: 'kube-delivery:approval-expiry',
            message: 'expired',
          },
        }),
      ).toMatchObject({ status: 'expired', approval: { state: 'expired' } });
      expect(await store.listActive(entityRef)).toEqual([]);
      expect(await store.listExpiredApprovals(Date.now(), 10)).toEqual([]);
      expect((await events()).map(e => e.kind)).toEqual([
        'approval-requested',
        'approval-rejected',
        'approval-requested',
        'approval-expired',
      ]);
    });

    it('queues a bypassed deployment at once and records who bypassed', async () => {
      const created = await store.createDeployment({
        ...waiting,
        approval: {
          state: 'bypassed',
          by: approver,
          event: {
            kind: 'approval-bypassed',
            actor: approver,
            message: 'bypassed',
          },
        },
      });
      expect(created).toMatchObject({
        status: 'queued',
        approval: { state: 'bypassed', decidedBy: approver },
      });
      expect((await store.claimNext('replica-a', 10_000))?.id).toBe(created.id);
      expect((await events()).map(e => e.kind)).toEqual(['approval-bypassed']);
    });
  });
});
