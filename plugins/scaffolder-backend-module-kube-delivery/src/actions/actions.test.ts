/*
 * The two actions, run with the scaffolder's createMockActionContext, against
 * the real Kube Delivery backend plugin (SQLite, the devcluster's dev
 * namespace with its own ServiceAccount token) reached through discovery and
 * a plugin-to-plugin token, as in the scaffolder.
 */
import { randomBytes } from 'node:crypto';
import {
  mockServices,
  startTestBackend,
  type TestBackend,
} from '@backstage/backend-test-utils';
import type { Entity } from '@backstage/catalog-model';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import { createMockActionContext } from '@backstage/plugin-scaffolder-node-test-utils';
import { getDevCluster } from '@internal/devcluster';
// The test runs the real plugin this module's actions call.
// eslint-disable-next-line @backstage/no-mixed-plugin-imports
import kubeDeliveryPlugin from '@internal/plugin-kube-delivery-backend';
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

let backend: TestBackend;
let client: ReturnType<typeof serviceClient>;

beforeAll(async () => {
  backend = await startTestBackend({
    features: [
      kubeDeliveryPlugin,
      mockServices.rootConfig.factory({
        data: { kubeDelivery: (await devClusterAppConfig()).kubeDelivery },
      }),
      catalogServiceMock.factory({ entities: [entity] }),
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

afterAll(async () => {
  await backend?.stop();
  await deleteDevServiceObjects(`app.kubernetes.io/name=${name}`);
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
