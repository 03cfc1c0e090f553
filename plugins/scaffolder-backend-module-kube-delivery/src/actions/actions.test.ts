/*
 * The two actions, run with the scaffolder's createMockActionContext, against
 * the real Kube Delivery backend plugin (SQLite, the devcluster's dev
 * namespace with its own ServiceAccount token) reached through discovery and
 * a plugin-to-plugin token on behalf of the user who runs the template, as in
 * the scaffolder. Backstage's permission backend decides with a real policy:
 * user:default/mock may do everything, user:default/outsider nothing.
 */
import { randomBytes } from 'node:crypto';
import {
  mockCredentials,
  mockServices,
  startTestBackend,
  type TestBackend,
} from '@backstage/backend-test-utils';
import type { Entity } from '@backstage/catalog-model';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import { createMockActionContext } from '@backstage/plugin-scaffolder-node-test-utils';
import { getDevCluster } from '@internal/devcluster';
import { bodyOf, entityPathOf } from '@internal/plugin-kube-delivery-common';
// The test runs the real plugin this module's actions call.
// eslint-disable-next-line @backstage/no-mixed-plugin-imports
import kubeDeliveryPlugin from '@internal/plugin-kube-delivery-backend';
// Backstage's permission backend with a real policy, as the plugin's own tests use it.
// eslint-disable-next-line @backstage/no-forbidden-package-imports, @backstage/no-mixed-plugin-imports
import {
  realPermissions,
  UserPolicy,
} from '@internal/plugin-kube-delivery-backend/src/__testUtils__/realPermissions';
import {
  deleteDevServiceObjects,
  devClusterAppConfig,
} from '../__testUtils__/devClusterConfig';
import { createDeployAction } from './deploy';
import { createReleaseAction } from './createRelease';
import { serviceClient } from './serviceClient';

jest.setTimeout(180_000);

const name = `kdscaf-${randomBytes(3).toString('hex')}`;
const entityRef = `component:default/${name}`;
const entity: Entity = {
  apiVersion: 'backstage.io/v1alpha1',
  kind: 'Component',
  metadata: {
    name,
    namespace: 'default',
    annotations: { 'kube-delivery.io/image': `example.test/boutique/${name}` },
  },
  spec: {
    type: 'service',
    lifecycle: 'experimental',
    owner: 'group:default/boutique',
  },
};

const OUTSIDER = 'user:default/outsider';
const policy = new UserPolicy((_permission, user) => user !== OUTSIDER);

let backend: TestBackend;
let client: ReturnType<typeof serviceClient>;

beforeAll(async () => {
  backend = await startTestBackend({
    features: [
      kubeDeliveryPlugin,
      mockServices.rootConfig.factory({
        data: {
          kubeDelivery: (await devClusterAppConfig()).kubeDelivery,
          permission: { enabled: true },
        },
      }),
      catalogServiceMock.factory({ entities: [entity] }),
      ...realPermissions(policy),
    ],
  });
  const baseUrl = `http://localhost:${backend.server.port()}/api`;
  client = serviceClient({
    discovery: {
      getBaseUrl: async pluginId => `${baseUrl}/${pluginId}`,
      getExternalBaseUrl: async pluginId => `${baseUrl}/${pluginId}`,
    },
    auth: mockServices.auth({ pluginId: 'scaffolder' }),
  });
});

/** The entity's deployments in dev, as the user who may see them. */
async function devDeployments() {
  const { items } = await bodyOf(
    client(mockCredentials.user()).listDeployments({
      path: entityPathOf(entityRef),
      query: { environment: 'dev' },
    }),
  );
  return items;
}

afterAll(async () => {
  await backend?.stop();
  await deleteDevServiceObjects(`app.kubernetes.io/name=${name}`);
  await deleteDevServiceObjects(`app.kubernetes.io/name=${name}`, 'test');
});

