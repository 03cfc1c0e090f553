/*
 * The Software Template of examples/templates run by the real scaffolder:
 * the catalog reads the template from its file location, the scaffolder runs
 * fetch:template, kube-delivery:publish:local, kube-delivery:release:create
 * and kube-delivery:deploy, and the new service ends up registered in the
 * catalog and running in the devcluster's dev namespace.
 *
 * Backstage's permission backend decides with a real policy: the actions act
 * on behalf of the user who runs the template, so a user the policy does not
 * allow on the entity gets the 403 in the deploy step.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  mockCredentials,
  mockServices,
  startTestBackend,
  type TestBackend,
} from '@backstage/backend-test-utils';
import type { Entity } from '@backstage/catalog-model';
import { templateEntityV1beta3Validator } from '@backstage/plugin-scaffolder-common';
import { getDevCluster } from '@internal/devcluster';
/* eslint-disable @backstage/no-mixed-plugin-imports -- the test runs the real plugins the template needs */
import catalogPlugin from '@backstage/plugin-catalog-backend';
import scaffolderEntityModel from '@backstage/plugin-catalog-backend-module-scaffolder-entity-model';
import scaffolderPlugin from '@backstage/plugin-scaffolder-backend';
import kubeDeliveryPlugin from '@internal/plugin-kube-delivery-backend';
/* eslint-enable @backstage/no-mixed-plugin-imports */
// Backstage's permission backend with a real policy, as the plugin's own tests use it.
// eslint-disable-next-line @backstage/no-forbidden-package-imports, @backstage/no-mixed-plugin-imports
import {
  realPermissions,
  UserPolicy,
} from '@internal/plugin-kube-delivery-backend/src/__testUtils__/realPermissions';
import { parse, stringify } from 'yaml';
import {
  deleteDevServiceObjects,
  devClusterAppConfig,
  REPO_ROOT,
} from '../__testUtils__/devClusterConfig';
import catalogModuleKubeDeliveryFileLocations from '@internal/plugin-catalog-backend-module-kube-delivery-file-locations';
import { scaffolderModuleKubeDelivery } from '../module';

jest.setTimeout(300_000);

const TEMPLATE = path.join(
  REPO_ROOT,
  'examples/templates/kube-delivery-service/template.yaml',
);
const run = `kdtpl-${randomBytes(3).toString('hex')}`;
const publishDirectory = fs.mkdtempSync(path.join(os.tmpdir(), 'kd-publish-'));

/** May do everything but Kube Delivery: reads the catalog, runs templates. */
const OUTSIDER = 'user:default/outsider';
const policy = new UserPolicy(
  (permission, user) =>
    user !== OUTSIDER || !permission.startsWith('kube-delivery.'),
);

/** An existing service and a template that only deploys it (to dev). */
const deployed = `${run}-existing`;
const deployOnly = `kd-deploy-only-${run}`;
const extraCatalog = path.join(publishDirectory, 'extra-catalog.yaml');
fs.writeFileSync(
  extraCatalog,
  [
    {
      apiVersion: 'backstage.io/v1alpha1',
      kind: 'Component',
      metadata: {
        name: deployed,
        annotations: {
          'kube-delivery.io/image': `example.test/boutique/${deployed}`,
        },
      },
      spec: {
        type: 'service',
        lifecycle: 'experimental',
        owner: 'group:default/platform-team',
      },
    },
    {
      apiVersion: 'scaffolder.backstage.io/v1beta3',
      kind: 'Template',
      metadata: { name: deployOnly, title: 'Deploy a release to dev' },
      spec: {
        owner: 'group:default/platform-team',
        type: 'service',
        parameters: [
          {
            title: 'Release',
            required: ['entityRef', 'version'],
            properties: {
              entityRef: { type: 'string' },
              version: { type: 'string' },
            },
          },
        ],
        steps: [
          {
            id: 'deploy',
            name: 'Deploy to dev',
            action: 'kube-delivery:deploy',
            input: {
              entityRef: '${{ parameters.entityRef }}',
              environment: 'dev',
              version: '${{ parameters.version }}',
            },
          },
        ],
      },
    },
  ]
    .map(document => stringify(document))
    .join('---\n'),
);

