import { DefaultAuditorService } from '@backstage/backend-defaults/auditor';
import {
  coreServices,
  createServiceFactory,
} from '@backstage/backend-plugin-api';
import {
  mockCredentials,
  type TestBackend,
} from '@backstage/backend-test-utils';
import type {
  Deployment,
  ApprovalHistoryEntry,
  HistoryEntry,
} from '@internal/plugin-kube-delivery-common';
import { getDevCluster, type DevCluster } from '@internal/devcluster';
import type { Knex } from 'knex';
import request from 'supertest';
import { adserviceManifest } from '../__testUtils__/boutiqueManifests';
import { startDeliveryBackend } from '../__testUtils__/deliveryBackend';
import {
  entityWithManifest,
  kubectlJson,
  uniqueName,
} from '../__testUtils__/deliveryHarness';
import { printFigures } from '../__testUtils__/figures';
import { UserPolicy } from '../__testUtils__/realPermissions';
import { manualScheduler } from '../__testUtils__/routingScenario';
import { clusterSnapshot } from '../__testUtils__/snapshots';
import { createTestDatabases } from '../__testUtils__/testDatabases';
import { APPROVAL_EXPIRY_TASK_ID, EXPIRY_ACTOR } from './ApprovalService';

jest.setTimeout(300_000);

const API = '/api/kube-delivery';
/** The requester: may deploy everywhere and holds the approve permission (so only the separation of duties refuses her). */
const ALICE = 'user:default/alice';
/** An approver of production. */
const BOB = 'user:default/bob';
/** An SRE who may bypass approvals in an emergency. */
const CAROL = 'user:default/carol';
/** A developer: may deploy, may neither approve nor bypass. */
const DAVE = 'user:default/dave';
const as = (user: string) => mockCredentials.user.header(user);

/** The approvals' expiry in this test: short enough to wait for. */
const EXPIRY_SECONDS = 12;

const DEPLOYERS = new Set([ALICE, BOB, CAROL, DAVE]);
const policy = new UserPolicy((permission, user) => {
  switch (permission) {
    case 'kube-delivery.deployment.approve':
      return [ALICE, BOB, CAROL].includes(user);
    case 'kube-delivery.deployment.bypass-approval':
      return user === CAROL;
    default:
      return DEPLOYERS.has(user);
  }
});

/**
 * Approvals for protected environments through the HTTP API of the real
 * plugin on the local control plane, its permission checks decided by
 * Backstage's permission backend with a real policy.
 */
