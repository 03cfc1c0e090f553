/*
 * Who may see and change a routing rule, through the HTTP API of the real
 * plugin on the local control plane, decided by Backstage's permission
 * backend with a real policy:
 *
 * - ada and bob may route on the service, carol may only read it, and root
 *   also holds the route-admin permission;
 * - a rule's value (a session or user id) is shown to its owner and to
 *   those who may route on the entity, hidden (`value: null,
 *   valueHidden: true`) from everyone else, in the rules list and in the
 *   Release history;
 * - a rule is extended or deleted by its owner or a route admin; anyone
 *   else gets a 403 naming the owner, and nothing changes;
 * - a rule for a branch not deployed in the environment is accepted with a
 *   warning.
 */
import {
  mockCredentials,
  type TestBackend,
} from '@backstage/backend-test-utils';
import type { Knex } from 'knex';
import request from 'supertest';
import { startDeliveryBackend } from '../__testUtils__/deliveryBackend';
import {
  createDeliveryHarness,
  uniqueName,
  type DeliveryHarness,
} from '../__testUtils__/deliveryHarness';
import { UserPolicy } from '../__testUtils__/realPermissions';
import {
  deployVersions,
  removeRoutedServices,
  routedAdservice,
} from '../__testUtils__/routingScenario';
import { createTestDatabases } from '../__testUtils__/testDatabases';

jest.setTimeout(180_000);

const API = '/api/kube-delivery';
const ADA = 'user:default/ada';
const BOB = 'user:default/bob';
const CAROL = 'user:default/carol';
const ROOT = 'user:default/root';
const ROUTE = 'kube-delivery.route.update';
const ROUTE_ADMIN = 'kube-delivery.route.admin';

/** What each user may do; everyone may read. */
const policy = new UserPolicy((permission, user) => {
  if (permission === 'kube-delivery.read') return true;
  if (permission === ROUTE) return [ADA, BOB, ROOT].includes(user);
  if (permission === ROUTE_ADMIN) return user === ROOT;
  return false;
});

describe('routing rules: values, ownership and warnings (HTTP, real policy)', () => {
  const databases = createTestDatabases();
  let knex: Knex;
  let harness: DeliveryHarness;
  let backend: TestBackend | undefined;
  const name = uniqueName('adservice');
  const entity = routedAdservice(name);
  const entityPath = `${API}/entities/component/default/${name}`;
  const routes = `${entityPath}/routes`;
  const as = (user: string) => mockCredentials.user.header(user);

  const listAs = async (user: string) => {
    const res = await request(backend!.server)
      .get(`${routes}?environment=dev`)
      .set('Authorization', as(user));
    expect(res.status).toBe(200);
    return res.body.items as Array<Record<string, unknown>>;
  };
  const historyAs = async (user: string) => {
    const res = await request(backend!.server)
      .get(`${entityPath}/history?entryKind=route-changed&limit=100`)
      .set('Authorization', as(user));
    expect(res.status).toBe(200);
    return res.body.items as Array<{
      message: string;
      details: { rule?: Record<string, unknown> };
    }>;
  };
  const create = (user: string, body: Record<string, unknown>) =>
    request(backend!.server)
      .post(routes)
      .set('Authorization', as(user))
      .send({ environment: 'dev', kind: 'header', ...body });

  beforeAll(async () => {
    knex = await databases.init('SQLITE_3');
    harness = await createDeliveryHarness({ knex });
    await deployVersions(harness, entity);
    backend = await startDeliveryBackend({
      cluster: harness.cluster,
      knex,
      entities: [entity],
      permission: { policy },
    });
  });

  afterAll(async () => {
    await backend?.stop();
    await harness?.close();
    if (harness) await removeRoutedServices(harness.cluster, [name]);
  });

  let adasRule: { id: string; value: string };

  it('creates a rule for a deployed branch without warnings', async () => {
    const res = await create(ADA, { branch: 'myfeature', value: 'ada-1' });
    if (res.status !== 201) console.log('DEBUG', JSON.stringify(res.body));
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ owner: ADA, value: 'ada-1' });
    expect(res.body).not.toHaveProperty('warnings');
    adasRule = res.body;
  });

  it('accepts a rule for a branch not deployed in dev, with a warning', async () => {
    const res = await create(BOB, { branch: 'notyet', value: 'bob-1' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ owner: BOB, branch: 'notyet' });
    expect(res.body.warnings).toEqual([
      `${name}-notyet is not deployed in dev yet: the rule routes once it is`,
    ]);
  });

  it('shows rule values to owners and to those who may route, hides them from others', async () => {
    const hidden = { value: null, valueHidden: true };
    // carol may read, not route: no value, but the rest of each rule.
    const seenByCarol = await listAs(CAROL);
    expect(seenByCarol).toEqual([
      expect.objectContaining({ id: adasRule.id, owner: ADA, ...hidden }),
      expect.objectContaining({ branch: 'notyet', owner: BOB, ...hidden }),
    ]);
    // ada and bob may route on the service: every value.
    for (const user of [ADA, BOB]) {
      expect((await listAs(user)).map(r => r.value)).toEqual([
        'ada-1',
        'bob-1',
      ]);
    }
    // The same in the Release history: details and message.
    const carolsHistory = await historyAs(CAROL);
    expect(carolsHistory).toHaveLength(2);
    for (const entry of carolsHistory) {
      expect(entry.details.rule).toMatchObject(hidden);
      expect(entry.message).toMatch(/userid=\(hidden\)/);
      expect(entry.message).not.toMatch(/ada-1|bob-1/);
    }
    expect(
      (await historyAs(ADA)).map(e => e.details.rule?.value).sort(),
    ).toEqual(['ada-1', 'bob-1']);
  });

  it('refuses a change to a rule by someone else with a 403 naming the owner, changing nothing', async () => {
    const before = await listAs(ADA);
    const owner = new RegExp(
      `Routing rule ${adasRule.id} is ${ADA}'s: only its owner or a route admin`,
    );
    const extend = await request(backend!.server)
      .patch(`${routes}/${adasRule.id}`)
      .set('Authorization', as(BOB))
      .send({ ttlMinutes: 60 });
    expect(extend.status).toBe(403);
    expect(extend.body.error.message).toMatch(owner);
    const remove = await request(backend!.server)
      .delete(`${routes}/${adasRule.id}`)
      .set('Authorization', as(BOB));
    expect(remove.status).toBe(403);
    expect(remove.body.error.message).toMatch(owner);
    // Carol may not route at all: refused before ownership is looked at.
    const carol = await request(backend!.server)
      .delete(`${routes}/${adasRule.id}`)
      .set('Authorization', as(CAROL));
    expect(carol.status).toBe(403);
    expect(await listAs(ADA)).toEqual(before);
  });

  it('lets the owner extend a rule and a route admin delete it', async () => {
    const extend = await request(backend!.server)
      .patch(`${routes}/${adasRule.id}`)
      .set('Authorization', as(ADA))
      .send({ ttlMinutes: 60 });
    expect(extend.status).toBe(200);
    const remove = await request(backend!.server)
      .delete(`${routes}/${adasRule.id}`)
      .set('Authorization', as(ROOT));
    expect(remove.status).toBe(200);
    expect(policy.asked).toContainEqual({
      permission: ROUTE_ADMIN,
      user: ROOT,
    });
    expect((await listAs(ADA)).map(r => r.owner)).toEqual([BOB]);
  });
});
