import {
  mockCredentials,
  mockServices,
  startTestBackend,
  type TestBackend,
} from '@backstage/backend-test-utils';
import {
  coreServices,
  createServiceFactory,
} from '@backstage/backend-plugin-api';
import type { Entity } from '@backstage/catalog-model';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import notificationsPlugin from '@backstage/plugin-notifications-backend';
import type { Notification } from '@backstage/plugin-notifications-common';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { getDevCluster, type DevCluster } from '@internal/devcluster';
import request from 'supertest';
import { devClusterAppConfig } from '../__testUtils__/deliveryBackend';
import {
  entityWithManifest,
  uniqueName,
} from '../__testUtils__/deliveryHarness';
import {
  deployThroughApi,
  settleThroughApi,
} from '../__testUtils__/routingScenario';
import {
  createSharedDatabase,
  type SharedDatabase,
} from '../__testUtils__/sharedDatabase';
import { checkoutserviceManifest } from '../__testUtils__/smokeTestManifests';
import { kubeDeliveryPlugin } from '../plugin';

jest.setTimeout(300_000);

const ALICE = 'user:default/alice'; // a member of the owning team
const PAT = 'user:default/pat'; // a member of the platform team
const BOB = 'user:default/bob'; // in no team; approves
const REQUESTER = 'user:default/mock'; // what deployThroughApi deploys as

function user(name: string, memberOf: string): Entity {
  return {
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'User',
    metadata: { name, namespace: 'default' },
    spec: { memberOf: [memberOf] },
    relations: [{ type: 'memberOf', targetRef: `group:default/${memberOf}` }],
  };
}

function group(name: string, members: string[]): Entity {
  return {
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'Group',
    metadata: { name, namespace: 'default' },
    spec: { type: 'team', children: [] },
    relations: members.map(m => ({ type: 'hasMember', targetRef: m })),
  };
}

/** A user's notifications, read through the notifications backend's own API. */
async function notificationsOf(
  backend: TestBackend,
  userRef: string,
): Promise<Notification[]> {
  const res = await request(backend.server)
    .get('/api/notifications/notifications')
    .set('Authorization', mockCredentials.user.header(userRef));
  expect(res.status).toBe(200);
  return res.body.notifications;
}

/** Waits until the user has a notification that `matches` (they are sent in the background). */
async function eventually(
  backend: TestBackend,
  userRef: string,
  matches: (n: Notification) => boolean,
  timeoutMs = 20_000,
): Promise<Notification> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const all = await notificationsOf(backend, userRef);
    const found = all.find(matches);
    if (found) return found;
    if (Date.now() > deadline) {
      throw new Error(
        `No such notification for ${userRef}; has: ${JSON.stringify(
          all.map(n => n.payload),
        )}`,
      );
    }
    await new Promise(resolve => setTimeout(resolve, 250));
  }
}

/**
 * Kube Delivery next to Backstage's real notifications backend: each on its
 * own database, the notifications backend expanding the owner group to its
 * members through the catalog, Kube Delivery deploying to the devcluster.
 */
