import {
  mockCredentials,
  type TestBackend,
} from '@backstage/backend-test-utils';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { getDevCluster, type DevCluster } from '@internal/devcluster';
import type {
  DeploymentHistoryEntry,
  HistoryEntry,
  ReleaseDetail,
} from '@internal/plugin-kube-delivery-common';
import type { Knex } from 'knex';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { adserviceManifest } from '../__testUtils__/boutiqueManifests';
import { startDeliveryBackend } from '../__testUtils__/deliveryBackend';
import {
  entityWithManifest,
  uniqueName,
} from '../__testUtils__/deliveryHarness';
import {
  createTestDatabases,
  TEST_DATABASE_IDS,
} from '../__testUtils__/testDatabases';

jest.setTimeout(120_000);

const API = '/api/kube-delivery';
const asUser = () => mockCredentials.user.header();

/** The service's manifest with a Secret whose value must never come back. */
function manifestWithSecret(name: string, secret: string, adsPerPage: string) {
  return `${adserviceManifest(name, { adsPerPage })}---
apiVersion: v1
kind: Secret
metadata:
  name: ${name}-keys
stringData:
  API_KEY: ${secret}
`;
}

const mine = entityWithManifest({
  name: uniqueName('history'),
  manifest: '',
});
const other = entityWithManifest({
  name: uniqueName('history-other'),
  manifest: '',
});
const mineName = mine.entity.metadata.name;
const otherName = other.entity.metadata.name;
const mineRef = `component:default/${mineName}`;
const otherRef = `component:default/${otherName}`;
const entityPath = (name: string) =>
  `${API}/entities/component/default/${name}`;

const T0 = Date.now() - 3_600_000;
const step = (name: string, startMs: number, endMs: number) => ({
  name,
  status: 'succeeded',
  startedAt: new Date(startMs).toISOString(),
  finishedAt: new Date(endMs).toISOString(),
});