describe('kube-delivery:release:create and kube-delivery:deploy', () => {
  it('creates a release, deploys it to dev and waits for the rollout', async () => {
    const release = createMockActionContext({
      input: { entityRef, version: '0.1.0' },
    });
    await createReleaseAction({ client }).handler(release);
    expect(release.output).toHaveBeenCalledWith('version', '0.1.0');
    expect(release.output).toHaveBeenCalledWith(
      'imageRef',
      `example.test/boutique/${name}:0.1.0`,
    );

    const deploy = createMockActionContext({
      input: { entityRef, environment: 'dev', version: '0.1.0' },
    });
    await createDeployAction({ client, pollIntervalMs: 200 }).handler(deploy);
    expect(deploy.output).toHaveBeenCalledWith('status', 'succeeded');

    // On behalf of the user who ran it: the policy was asked for them, and
    // the history names them, not the scaffolder.
    expect(policy.asked).toContainEqual({
      permission: 'kube-delivery.deployment.create',
      user: 'user:default/mock',
    });
    const deploymentId = (deploy.output as jest.Mock).mock.calls.find(
      ([key]) => key === 'deploymentId',
    )![1];
    const deployed = await bodyOf(
      client(mockCredentials.user()).getDeployment({
        path: { ...entityPathOf(entityRef), id: deploymentId },
      }),
    );
    expect(deployed.createdBy).toBe('user:default/mock');

    const cluster = await getDevCluster();
    const live = await cluster.kubectl([
      'get',
      'deployment',
      name,
      '-n',
      'dev',
      '-o',
      'json',
    ]);
    expect(
      JSON.parse(live.stdout).metadata.labels['backstage.io/kubernetes-id'],
    ).toBe(name);
  });

  it('fails the step with the API’s reason when a release already exists', async () => {
    const ctx = createMockActionContext({
      input: { entityRef, version: '0.1.0' },
    });
    await expect(createReleaseAction({ client }).handler(ctx)).rejects.toThrow(
      /already exists; releases are immutable/,
    );
  });

  it('fails the step when promotion rules refuse the deployment', async () => {
    const ctx = createMockActionContext({
      input: { entityRef, environment: 'production', version: '0.1.0' },
    });
    await expect(createDeployAction({ client }).handler(ctx)).rejects.toThrow(
      /409 Conflict: .*test/,
    );
  });

  it('ends the step waiting for approval in a protected environment', async () => {
    const toTest = createMockActionContext({
      input: { entityRef, environment: 'test', version: '0.1.0' },
    });
    await createDeployAction({ client, pollIntervalMs: 200 }).handler(toTest);
    expect(toTest.output).toHaveBeenCalledWith('status', 'succeeded');

    const toProduction = createMockActionContext({
      input: { entityRef, environment: 'production', version: '0.1.0' },
    });
    const info = jest.spyOn(toProduction.logger, 'info');
    await createDeployAction({ client, pollIntervalMs: 200 }).handler(
      toProduction,
    );
    expect(toProduction.output).toHaveBeenCalledWith(
      'status',
      'waiting-approval',
    );
    expect(info).toHaveBeenCalledWith(
      expect.stringMatching(
        /waits for approval by another user holding kube-delivery\.deployment\.approve/,
      ),
    );
  });

  it('fails the step with the 403 for a user the policy does not allow, changing nothing', async () => {
    const before = await devDeployments();
    const release = createMockActionContext({
      input: { entityRef, version: '0.2.0' },
    });
    release.getInitiatorCredentials = async () =>
      mockCredentials.user(OUTSIDER);
    await expect(
      createReleaseAction({ client }).handler(release),
    ).rejects.toThrow(/403 Forbidden: /);
    const deploy = createMockActionContext({
      input: { entityRef, environment: 'dev', version: '0.1.0' },
    });
    deploy.getInitiatorCredentials = async () => mockCredentials.user(OUTSIDER);
    await expect(
      createDeployAction({ client }).handler(deploy),
    ).rejects.toThrow(/403 Forbidden: /);
    expect(await devDeployments()).toEqual(before);
  });

  it('refuses a task that no signed-in user started', async () => {
    for (const credentials of [
      mockCredentials.service('plugin:catalog'),
      mockCredentials.none(),
    ]) {
      const ctx = createMockActionContext({
        input: { entityRef, environment: 'dev', version: '0.1.0' },
      });
      ctx.getInitiatorCredentials = async () => credentials;
      await expect(createDeployAction({ client }).handler(ctx)).rejects.toThrow(
        /act on behalf of the user who runs the template; this task was started by (service plugin:catalog|nobody signed in)/,
      );
    }
  });

  it('waits for an entity the catalog has not processed, then gives up with the API’s 404', async () => {
    const ctx = createMockActionContext({
      input: {
        entityRef: 'component:default/kdscaf-not-registered',
        version: '0.1.0',
      },
    });
    const info = jest.spyOn(ctx.logger, 'info');
    await expect(
      createReleaseAction({ client, catalogWaitMs: 2500 }).handler(ctx),
    ).rejects.toThrow(/404 Not Found: /);
    expect(info).toHaveBeenCalledWith(
      expect.stringMatching(/not in the catalog yet/),
    );
  });
});
