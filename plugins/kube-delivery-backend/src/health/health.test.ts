import {
  mockCredentials,
  mockServices,
  type TestBackend,
} from '@backstage/backend-test-utils';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import {
  deployerUsername,
  getDevCluster,
  type DevCluster,
} from '@internal/devcluster';
import type { Knex } from 'knex';
import request from 'supertest';
import { adserviceManifest } from '../__testUtils__/boutiqueManifests';
import { startDeliveryBackend } from '../__testUtils__/deliveryBackend';
import {
  devClusterEnvironments,
  entityWithManifest,
  uniqueName,
} from '../__testUtils__/deliveryHarness';
import { createTestDatabases } from '../__testUtils__/testDatabases';
import { ClusterClients } from '../cluster';
import type { EnvironmentConfig } from '../config/environments';
import { EnvironmentRegistry } from '../config/EnvironmentRegistry';
import { EnvironmentEvents } from '../events';
import { DatabaseHealthStore, type HealthStore } from './HealthStore';
import { diffFindings, HealthService } from './HealthService';
import type { EnvironmentHealth, HealthFinding } from './types';

jest.setTimeout(120_000);

/**
 * Destructive changes (namespace label, gateway, Role) are made to the `test`
 * namespace only, and undone in `finally`: others run tests on dev at the same time.
 */

/** dev, test and production of the devcluster, with the shared gateway read through its own ServiceAccount. */
function environmentsWithGateway(cluster: DevCluster): EnvironmentConfig[] {
  return devClusterEnvironments(cluster).map(env => ({
    ...env,
    gateway: {
      namespace: 'istio-system',
      name: 'ingressgateway',
      hosts: [`${env.name}.boutique.example`],
      cluster: {
        name: `${env.name}-gateway`,
        namespace: 'istio-system',
        url: cluster.server,
        caData: cluster.caData,
        serviceAccountToken: cluster.tokens['istio-system'],
      },
    },
  }));
}

async function kubectl(cluster: DevCluster, args: string[], input?: string) {
  const result = await cluster.kubectl(args, { input });
  if (result.code !== 0) {
    throw new Error(
      `kubectl ${args.join(' ')}: ${result.stderr || result.stdout}`,
    );
  }
  return result.stdout;
}

/** An object as `kubectl get -o json` shows it, made fit to create or replace again. */
function recreatable(object: any): any {
  const copy = structuredClone(object);
  for (const key of [
    'resourceVersion',
    'uid',
    'creationTimestamp',
    'generation',
  ]) {
    delete copy.metadata[key];
  }
  delete copy.status;
  return copy;
}

function finding(
  health: EnvironmentHealth,
  check: string,
): HealthFinding | undefined {
  return health.findings.find(f => f.check === check);
}

/** A HealthService of these environments with its own cluster clients. */
function healthService(options: {
  environments: EnvironmentConfig[];
  store: HealthStore;
  logger: ReturnType<typeof mockServices.logger.mock>;
}) {
  return new HealthService({
    ...options,
    environments: new EnvironmentRegistry(options.environments),
    clusters: new ClusterClients(options.logger),
  });
}