let backend: TestBackend;
let api: string;

async function call<T = any>(
  method: string,
  url: string,
  body?: unknown,
  user?: string,
): Promise<T> {
  const response = await fetch(`${api}${url}`, {
    method,
    headers: {
      Authorization: mockCredentials.user.header(user),
      ...(body !== undefined && { 'Content-Type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok)
    throw new Error(`${method} ${url}: ${response.status} ${text}`);
  return JSON.parse(text);
}

async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise(resolve => setTimeout(resolve, 500));
  }
}

beforeAll(async () => {
  backend = await startTestBackend({
    features: [
      catalogPlugin,
      scaffolderEntityModel,
      catalogModuleKubeDeliveryFileLocations,
      scaffolderPlugin,
      scaffolderModuleKubeDelivery,
      kubeDeliveryPlugin,
      mockServices.rootConfig.factory({
        data: {
          catalog: {
            rules: [{ allow: ['Component', 'Template', 'Location', 'Group'] }],
            locations: [
              { type: 'file', target: TEMPLATE },
              { type: 'file', target: extraCatalog },
            ],
          },
          permission: { enabled: true },
          kubeDelivery: {
            ...(await devClusterAppConfig()).kubeDelivery,
            scaffolder: { publishDirectory },
            catalog: { allowFileLocations: true },
          },
        },
      }),
      ...realPermissions(policy),
    ],
  });
  api = `http://localhost:${backend.server.port()}/api`;
});

afterAll(async () => {
  await backend?.stop();
  fs.rmSync(publishDirectory, { recursive: true, force: true });
  await deleteDevServiceObjects(
    `app.kubernetes.io/name in (${run}-grpc,${run}-http,${deployed})`,
  );
});

it('is a valid Template entity', async () => {
  const template = parse(fs.readFileSync(TEMPLATE, 'utf8')) as Entity;
  await expect(templateEntityV1beta3Validator.check(template)).resolves.toBe(
    true,
  );
});

it.each([
  { protocol: 'grpc', port: 9555, probe: { grpc: { port: 9555 } } },
  {
    protocol: 'http',
    port: 8080,
    probe: { httpGet: { path: '/healthz', port: 8080 } },
  },
])(
  'writes, registers, releases and deploys a new $protocol service',
  async ({ protocol, port, probe }) => {
    const name = `${run}-${protocol}`;
    await eventually('the template in the catalog', () =>
      call(
        'GET',
        '/catalog/entities/by-name/template/default/kube-delivery-service',
      ),
    );
    const { id } = await call<{ id: string }>('POST', '/scaffolder/v2/tasks', {
      templateRef: 'template:default/kube-delivery-service',
      values: {
        name,
        description: 'Made by the template test: a service.',
        owner: 'group:default/platform-team',
        image: `example.test/boutique/${name}`,
        protocol,
        port,
        strategy: 'rolling',
        replicas: 1,
        version: '0.1.0',
        environment: 'dev',
      },
    });
    const task = await eventually('the task to finish', async () => {
      const t = await call('GET', `/scaffolder/v2/tasks/${id}`);
      return t.status === 'completed' || t.status === 'failed' ? t : undefined;
    });
    if (task.status !== 'completed') {
      const events = await call('GET', `/scaffolder/v2/tasks/${id}/events`);
      throw new Error(
        `Task ${task.status}: ${events
          .map((e: any) => e.body.message)
          .join('\n')}`,
      );
    }

    // Published: the files are where the publish step put them.
    const published = path.join(publishDirectory, name);
    expect(fs.readdirSync(published).sort()).toEqual([
      'catalog-info.yaml',
      'deploy.yaml',
    ]);

    // Registered: the catalog has the component with its annotations.
    const entity = await eventually('the component in the catalog', () =>
      call<Entity>(
        'GET',
        `/catalog/entities/by-name/component/default/${name}`,
      ),
    );
    expect(entity.metadata.annotations).toMatchObject({
      'kube-delivery.io/image': `example.test/boutique/${name}`,
      'kube-delivery.io/manifest': './deploy.yaml',
      'backstage.io/kubernetes-id': name,
    });

    // Deployed: Kube Delivery's history and the live Deployment agree.
    const history = await call(
      'GET',
      `/kube-delivery/entities/component/default/${name}/deployments?environment=dev`,
    );
    expect(history.items.map((d: any) => [d.version, d.status])).toEqual([
      ['0.1.0', 'succeeded'],
    ]);
    const cluster = await getDevCluster();
    const live = JSON.parse(
      (
        await cluster.kubectl([
          'get',
          'deployment',
          name,
          '-n',
          'dev',
          '-o',
          'json',
        ])
      ).stdout,
    );
    expect(live.spec.template.spec.containers[0]).toMatchObject({
      image: `example.test/boutique/${name}:0.1.0`,
      readinessProbe: probe,
      livenessProbe: probe,
    });
    expect(live.metadata.labels['backstage.io/kubernetes-id']).toBe(name);
  },
);

describe('run by a user the policy does not allow on the entity', () => {
  /** Runs the deploy-only template as the user; the finished task and its events. */
  async function runDeployOnly(user: string, version: string) {
    await eventually('the deploy-only template in the catalog', () =>
      call('GET', `/catalog/entities/by-name/template/default/${deployOnly}`),
    );
    const { id } = await call<{ id: string }>(
      'POST',
      '/scaffolder/v2/tasks',
      {
        templateRef: `template:default/${deployOnly}`,
        values: { entityRef: `component:default/${deployed}`, version },
      },
      user,
    );
    const task = await eventually('the task to finish', async () => {
      const t = await call(
        'GET',
        `/scaffolder/v2/tasks/${id}`,
        undefined,
        user,
      );
      return t.status === 'completed' || t.status === 'failed' ? t : undefined;
    });
    const events: Array<{
      body: { stepId?: string; status?: string; message?: string };
    }> = await call(
      'GET',
      `/scaffolder/v2/tasks/${id}/events`,
      undefined,
      user,
    );
    return { task, events };
  }

  const deployments = `/kube-delivery/entities/component/default/${deployed}/deployments?environment=dev`;

  it('fails its deploy step with the 403, and deploys nothing', async () => {
    await eventually('the component in the catalog', () =>
      call('GET', `/catalog/entities/by-name/component/default/${deployed}`),
    );
    // A release made by someone who may (CI, or the owners).
    await call(
      'POST',
      `/kube-delivery/entities/component/default/${deployed}/releases`,
      { version: '0.1.0' },
    );

    const { task, events } = await runDeployOnly(OUTSIDER, '0.1.0');
    expect(task.status).toBe('failed');
    // The deploy step is the one that failed, with the API's 403 and reason.
    const deployStep = events.filter(e => e.body.stepId === 'deploy');
    expect(deployStep.map(e => e.body.status)).toContain('failed');
    expect(deployStep.map(e => e.body.message).join('\n')).toMatch(
      /POST \/entities\/component\/default\/.+\/deployments: Request failed with 403 Forbidden: /,
    );
    expect(policy.asked).toContainEqual({
      permission: 'kube-delivery.deployment.create',
      user: OUTSIDER,
    });
    expect((await call('GET', deployments)).items).toEqual([]);
  });

  it('deploys as the user who runs it when the policy allows them', async () => {
    const { task } = await runDeployOnly('user:default/mock', '0.1.0');
    expect(task.status).toBe('completed');
    const { items } = await call('GET', deployments);
    expect(items.map((d: any) => [d.version, d.status, d.createdBy])).toEqual([
      ['0.1.0', 'succeeded', 'user:default/mock'],
    ]);
  });
});