describe('notifications through the notifications backend', () => {
  let cluster: DevCluster;
  let deliveryDb: SharedDatabase;
  let notificationsDb: SharedDatabase;
  let backend: TestBackend;
  const team = uniqueName('team');
  const name = uniqueName('notified');
  const { entity, writeManifest } = entityWithManifest({
    name,
    manifest: checkoutserviceManifest(name, { smokeTestExitCode: 1 }),
  });
  entity.spec!.owner = `group:default/${team}`;
  entity.relations = [{ type: 'ownedBy', targetRef: `group:default/${team}` }];
  const entityPath = `/api/kube-delivery/entities/component/default/${name}`;

  beforeAll(async () => {
    cluster = await getDevCluster();
    deliveryDb = await createSharedDatabase();
    notificationsDb = await createSharedDatabase();
    const config = {
      // The notifications backend resolves links against the app's URL.
      app: { baseUrl: 'http://localhost:3000' },
      ...(devClusterAppConfig(cluster) as {
        kubeDelivery: Record<string, any>;
      }),
    };
    const [dev] = config.kubeDelivery.environments;
    config.kubeDelivery.environments.push(
      // Outside the lifecycle: a cluster nobody answers at.
      {
        ...dev,
        name: 'outage',
        namespace: 'outage',
        cluster: { ...dev.cluster, url: 'https://127.0.0.1:1' },
      },
    );
    // Protected, outside the lifecycle: deploys wait for approval.
    const production = config.kubeDelivery.environments.find(
      (e: { name: string }) => e.name === 'production',
    );
    config.kubeDelivery.environments.push({
      ...production,
      name: 'vault',
      protected: true,
    });
    // No scheduled check in the way: the test checks when it says so.
    config.kubeDelivery.health = {
      intervalSeconds: 3600,
      initialDelaySeconds: 3600,
    };
    config.kubeDelivery.notifications = {
      platformGroup: 'group:default/platform',
    };
    backend = await startTestBackend({
      features: [
        kubeDeliveryPlugin,
        notificationsPlugin,
        mockServices.rootConfig.factory({ data: config }),
        // Each plugin its own database, as in production.
        createServiceFactory({
          service: coreServices.database,
          deps: { plugin: coreServices.pluginMetadata },
          factory: ({ plugin }) => ({
            getClient: async () =>
              plugin.getId() === 'notifications'
                ? notificationsDb.knex
                : deliveryDb.knex,
          }),
        }),
        mockServices.httpAuth.factory({
          defaultCredentials: mockCredentials.none(),
        }),
        mockServices.permissions.factory({ result: AuthorizeResult.ALLOW }),
        catalogServiceMock.factory({
          entities: [
            entity,
            group(team, [ALICE]),
            user('alice', team),
            group('platform', [PAT]),
            user('pat', 'platform'),
            user('bob', 'bystanders'),
          ],
        }),
      ],
    });
  });

  afterAll(async () => {
    await backend?.stop();
    await deliveryDb?.destroy();
    await notificationsDb?.destroy();
  });

  it("tells the owning team's members of a failed deploy and an automatic rollback, not of a success in an unprotected environment", async () => {
    const failed = await deployThroughApi(backend, entity, '1.0.0', 'dev');
    expect(failed.status).toBe('failed');

    const failure = await eventually(
      backend,
      ALICE,
      n => n.payload.topic === 'kube-delivery:deploy-failed',
    );
    expect(failure.origin).toBe('plugin:kube-delivery');
    expect(failure.payload).toMatchObject({
      title: `${name} 1.0.0 failed to deploy to dev`,
      link: `/catalog/default/component/${name}/kube-delivery/release-history`,
      severity: 'high',
      topic: 'kube-delivery:deploy-failed',
      scope: `kube-delivery:deployment:${failed.id}`,
    });
    // The reason is the deployment's own message.
    expect(failed.message).toContain('Smoke test');
    expect(failure.payload.description).toContain(
      failed.message!.split('\n')[0].slice(0, 80),
    );

    writeManifest(checkoutserviceManifest(name, { smokeTestExitCode: 0 }));
    const good = await deployThroughApi(backend, entity, '1.0.1', 'dev');
    expect(good.status).toBe('succeeded');

    writeManifest(checkoutserviceManifest(name, { smokeTestExitCode: 1 }));
    const rolledBack = await deployThroughApi(backend, entity, '1.0.2', 'dev');
    expect(rolledBack.status).toBe('rolled-back');

    const rollback = await eventually(
      backend,
      ALICE,
      n => n.payload.topic === 'kube-delivery:deploy-rolled-back',
    );
    expect(rollback.payload).toMatchObject({
      title: `${name} 1.0.2 rolled back automatically in dev`,
      link: `/catalog/default/component/${name}/kube-delivery/release-history`,
      severity: 'high',
      scope: `kube-delivery:deployment:${rolledBack.id}`,
    });
    expect(rollback.payload.description).toContain('1.0.1 is serving again');

    // The success in dev (unprotected) told nobody; people outside the
    // owning team heard nothing.
    const aliceTopics = (await notificationsOf(backend, ALICE))
      .map(n => n.payload.topic)
      .sort();
    expect(aliceTopics).toEqual([
      'kube-delivery:deploy-failed',
      'kube-delivery:deploy-rolled-back',
    ]);
    expect(await notificationsOf(backend, BOB)).toEqual([]);
    expect(await notificationsOf(backend, PAT)).toEqual([]);
  });

  it('asks the owners to approve a deploy into a protected environment, then updates that notification with its outcome', async () => {
    writeManifest(checkoutserviceManifest(name, { smokeTestExitCode: 0 }));
    const release = await request(backend.server)
      .post(`${entityPath}/releases`)
      .set('Authorization', mockCredentials.user.header(REQUESTER))
      .send({ version: '1.1.0' });
    expect(release.status).toBe(201);
    const queued = await request(backend.server)
      .post(`${entityPath}/deployments`)
      .set('Authorization', mockCredentials.user.header(REQUESTER))
      .send({ environment: 'vault', version: '1.1.0' });
    expect(queued.status).toBe(202);
    expect(queued.body.status).toBe('waiting-approval');
    const scope = `kube-delivery:deployment:${queued.body.id}`;

    const waiting = await eventually(
      backend,
      ALICE,
      n => n.payload.scope === scope,
    );
    expect(waiting.payload).toMatchObject({
      title: `${name} 1.1.0 waits for approval to deploy to vault`,
      link: `/catalog/default/component/${name}/kube-delivery/environments`,
      severity: 'normal',
      topic: 'kube-delivery:approval-requested',
    });

    const approved = await request(backend.server)
      .post(`${entityPath}/deployments/${queued.body.id}/approve`)
      .set('Authorization', mockCredentials.user.header(BOB))
      .send({});
    expect(approved.status).toBe(200);
    const done = await settleThroughApi(
      backend,
      entity,
      queued.body.id,
      150_000,
    );
    expect(done.status).toBe('succeeded');

    const outcome = await eventually(
      backend,
      ALICE,
      n =>
        n.payload.scope === scope &&
        n.payload.topic === 'kube-delivery:deploy-succeeded',
    );
    expect(outcome.payload).toMatchObject({
      title: `${name} 1.1.0 deployed to vault: succeeded`,
      link: `/catalog/default/component/${name}/kube-delivery/environments`,
      severity: 'normal',
    });
    // One notification for the deployment, updated rather than added.
    expect(outcome.id).toBe(waiting.id);
    const ofDeployment = (await notificationsOf(backend, ALICE)).filter(
      n => n.payload.scope === scope,
    );
    expect(ofDeployment).toHaveLength(1);
  });

  it('tells the platform team when an environment turns unhealthy, once per change', async () => {
    const check = () =>
      request(backend.server)
        .post('/api/kube-delivery/environments/outage/health')
        .set('Authorization', mockCredentials.user.header());
    const first = await check();
    expect(first.status).toBe(200);
    expect(first.body.status).toBe('error');

    const unhealthy = await eventually(
      backend,
      PAT,
      n => n.payload.topic === 'kube-delivery:environment-unhealthy',
    );
    expect(unhealthy.payload).toMatchObject({
      title: 'Environment outage is unhealthy (unknown → error)',
      severity: 'high',
      scope: 'kube-delivery:environment-health:outage',
    });
    expect(unhealthy.payload.description).toContain(
      'Cannot reach the Kubernetes API server',
    );

    // Still failing: no change, no second notification.
    const second = await check();
    expect(second.body.status).toBe('error');
    await new Promise(resolve => setTimeout(resolve, 1000));
    const pats = await notificationsOf(backend, PAT);
    expect(pats.map(n => n.payload.topic)).toEqual([
      'kube-delivery:environment-unhealthy',
    ]);
    // The service's owners are not the platform team.
    expect(
      (await notificationsOf(backend, ALICE)).some(
        n => n.payload.topic === 'kube-delivery:environment-unhealthy',
      ),
    ).toBe(false);
  });
});