describe('environment health', () => {
  const databases = createTestDatabases();
  let cluster: DevCluster;
  let knex: Knex;
  let health: HealthService;
  let timeline: EnvironmentEvents;

  beforeAll(async () => {
    cluster = await getDevCluster();
    knex = await databases.init('SQLITE_3');
    timeline = new EnvironmentEvents(knex, mockServices.logger.mock());
    health = healthService({
      environments: environmentsWithGateway(cluster),
      store: await DatabaseHealthStore.create({
        database: { getClient: async () => knex } as any,
      }),
      logger: mockServices.logger.mock(),
    });
  });

  /** Checks until `until` holds (RBAC and label changes reach the authorizer's caches within moments). */
  async function checkUntil(
    environment: string,
    until: (h: EnvironmentHealth) => boolean,
  ): Promise<EnvironmentHealth> {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const result = await health.check(environment, 'user:default/tester');
      if (until(result) || Date.now() > deadline) return result;
      await new Promise(resolve => setTimeout(resolve, 250));
    }
  }

  it('reports a healthy environment (dev) as all ok', async () => {
    const result = await health.check('dev', 'user:default/tester');
    expect(result.findings.map(f => [f.check, f.status])).toEqual([
      ['cluster', 'ok'],
      ['credentials', 'ok'],
      ['istio-crds', 'ok'],
      ['sidecar-injection', 'ok'],
      ['pod-security', 'ok'],
      ['gateway', 'ok'],
    ]);
    expect(result.status).toBe('ok');
    expect(finding(result, 'credentials')!.message).toContain(
      `"${deployerUsername('dev')}"`,
    );
    expect(finding(result, 'pod-security')!.message).toBe(
      'Namespace "dev" enforces PodSecurity "baseline" (pod-security.kubernetes.io/enforce=baseline)',
    );
    // The cached result is what GET answers.
    expect(await health.latest('dev', 'user:default/tester')).toEqual(result);
  });

  it('finds a namespace without sidecar injection, and records the change both ways', async () => {
    const before = await checkUntil('test', h => h.status === 'ok');
    expect(before.status).toBe('ok');
    try {
      await kubectl(cluster, [
        'label',
        'namespace',
        'test',
        'istio-injection-',
      ]);
      const after = await checkUntil(
        'test',
        h => finding(h, 'sidecar-injection')?.status !== 'ok',
      );
      expect(after.status).toBe('warning');
      expect(finding(after, 'sidecar-injection')).toEqual({
        check: 'sidecar-injection',
        status: 'warning',
        message: expect.stringContaining('Namespace "test" has neither'),
        action: expect.stringContaining(
          'kubectl label namespace test istio-injection=enabled',
        ),
      });
      const { items } = await timeline.list({ environment: 'test', limit: 1 });
      expect(items[0]).toMatchObject({
        environment: 'test',
        kind: 'health-changed',
        actor: 'user:default/tester',
        message: 'Health of test: ok → warning; sidecar-injection ok → warning',
        details: {
          from: 'ok',
          to: 'warning',
          changes: [
            expect.objectContaining({
              check: 'sidecar-injection',
              from: 'ok',
              to: 'warning',
            }),
          ],
        },
      });
    } finally {
      await kubectl(cluster, [
        'label',
        '--overwrite',
        'namespace',
        'test',
        'istio-injection=enabled',
      ]);
    }
    const restored = await checkUntil('test', h => h.status === 'ok');
    expect(restored.status).toBe('ok');
    const { items } = await timeline.list({ environment: 'test', limit: 2 });
    expect(items.map(e => e.message)).toEqual([
      'Health of test: warning → ok; sidecar-injection warning → ok',
      'Health of test: ok → warning; sidecar-injection ok → warning',
    ]);
    // No change, no event.
    await health.check('test', 'user:default/tester');
    const again = await timeline.list({ environment: 'test', limit: 2 });
    expect(again.items.map(e => e.id)).toEqual(items.map(e => e.id));
  });

  it('finds a missing gateway', async () => {
    const original = JSON.parse(
      await kubectl(cluster, [
        'get',
        'gateways.networking.istio.io',
        'ingressgateway',
        '-n',
        'istio-system',
        '-o',
        'json',
      ]),
    );
    try {
      await kubectl(cluster, [
        'delete',
        'gateways.networking.istio.io',
        'ingressgateway',
        '-n',
        'istio-system',
        '--wait=true',
      ]);
      const result = await checkUntil(
        'test',
        h => finding(h, 'gateway')?.status !== 'ok',
      );
      expect(result.status).toBe('error');
      expect(finding(result, 'gateway')).toEqual({
        check: 'gateway',
        status: 'error',
        message: 'Gateway istio-system/ingressgateway does not exist',
        action: expect.stringContaining(
          'Create the Istio Gateway istio-system/ingressgateway',
        ),
      });
    } finally {
      await kubectl(
        cluster,
        ['create', '-f', '-'],
        JSON.stringify(recreatable(original)),
      );
    }
    const restored = await checkUntil('test', h => h.status === 'ok');
    expect(finding(restored, 'gateway')?.status).toBe('ok');
  });

  it('finds a permission the ServiceAccount lacks', async () => {
    const original = JSON.parse(
      await kubectl(cluster, [
        'get',
        'role',
        'kube-delivery',
        '-n',
        'test',
        '-o',
        'json',
      ]),
    );
    const narrowed = recreatable(original);
    for (const rule of narrowed.rules) {
      if (
        rule.apiGroups.includes('apps') &&
        rule.resources.includes('deployments')
      ) {
        rule.verbs = rule.verbs.filter((verb: string) => verb !== 'patch');
      }
    }
    try {
      await kubectl(cluster, ['replace', '-f', '-'], JSON.stringify(narrowed));
      const result = await checkUntil('test', h => h.status !== 'ok');
      expect(result.status).toBe('error');
      expect(finding(result, 'credentials')).toBeUndefined();
      expect(
        result.findings.filter(f => f.check.startsWith('credentials')),
      ).toEqual([
        {
          check: 'credentials:patch deployments.apps',
          status: 'error',
          message: expect.stringMatching(
            /^"system:serviceaccount:kube-delivery-system:deployer-test" may not patch deployments\.apps in namespace "test"/,
          ),
          action: expect.stringContaining(
            'Add verb "patch" on resource "deployments" (apiGroups: ["apps"])',
          ),
        },
      ]);
    } finally {
      await kubectl(
        cluster,
        ['replace', '-f', '-'],
        JSON.stringify(recreatable(original)),
      );
    }
    const restored = await checkUntil('test', h => h.status === 'ok');
    expect(finding(restored, 'credentials')?.status).toBe('ok');
    const { items } = await timeline.list({ environment: 'test', limit: 2 });
    expect(items.map(e => e.message)).toEqual([
      'Health of test: error → ok; credentials:patch deployments.apps error → ok',
      'Health of test: ok → error; credentials:patch deployments.apps ok → error',
    ]);
  });

  it('says what RBAC to add when the namespace may not be read', async () => {
    // The test ServiceAccount's token, pointed at namespace dev: it may read
    // Namespace "test" only.
    const [test] = devClusterEnvironments(cluster).filter(
      e => e.name === 'test',
    );
    const strayed = healthService({
      environments: [
        {
          ...test,
          name: 'strayed',
          namespace: 'dev',
          cluster: { ...test.cluster, name: 'strayed', namespace: 'dev' },
        },
      ],
      store: await DatabaseHealthStore.create({
        database: { getClient: async () => knex } as any,
      }),
      logger: mockServices.logger.mock(),
    });
    const result = await strayed.check('strayed', 'user:default/tester');
    expect(finding(result, 'sidecar-injection')).toEqual({
      check: 'sidecar-injection',
      status: 'warning',
      message: expect.stringContaining('may not get Namespace "dev"'),
      action:
        'kubectl create clusterrole kube-delivery-namespace-dev --verb=get --resource=namespaces --resource-name=dev && kubectl create clusterrolebinding kube-delivery-namespace-dev --clusterrole=kube-delivery-namespace-dev --serviceaccount=kube-delivery-system:deployer-test',
    });
    expect(finding(result, 'pod-security')).toEqual({
      check: 'pod-security',
      status: 'warning',
      message: expect.stringContaining('cannot be verified'),
      action: finding(result, 'sidecar-injection')!.action,
    });
    expect(finding(result, 'credentials:patch deployments.apps')?.status).toBe(
      'error',
    );
  });

  it('finds a namespace without PodSecurity enforcement', async () => {
    // A throwaway namespace (not dev/test/production, which others use) and an
    // account of its own that may read only that Namespace.
    const ns = uniqueName('psa');
    const reader = `kube-delivery-health-test-${ns}`;
    try {
      await kubectl(cluster, ['create', 'namespace', ns]);
      await kubectl(cluster, ['create', 'serviceaccount', 'probe', '-n', ns]);
      await kubectl(cluster, [
        'create',
        'clusterrole',
        reader,
        '--verb=get',
        '--resource=namespaces',
        `--resource-name=${ns}`,
      ]);
      await kubectl(cluster, [
        'create',
        'clusterrolebinding',
        reader,
        `--clusterrole=${reader}`,
        `--serviceaccount=${ns}:probe`,
      ]);
      const token = (
        await kubectl(cluster, ['create', 'token', 'probe', '-n', ns])
      ).trim();
      const [dev] = devClusterEnvironments(cluster);
      const throwaway = healthService({
        environments: [
          {
            ...dev,
            name: ns,
            namespace: ns,
            cluster: {
              ...dev.cluster,
              name: ns,
              namespace: ns,
              serviceAccountToken: token,
            },
          },
        ],
        store: await DatabaseHealthStore.create({
          database: { getClient: async () => knex } as any,
        }),
        logger: mockServices.logger.mock(),
      });
      /** Checks until the pod-security finding satisfies `until` (label changes take moments). */
      const check = async (until: (f?: HealthFinding) => boolean) => {
        const deadline = Date.now() + 15_000;
        for (;;) {
          const result = await throwaway.check(ns, 'user:default/tester');
          if (until(finding(result, 'pod-security')) || Date.now() > deadline)
            return result;
          await new Promise(resolve => setTimeout(resolve, 250));
        }
      };

      const unlabelled = await check(f => f !== undefined);
      expect(finding(unlabelled, 'pod-security')).toEqual({
        check: 'pod-security',
        status: 'error',
        message: expect.stringMatching(
          new RegExp(
            `^Namespace "${ns}" has no pod-security\.kubernetes\.io/enforce label: Kubernetes does not enforce PodSecurity there`,
          ),
        ),
        action: expect.stringContaining(
          `kubectl label --overwrite namespace ${ns} pod-security.kubernetes.io/enforce=baseline pod-security.kubernetes.io/enforce-version=latest pod-security.kubernetes.io/warn=baseline pod-security.kubernetes.io/warn-version=latest`,
        ),
      });
      expect(finding(unlabelled, 'pod-security')!.action).toContain(
        'NET_ADMIN',
      );
      expect(unlabelled.status).toBe('error');

      await kubectl(cluster, [
        'label',
        'namespace',
        ns,
        'pod-security.kubernetes.io/enforce=privileged',
      ]);
      const privileged = await check(f => /=privileged/.test(f?.message ?? ''));
      expect(finding(privileged, 'pod-security')).toMatchObject({
        status: 'error',
        message: expect.stringContaining(
          `Namespace "${ns}" has pod-security.kubernetes.io/enforce=privileged`,
        ),
      });

      // The action's own command.
      await kubectl(cluster, [
        'label',
        '--overwrite',
        'namespace',
        ns,
        'pod-security.kubernetes.io/enforce=baseline',
        'pod-security.kubernetes.io/enforce-version=latest',
        'pod-security.kubernetes.io/warn=baseline',
        'pod-security.kubernetes.io/warn-version=latest',
      ]);
      const labelled = await check(f => f?.status === 'ok');
      expect(finding(labelled, 'pod-security')).toEqual({
        check: 'pod-security',
        status: 'ok',
        message: `Namespace "${ns}" enforces PodSecurity "baseline" (pod-security.kubernetes.io/enforce=baseline)`,
        action: '',
      });
    } finally {
      await cluster.kubectl([
        'delete',
        'clusterrolebinding,clusterrole',
        reader,
        '--ignore-not-found',
      ]);
      await cluster.kubectl([
        'delete',
        'namespace',
        ns,
        '--ignore-not-found',
        '--wait=false',
      ]);
    }
  });

  it('reports an unreachable cluster as one error', async () => {
    const [dev] = devClusterEnvironments(cluster);
    const away = healthService({
      environments: [
        { ...dev, cluster: { ...dev.cluster, url: 'https://127.0.0.1:1' } },
      ],
      store: await DatabaseHealthStore.create({
        database: { getClient: async () => knex } as any,
      }),
      logger: mockServices.logger.mock(),
    });
    const result = await away.check('dev', 'user:default/tester');
    expect(result.status).toBe('error');
    expect(result.findings).toEqual([
      {
        check: 'cluster',
        status: 'error',
        message: expect.stringContaining(
          'Cannot reach the Kubernetes API server',
        ),
        action: expect.stringContaining(
          'Check that the backend can reach https://127.0.0.1:1',
        ),
      },
    ]);
  });
});