describe('approvals for protected environments', () => {
  const databases = createTestDatabases();
  const scheduler = manualScheduler();
  const audits: Array<{
    eventId: string;
    severityLevel: string;
    status: string;
    actorId?: string;
    meta?: Record<string, unknown>;
  }> = [];
  const auditor = createServiceFactory({
    service: coreServices.auditor,
    deps: {
      auth: coreServices.auth,
      httpAuth: coreServices.httpAuth,
      plugin: coreServices.pluginMetadata,
    },
    factory: deps =>
      DefaultAuditorService.create(async event => {
        audits.push({
          eventId: event.eventId,
          severityLevel: event.severityLevel,
          status: event.status,
          actorId: event.actor.actorId,
          meta: event.meta,
        });
      }, deps),
  });
  const name = uniqueName('approved');
  const { entity } = entityWithManifest({
    name,
    manifest: adserviceManifest(name),
  });
  const entityRef = `component:default/${name}`;
  const path = `${API}/entities/component/default/${name}`;
  let knex: Knex;
  let cluster: DevCluster;
  let backend: TestBackend;
  const figures: Record<string, number> = {};

  const production = () =>
    clusterSnapshot(cluster, ['production'], `app.kubernetes.io/name=${name}`);
  const get = (url: string, user = ALICE) =>
    request(backend.server).get(url).set('Authorization', as(user));
  const post = (url: string, user: string, body: object = {}) =>
    request(backend.server).post(url).set('Authorization', as(user)).send(body);
  const approve = (id: string, user: string) =>
    post(`${path}/deployments/${id}/approve`, user);
  const reject = (id: string, user: string, reason?: string) =>
    post(
      `${path}/deployments/${id}/reject`,
      user,
      reason === undefined ? {} : { reason },
    );

  /** Waits until the deployment is neither waiting, queued nor running. */
  async function finished(id: string): Promise<Deployment> {
    const deadline = Date.now() + 150_000;
    for (;;) {
      const res = await get(`${path}/deployments/${id}`);
      if (!['queued', 'running'].includes(res.body.status)) return res.body;
      if (Date.now() > deadline) {
        throw new Error(`Deployment ${id}: ${JSON.stringify(res.body)}`);
      }
      await new Promise(resolve => setTimeout(resolve, 200));
    }
  }

  /** The service's production history, oldest first. */
  async function history(): Promise<HistoryEntry[]> {
    const res = await get(`${path}/history?environment=production&limit=100`);
    expect(res.status).toBe(200);
    return [...res.body.items].reverse();
  }

  /** The approval events of a deployment: the history's typed approval entries. */
  const approvalEventsOf =
    (deploymentId: string) =>
    (e: HistoryEntry): e is ApprovalHistoryEntry =>
      e.kind.startsWith('approval-') &&
      (e as ApprovalHistoryEntry).details.deploymentId === deploymentId;

  const approvalEvents = async (deploymentId: string) =>
    (await history())
      .filter(approvalEventsOf(deploymentId))
      .map(e => ({ kind: e.kind, actor: e.actor }));

  beforeAll(async () => {
    knex = await databases.init('SQLITE_3');
    cluster = await getDevCluster();
    backend = await startDeliveryBackend({
      cluster,
      knex,
      entities: [entity],
      permission: { policy },
      configure: config => {
        config.kubeDelivery.approvals = { expiryMinutes: EXPIRY_SECONDS / 60 };
      },
      features: [scheduler.factory, auditor],
    });
    // 1.0.0 runs in dev and test, so it may enter production.
    const release = await post(`${path}/releases`, ALICE, { version: '1.0.0' });
    if (release.status !== 201) {
      throw new Error(`Release 1.0.0: ${JSON.stringify(release.body)}`);
    }
    const steps = [
      ['deployments', { environment: 'dev', version: '1.0.0' }],
      ['promotions', { environment: 'test' }],
    ] as const;
    for (const [route, body] of steps) {
      const queued = await post(`${path}/${route}`, ALICE, body);
      const done = queued.status === 202 && (await finished(queued.body.id));
      if (!done || done.status !== 'succeeded') {
        throw new Error(
          `${route} ${JSON.stringify(body)}: ${JSON.stringify(
            done || queued.body,
          )}`,
        );
      }
    }
  });

  afterAll(async () => {
    await backend?.stop();
    for (const namespace of ['dev', 'test', 'production']) {
      await cluster?.kubectl([
        '-n',
        namespace,
        'delete',
        'deployment,service,serviceaccount,configmap,pdb',
        '-l',
        `app.kubernetes.io/name=${name}`,
        '--ignore-not-found',
      ]);
    }
    printFigures('approvals', figures);
  });

  it('a production deploy waits for approval, with nothing written to the cluster; the requester may not approve it; another approver does and it runs', async () => {
    const before = await production();
    const requestedAt = Date.now();
    const queued = await post(`${path}/deployments`, ALICE, {
      environment: 'production',
      version: '1.0.0',
    });
    expect(queued.status).toBe(202);
    const id = queued.body.id;
    expect(queued.body).toMatchObject({
      status: 'waiting-approval',
      createdBy: ALICE,
      approval: { state: 'waiting', expiresAt: expect.any(String) },
    });
    expect(
      Date.parse(queued.body.approval.expiresAt) - requestedAt,
    ).toBeGreaterThan((EXPIRY_SECONDS - 5) * 1000);
    expect(queued.body.message).toContain('waits for approval');

    // The Environments tab shows it waiting in production.
    const status = await get(`${path}/status`);
    const inProduction = status.body.items.find(
      (s: { environment: string }) => s.environment === 'production',
    );
    expect(inProduction.active).toEqual([
      expect.objectContaining({ id, status: 'waiting-approval' }),
    ]);

    // A second request for the track is the usual conflict.
    const second = await post(`${path}/deployments`, BOB, {
      environment: 'production',
      version: '1.0.0',
    });
    expect(second.status).toBe(409);

    // The requester holds the approve permission, and still may not.
    const own = await approve(id, ALICE);
    expect(own.status).toBe(403);
    expect(own.body.error.message).toBe(
      `Separation of duties: ${ALICE} requested this deployment and may not approve it; another user holding kube-delivery.deployment.approve must (you may reject it)`,
    );
    // Without the permission: a 403 naming it.
    const dave = await approve(id, DAVE);
    expect(dave.status).toBe(403);
    expect(dave.body.error.message).toBe(
      `You may not kube-delivery.deployment.approve on production:${entityRef}; production is protected: ask your platform team`,
    );
    // A token is not a person.
    const service = await request(backend.server)
      .post(`${path}/deployments/${id}/approve`)
      .set('Authorization', mockCredentials.service.header())
      .send({});
    expect(service.status).toBe(403);
    // Nothing ran meanwhile.
    await new Promise(resolve => setTimeout(resolve, 1000));
    expect((await get(`${path}/deployments/${id}`)).body.status).toBe(
      'waiting-approval',
    );
    expect(await production()).toEqual(before);

    const approvedAt = Date.now();
    const approved = await approve(id, BOB);
    expect(approved.status).toBe(200);
    expect(approved.body).toMatchObject({
      status: 'queued',
      approval: { state: 'approved', decidedBy: BOB },
    });
    const done = await finished(id);
    figures.approvedToSucceededMs = Date.now() - approvedAt;
    expect(done.status).toBe('succeeded');
    const live = await kubectlJson(cluster, [
      '-n',
      'production',
      'get',
      'deployment',
      name,
    ]);
    expect(live.spec.template.spec.containers[0].image).toBe(
      `example.test/boutique/${name}:1.0.0`,
    );
    // Approving it again is a conflict naming who approved it.
    const again = await approve(id, CAROL);
    expect(again.status).toBe(409);
    expect(again.body.error.message).toContain(`approved by ${BOB}`);

    expect(await approvalEvents(id)).toEqual([
      { kind: 'approval-requested', actor: ALICE },
      { kind: 'approval-granted', actor: BOB },
    ]);
    const entries = await history();
    expect(entries.find(e => e.id === id)).toMatchObject({
      kind: 'deploy',
      actor: ALICE,
      deployment: { status: 'succeeded', approval: { decidedBy: BOB } },
    });
    // Denied attempts and the approval are auditor events, with who asked.
    expect(
      audits
        .filter(
          a => a.eventId === 'deployment-approve' && a.status !== 'initiated',
        )
        .map(a => [a.actorId, a.status]),
    ).toEqual([
      [ALICE, 'failed'],
      [DAVE, 'failed'],
      [BOB, 'succeeded'],
      [CAROL, 'failed'],
    ]);
  });

  it('a rejection needs a reason and finishes the request without running it', async () => {
    const before = await production();
    const promoted = await post(`${path}/promotions`, ALICE, {
      environment: 'production',
    });
    expect(promoted.body).toMatchObject({
      kind: 'promote',
      status: 'waiting-approval',
    });
    const id = promoted.body.id;
    expect((await reject(id, DAVE, 'no')).status).toBe(403);
    const noReason = await reject(id, BOB);
    expect(noReason.status).toBe(400);
    expect(noReason.body.error.message).toBe('Field "reason" is required');

    // The requester may withdraw their own request.
    const rejected = await reject(id, ALICE, 'Change freeze until Monday');
    expect(rejected.status).toBe(200);
    expect(rejected.body).toMatchObject({
      status: 'rejected',
      finishedAt: expect.any(String),
      message: `Rejected by ${ALICE}: Change freeze until Monday`,
      approval: { state: 'rejected', reason: 'Change freeze until Monday' },
    });
    expect((await approve(id, BOB)).status).toBe(409);
    expect(await production()).toEqual(before);
    const events = (await history()).filter(approvalEventsOf(id));
    expect(events.map(e => [e.kind, e.actor])).toEqual([
      ['approval-requested', ALICE],
      ['approval-rejected', ALICE],
    ]);
    expect(events[1].message).toBe(
      `Promotion of 1.0.0 to production rejected by ${ALICE}: Change freeze until Monday`,
    );
    expect(events[1].details.reason).toBe('Change freeze until Monday');
  });

  it('expires when nobody approves it: by the scheduled task, and when someone approves it too late', async () => {
    const before = await production();
    // A rollback (to what runs) waits like a deploy.
    const release = await get(`${path}/releases`);
    const releaseId = release.body.items[0].id;
    const first = await post(`${path}/rollbacks`, ALICE, {
      environment: 'production',
      releaseId,
    });
    expect(first.body).toMatchObject({
      kind: 'rollback',
      status: 'waiting-approval',
    });
    await scheduler.run(APPROVAL_EXPIRY_TASK_ID);
    expect(
      (await get(`${path}/deployments/${first.body.id}`)).body.status,
    ).toBe('waiting-approval');
    await new Promise(resolve =>
      setTimeout(resolve, EXPIRY_SECONDS * 1000 + 500),
    );
    const sweptAt = Date.now();
    await scheduler.run(APPROVAL_EXPIRY_TASK_ID);
    figures.sweepMs = Date.now() - sweptAt;
    const expired = (await get(`${path}/deployments/${first.body.id}`)).body;
    expect(expired).toMatchObject({
      status: 'expired',
      finishedAt: expect.any(String),
      approval: { state: 'expired', decidedBy: EXPIRY_ACTOR },
    });
    expect(expired.message).toBe(
      `Expired: nobody approved it within ${EXPIRY_SECONDS} seconds (requested by ${ALICE}); request it again`,
    );
    expect(await approvalEvents(first.body.id)).toEqual([
      { kind: 'approval-requested', actor: ALICE },
      { kind: 'approval-expired', actor: EXPIRY_ACTOR },
    ]);

    // The task has not run: an approval after the expiry expires it and is refused.
    const second = await post(`${path}/deployments`, ALICE, {
      environment: 'production',
      version: '1.0.0',
    });
    expect(second.body.status).toBe('waiting-approval');
    await new Promise(resolve =>
      setTimeout(resolve, EXPIRY_SECONDS * 1000 + 500),
    );
    const late = await approve(second.body.id, BOB);
    expect(late.status).toBe(409);
    expect(late.body.error.message).toMatch(
      /^Deployment of 1\.0\.0 to production \(.+\) expired at .+: nobody approved it in time; request it again$/,
    );
    expect(
      (await get(`${path}/deployments/${second.body.id}`)).body,
    ).toMatchObject({
      status: 'expired',
    });
    expect(await production()).toEqual(before);
  });

  it('an emergency bypass needs its own permission, runs at once and is audited as such', async () => {
    const deployments = async () =>
      (await knex('kd_deployments').where({ entity_ref: entityRef })).length;
    const count = await deployments();
    const refused = await post(`${path}/deployments`, DAVE, {
      environment: 'production',
      version: '1.0.0',
      bypassApproval: true,
    });
    expect(refused.status).toBe(403);
    expect(refused.body.error.message).toBe(
      `You may not kube-delivery.deployment.bypass-approval on production:${entityRef}; an emergency bypass is a permission of its own`,
    );
    expect(await deployments()).toBe(count);
    const malformed = await post(`${path}/deployments`, CAROL, {
      environment: 'production',
      version: '1.0.0',
      bypassApproval: 'yes',
    });
    expect(malformed.status).toBe(400);

    const bypassed = await post(`${path}/deployments`, CAROL, {
      environment: 'production',
      version: '1.0.0',
      bypassApproval: true,
    });
    expect(bypassed.status).toBe(202);
    expect(bypassed.body).toMatchObject({
      status: 'queued',
      approval: { state: 'bypassed', decidedBy: CAROL },
    });
    expect((await finished(bypassed.body.id)).status).toBe('succeeded');
    expect(await approvalEvents(bypassed.body.id)).toEqual([
      { kind: 'approval-bypassed', actor: CAROL },
    ]);
    const bypassAudits = audits.filter(
      a =>
        a.eventId === 'deployment-approval-bypass' && a.status !== 'initiated',
    );
    expect(bypassAudits).toEqual([
      expect.objectContaining({
        severityLevel: 'high',
        status: 'failed',
        actorId: DAVE,
      }),
      expect.objectContaining({
        severityLevel: 'high',
        status: 'succeeded',
        actorId: CAROL,
        meta: expect.objectContaining({
          entityRef,
          environment: 'production',
          bypassApproval: true,
          deploymentId: bypassed.body.id,
        }),
      }),
    ]);
    // Into dev nothing needs approval: the flag changes nothing there.
    const dev = await post(`${path}/deployments`, DAVE, {
      environment: 'dev',
      version: '1.0.0',
      bypassApproval: true,
    });
    expect(dev.body).toMatchObject({ status: 'queued' });
    expect(dev.body.approval).toBeUndefined();
    expect((await finished(dev.body.id)).status).toBe('succeeded');
  });
});