describe.each(TEST_DATABASE_IDS)('Release history on %s', databaseId => {
  const databases = createTestDatabases();
  let cluster: DevCluster;
  let knex: Knex;
  let allowed: TestBackend;
  let denied: TestBackend;
  const releases: Record<'r1' | 'r2' | 'otherRelease', string> = {
    r1: '',
    r2: '',
    otherRelease: '',
  };
  /** Entry ids of `mine`, newest first, as the timeline must list them. */
  let expectedOrder: string[];
  /** The 409's message when promoting `mine` to dev. */
  let refusal: string;
  const ids = {
    deploy: randomUUID(),
    promote: randomUUID(),
    rollback: randomUUID(),
    restart: randomUUID(),
    route: randomUUID(),
    certificate: randomUUID(),
    otherRoute: randomUUID(),
    health: randomUUID(),
    otherDeploy: randomUUID(),
  };

  async function createRelease(name: string, version: string): Promise<string> {
    const res = await request(allowed.server)
      .post(`${entityPath(name)}/releases`)
      .set('Authorization', asUser())
      .send({ version });
    expect(res.status).toBe(201);
    return res.body.id;
  }

  function deploymentRow(options: {
    id: string;
    entityRef: string;
    environment: string;
    releaseId: string;
    version: string;
    kind: string;
    status: string;
    at: number;
  }) {
    return {
      id: options.id,
      entity_ref: options.entityRef,
      environment: options.environment,
      track: 'mainline',
      release_id: options.releaseId,
      version: options.version,
      kind: options.kind,
      strategy: 'rolling',
      status: options.status,
      active: false,
      phase: 'done',
      steps: JSON.stringify([
        step('dry run', options.at + 10, options.at + 200),
        step('apply', options.at + 200, options.at + 1200),
      ]),
      message: `${options.kind} ${options.version} ${options.status}`,
      created_by: 'user:default/jane',
      created_at: options.at,
      started_at: options.at + 10,
      finished_at: options.at + 1200,
      lease_owner: 'runner-1',
      lease_expires_at: options.at + 5000,
      attempts: 1,
    };
  }

  function eventRow(options: {
    id: string;
    kind: string;
    entityRef: string | null;
    at: number;
  }) {
    return {
      id: options.id,
      environment: 'dev',
      kind: options.kind,
      entity_ref: options.entityRef,
      message: `${options.kind} by the test`,
      details: JSON.stringify({ branch: 'myfeature' }),
      actor: 'user:default/joe',
      created_at: options.at,
    };
  }

  beforeAll(async () => {
    cluster = await getDevCluster();
    knex = await databases.init(databaseId);
    const entities = [mine.entity, other.entity];
    allowed = await startDeliveryBackend({
      cluster,
      knex,
      entities,
      permission: AuthorizeResult.ALLOW,
    });
    denied = await startDeliveryBackend({
      cluster,
      knex,
      entities,
      permission: AuthorizeResult.DENY,
    });

    mine.writeManifest(manifestWithSecret(mineName, 'hunter2-first', '2'));
    releases.r1 = await createRelease(mineName, '0.1.0');
    mine.writeManifest(manifestWithSecret(mineName, 'hunter2-second', '5'));
    releases.r2 = await createRelease(mineName, '0.2.0');
    other.writeManifest(adserviceManifest(otherName));
    releases.otherRelease = await createRelease(otherName, '0.1.0');

    const rows = [
      [ids.deploy, 'dev', 'r1', '0.1.0', 'deploy', 'succeeded', T0],
      [ids.promote, 'test', 'r1', '0.1.0', 'promote', 'succeeded', T0 + 1000],
      [ids.rollback, 'dev', 'r1', '0.1.0', 'rollback', 'succeeded', T0 + 2000],
      [ids.restart, 'dev', 'r2', '0.2.0', 'restart', 'failed', T0 + 3000],
    ] as const;
    await knex('kd_deployments').insert([
      ...rows.map(([id, environment, release, version, kind, status, at]) =>
        deploymentRow({
          id,
          entityRef: mineRef,
          environment,
          releaseId: releases[release],
          version,
          kind,
          status,
          at,
        }),
      ),
      deploymentRow({
        id: ids.otherDeploy,
        entityRef: otherRef,
        environment: 'dev',
        releaseId: releases.otherRelease,
        version: '0.1.0',
        kind: 'deploy',
        status: 'succeeded',
        at: T0 + 1500,
      }),
    ]);
    await knex('kd_environment_events').insert([
      eventRow({
        id: ids.route,
        kind: 'route-changed',
        entityRef: mineRef,
        at: T0 + 500,
      }),
      // The gateway's certificate concerns every service of the environment;
      // recorded in the same millisecond as the restart.
      eventRow({
        id: ids.certificate,
        kind: 'certificate-changed',
        entityRef: null,
        at: T0 + 3000,
      }),
      eventRow({
        id: ids.otherRoute,
        kind: 'route-changed',
        entityRef: otherRef,
        at: T0 + 2500,
      }),
      eventRow({
        id: ids.health,
        kind: 'health-changed',
        entityRef: null,
        at: T0 + 2600,
      }),
    ]);
    // A refused promotion, refused and recorded by the real promotion rules:
    // dev is first in the lifecycle, so there is nothing to promote from.
    const refused = await request(allowed.server)
      .post(`${entityPath(mineName)}/promotions`)
      .set('Authorization', asUser())
      .send({ environment: 'dev' });
    if (refused.status !== 409) {
      throw new Error(`Promoting to dev answered ${refused.status}, not 409`);
    }
    refusal = refused.body.error.message;
    const [refusalEvent] = await knex('kd_environment_events')
      .where({ kind: 'promotion-refused', entity_ref: mineRef })
      .select('id');
    const sameMillisecond = [ids.restart, ids.certificate].sort().reverse();
    expectedOrder = [
      refusalEvent.id,
      ...sameMillisecond,
      ids.rollback,
      ids.promote,
      ids.route,
      ids.deploy,
    ];
  });

  async function history(query: string, backend = allowed) {
    return request(backend.server)
      .get(`${entityPath(mineName)}/history${query}`)
      .set('Authorization', asUser());
  }

  it('lists deployments and the events about the service, newest first', async () => {
    const res = await history('');
    expect(res.status).toBe(200);
    const items: HistoryEntry[] = res.body.items;
    expect(items.map(i => i.id)).toEqual(expectedOrder);
    expect(res.body.nextCursor).toBeUndefined();

    const restart = items.find(
      i => i.id === ids.restart,
    ) as DeploymentHistoryEntry;
    expect(restart).toMatchObject({
      kind: 'restart',
      environment: 'dev',
      actor: 'user:default/jane',
      createdAt: new Date(T0 + 3000).toISOString(),
      message: 'restart 0.2.0 failed',
      deployment: {
        version: '0.2.0',
        status: 'failed',
        releaseId: releases.r2,
      },
    });
    expect(restart.deployment!.steps.map(s => s.name)).toEqual([
      'dry run',
      'apply',
    ]);
    expect(restart.deployment!.steps[1].finishedAt).toBe(
      new Date(T0 + 1200 + 3000).toISOString(),
    );
    // The runner's lease bookkeeping stays inside the backend.
    expect(restart.deployment).not.toHaveProperty('leaseOwner');
    expect(restart.deployment).not.toHaveProperty('attempts');

    expect(items[0]).toMatchObject({
      kind: 'promotion-refused',
      environment: 'dev',
      actor: 'user:default/mock',
      message: refusal,
    });
    expect(items.find(i => i.id === ids.route)).toMatchObject({
      kind: 'route-changed',
      actor: 'user:default/joe',
      details: { branch: 'myfeature' },
    });
  });

  it('pages with the cursor without losing or repeating entries', async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const res = await history(
        `?limit=2${cursor ? `&before=${encodeURIComponent(cursor)}` : ''}`,
      );
      expect(res.status).toBe(200);
      expect(res.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...res.body.items.map((i: HistoryEntry) => i.id));
      cursor = res.body.nextCursor;
      pages += 1;
    } while (cursor && pages < 10);
    expect(seen).toEqual(expectedOrder);
    expect(pages).toBe(4);
  });

  it.each([
    ['environment=test', () => [ids.promote]],
    ['entryKind=rollback', () => [ids.rollback]],
    ['entryKind=certificate-changed', () => [ids.certificate]],
    ['entryKind=route-changed', () => [ids.route]],
    ['entryKind=promotion-refused', () => expectedOrder.slice(0, 1)],
    ['environment=dev&entryKind=deploy', () => [ids.deploy]],
    ['environment=production', () => []],
  ])('filters with %s', async (query, expected) => {
    const res = await history(`?${query}`);
    expect(res.status).toBe(200);
    expect(res.body.items.map((i: HistoryEntry) => i.id)).toEqual(expected());
  });

  it.each([
    [
      'entryKind=health-changed',
      /^Query parameter "entryKind" must be one of deploy, promote, rollback/,
    ],
    [
      'entryKind=deploy&entryKind=rollback',
      /^Query parameter "entryKind" must be/,
    ],
    [
      'environment=staging',
      /^Unknown environment "staging"; configured: dev, test, production/,
    ],
    ['limit=0', /^Query parameter "limit" must be >= 1/],
    ['limit=1.5', /^Query parameter "limit" must be an integer/],
    ['before=yesterday', /^before must be a nextCursor value/],
    ['offset=5', /^Unknown query parameter 'offset'/],
  ])('refuses ?%s with a 400 naming the parameter', async (query, message) => {
    const res = await history(`?${query}`);
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(message);
  });

  it('shows a release with its settings and manifest, Secret values redacted', async () => {
    const read = (id: string) =>
      request(allowed.server)
        .get(`${entityPath(mineName)}/releases/${id}`)
        .set('Authorization', asUser());
    const [first, second] = await Promise.all([
      read(releases.r1),
      read(releases.r2),
    ]);
    expect(first.status).toBe(200);
    const one: ReleaseDetail = first.body;
    const two: ReleaseDetail = second.body;
    expect(one).toMatchObject({
      id: releases.r1,
      version: '0.1.0',
      settings: {
        image: `example.test/boutique/${mineName}`,
        strategy: 'rolling',
        replicas: 1,
      },
    });
    expect(one.manifest).toContain('kind: Deployment');
    expect(one.manifest).toContain('API_KEY: (redacted)');
    expect(one.manifest).toContain('ADS_PER_PAGE: "2"');
    expect(two.manifest).toContain('ADS_PER_PAGE: "5"');
    expect(JSON.stringify([one, two])).not.toMatch(/hunter2/);
    expect(one).not.toHaveProperty('snapshot');
  });

  it('answers 404 for a release of another service and 400 for a malformed id', async () => {
    const foreign = await request(allowed.server)
      .get(`${entityPath(mineName)}/releases/${releases.otherRelease}`)
      .set('Authorization', asUser());
    expect(foreign.status).toBe(404);
    const malformed = await request(allowed.server)
      .get(`${entityPath(mineName)}/releases/..%2F..%2Fsecrets`)
      .set('Authorization', asUser());
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.message).toMatch(
      /^Path parameter "id" must be a UUID/,
    );
  });

  it('answers 404 for a service the catalog does not show the caller', async () => {
    const res = await request(allowed.server)
      .get(`${entityPath(uniqueName('not-in-catalog'))}/history`)
      .set('Authorization', asUser());
    expect(res.status).toBe(404);
  });

  it('needs credentials and the read permission on the entity', async () => {
    const anonymous = await request(allowed.server).get(
      `${entityPath(mineName)}/history`,
    );
    expect(anonymous.status).toBe(401);
    const refused = await history('', denied);
    expect(refused.status).toBe(403);
    expect(refused.body.error.message).toMatch(/kube-delivery\.read/);
    const release = await request(denied.server)
      .get(`${entityPath(mineName)}/releases/${releases.r1}`)
      .set('Authorization', asUser());
    expect(release.status).toBe(403);
  });
});