describe('a credential beyond its namespace', () => {
  const databases = createTestDatabases();

  it('is a warning that says to bind a Role in the namespace only', async () => {
    const cluster = await getDevCluster();
    const [dev] = devClusterEnvironments(cluster);
    // The devcluster's administrator: what a cluster-wide credential of the
    // Kubernetes plugin would be, named through kubernetes.clusterLocatorMethods.
    const admin = healthService({
      environments: [
        {
          ...dev,
          cluster: {
            name: 'dev',
            namespace: 'dev',
            kubeconfigPath: cluster.kubeconfigPath,
          },
        },
      ],
      store: await DatabaseHealthStore.create({
        database: {
          getClient: async () => databases.init('SQLITE_3'),
        } as any,
      }),
      logger: mockServices.logger.mock(),
    });
    const result = await admin.check('dev', 'user:default/tester');
    expect(finding(result, 'credential-scope')).toEqual({
      check: 'credential-scope',
      status: 'warning',
      message:
        '"kube-delivery-admin" may create deployments and get secrets in every namespace, not only in "dev"',
      action:
        'Give kubeDelivery.environments "dev" a ServiceAccount token whose rights are bound by a Role in namespace "dev" only (README: "Connecting a real cluster"), as cluster.serviceAccountToken(File)',
    });
  });
});

