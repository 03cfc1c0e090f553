/*
 * The Software Template of examples/templates run by the real scaffolder:
 * the catalog reads the template from its file location, the scaffolder runs
 * fetch:template, kube-delivery:publish:local, kube-delivery:release:create
 * and kube-delivery:deploy, and the new service ends up registered in the
 * catalog and running in the devcluster's dev namespace.
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
import { parse } from 'yaml';
import {
  deleteDevServiceObjects,
  devClusterAppConfig,
  REPO_ROOT,
} from '../__testUtils__/devClusterConfig';
import {
  catalogModuleKubeDeliveryLocalPublish,
  scaffolderModuleKubeDelivery,
} from '../module';

jest.setTimeout(300_000);

const TEMPLATE = path.join(
  REPO_ROOT,
  'examples/templates/kube-delivery-service/template.yaml',
);
const run = `kdtpl-${randomBytes(3).toString('hex')}`;
const publishDirectory = fs.mkdtempSync(path.join(os.tmpdir(), 'kd-publish-'));

let backend: TestBackend;
let api: string;

async function call<T = any>(
  method: string,
  url: string,
  body?: unknown,
): Promise<T> {
  const response = await fetch(`${api}${url}`, {
    method,
    headers: {
      Authorization: mockCredentials.user.header(),
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
      catalogModuleKubeDeliveryLocalPublish,
      scaffolderPlugin,
      scaffolderModuleKubeDelivery,
      kubeDeliveryPlugin,
      mockServices.rootConfig.factory({
        data: {
          catalog: {
            rules: [{ allow: ['Component', 'Template', 'Location', 'Group'] }],
            locations: [{ type: 'file', target: TEMPLATE }],
          },
          kubeDelivery: {
            ...(await devClusterAppConfig()).kubeDelivery,
            scaffolder: { publishDirectory },
          },
        },
      }),
    ],
  });
  api = `http://localhost:${backend.server.port()}/api`;
});

afterAll(async () => {
  await backend?.stop();
  fs.rmSync(publishDirectory, { recursive: true, force: true });
  await deleteDevServiceObjects(
    `app.kubernetes.io/name in (${run}-grpc,${run}-http)`,
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