describe('diffFindings', () => {
  const f = (
    check: string,
    status: HealthFinding['status'],
  ): HealthFinding => ({
    check,
    status,
    message: check,
    action: '',
  });

  it('treats an absent finding as ok', () => {
    expect(
      diffFindings(
        [f('credentials', 'ok'), f('gateway', 'ok')],
        [f('credentials:patch deployments.apps', 'error'), f('gateway', 'ok')],
      ),
    ).toEqual([
      expect.objectContaining({
        check: 'credentials:patch deployments.apps',
        from: 'ok',
        to: 'error',
      }),
    ]);
    expect(diffFindings([], [f('cluster', 'ok')])).toEqual([]);
  });
});

describe('environment health over HTTP', () => {
  const databases = createTestDatabases();
  const name = uniqueName('adservice');
  const { entity } = entityWithManifest({
    name,
    manifest: adserviceManifest(name),
  });
  let backend: TestBackend;
  const API = '/api/kube-delivery';

  beforeAll(async () => {
    backend = await startDeliveryBackend({
      cluster: await getDevCluster(),
      knex: await databases.init('SQLITE_3'),
      entities: [entity],
      permission: AuthorizeResult.ALLOW,
    });
  });

  it('needs credentials', async () => {
    for (const [method, path] of [
      ['get', '/environments/dev/health'],
      ['post', '/environments/dev/health'],
      ['get', '/environments/dev/events'],
    ] as const) {
      const response = await request(backend.server)[method](`${API}${path}`);
      expect(response.status).toBe(401);
    }
  });

  it('checks on demand, answers the cached result, and answers an unknown environment with the one unknown-environment 400', async () => {
    const auth = mockCredentials.user.header();
    const checked = await request(backend.server)
      .post(`${API}/environments/dev/health`)
      .set('Authorization', auth);
    expect(checked.status).toBe(200);
    expect(checked.body).toMatchObject({ environment: 'dev', status: 'ok' });
    const cached = await request(backend.server)
      .get(`${API}/environments/dev/health`)
      .set('Authorization', auth);
    expect(cached.body).toEqual(checked.body);
    const unknown = await request(backend.server)
      .get(`${API}/environments/nowhere/health`)
      .set('Authorization', auth);
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.message).toMatch(
      /^Unknown environment "nowhere"; configured: /,
    );
    const badLimit = await request(backend.server)
      .get(`${API}/environments/dev/events?limit=1000`)
      .set('Authorization', auth);
    expect(badLimit.status).toBe(400);
  });

  it('records a refused promotion in the history, keeping the 409', async () => {
    const auth = mockCredentials.user.header();
    const entityPath = `${API}/entities/component/default/${name}`;
    const release = await request(backend.server)
      .post(`${entityPath}/releases`)
      .set('Authorization', auth)
      .send({ version: '0.1.3' });
    expect(release.status).toBe(201);
    const refused = await request(backend.server)
      .post(`${entityPath}/deployments`)
      .set('Authorization', auth)
      .send({ environment: 'test', version: '0.1.3' });
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toBe(
      'Lifecycle rule: 0.1.3 must succeed in dev before it may enter test',
    );
    const history = await request(backend.server)
      .get(`${API}/environments/test/events?limit=5`)
      .set('Authorization', auth);
    expect(history.status).toBe(200);
    expect(history.body.items[0]).toMatchObject({
      environment: 'test',
      kind: 'promotion-refused',
      message:
        'Lifecycle rule: 0.1.3 must succeed in dev before it may enter test',
      actor: 'user:default/mock',
      details: {
        entityRef: `component:default/${name}`,
        version: '0.1.3',
        deploymentKind: 'deploy',
      },
    });
  });
});
