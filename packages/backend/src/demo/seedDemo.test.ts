/*
 * The demo seed on a clean database: the real Kube Delivery plugin (fresh
 * SQLite), the real catalog reading examples/online-boutique from its file
 * location as app-config.yaml registers it, the real auth services accepting
 * the static CI token of app-config.yaml, and the devcluster's dev, test and
 * production namespaces. The seeded state is checked through the API; a
 * second run changes nothing.
 *
 * This is the one test that uses the real Online Boutique names (other tests
 * use names of their own), because that is what the demo shows. It removes
 * its objects, routes and certificate afterwards and puts the shared dev
 * gateway back as it found it. It also sends the README's requests through
 * Traefik: the mainline, the branch by its cookie, and HTTPS.
 */
import {
  mockServices,
  startTestBackend,
  type TestBackend,
} from '@backstage/backend-test-utils';
import { authServiceFactory } from '@backstage/backend-defaults/auth';
import { httpAuthServiceFactory } from '@backstage/backend-defaults/httpAuth';
import {
  getDevCluster,
  httpStatus,
  requireDataPlane,
} from '@internal/devcluster';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import {
  bodyOf,
  entityPathOf,
  type KubeDeliveryApiClient,
} from '@internal/plugin-kube-delivery-common';
/* eslint-disable @backstage/no-mixed-plugin-imports -- the test runs the real plugins the demo needs */
import catalogPlugin from '@backstage/plugin-catalog-backend';
import kubeDeliveryPlugin from '@internal/plugin-kube-delivery-backend';
/* eslint-enable @backstage/no-mixed-plugin-imports */
import { createKubeDeliveryClient } from '@internal/plugin-scaffolder-backend-module-kube-delivery';
// The devcluster's app-config as the scaffolder module's tests read it.
// eslint-disable-next-line @backstage/no-forbidden-package-imports
import { devClusterAppConfig } from '@internal/plugin-scaffolder-backend-module-kube-delivery/src/__testUtils__/devClusterConfig';
import { exampleCatalogConfig } from './__testUtils__/exampleCatalog';
import { startKubernetesPlugin } from './__testUtils__/kubernetesPlugin';
import {
  BOUTIQUE_SERVICES,
  BRANCH,
  BRANCH_ROUTES,
  MAINLINE,
  NEXT,
  REDIS_CART,
  REDIS_RELEASE,
  seedDemo,
} from '.';

jest.setTimeout(600_000);

// Kube Delivery starts only with static tokens of at least 32 characters.
const TOKEN = 'seed-test-static-token-of-32-chars';
const NAMESPACES = ['dev', 'test', 'production'];
const NAMES = [...BOUTIQUE_SERVICES, REDIS_CART].map(ref => ref.split('/')[1]);

let backend: TestBackend;
let client: KubeDeliveryApiClient;
let kubernetesPlugin: Awaited<ReturnType<typeof startKubernetesPlugin>>;
let gatewayBefore: any;
/** The dev environment's gateway as scripts/dev.sh configures it: Traefik's Gateway API Gateway. */
let devGateway: { namespace: string; name: string; hosts: string[] };
const GATEWAY_RESOURCE = 'gateways.gateway.networking.k8s.io';
let secretBefore: boolean;
let secretName: string | undefined;

async function kubectl(args: string[]) {
  const cluster = await getDevCluster();
  const result = await cluster.kubectl(args);
  if (result.code !== 0)
    throw new Error(`kubectl ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

beforeAll(async () => {
  // kubeDelivery and kubernetes, as scripts/dev.sh writes them.
  const appConfig = await devClusterAppConfig();
  const examples = exampleCatalogConfig(TOKEN);
  kubernetesPlugin = await startKubernetesPlugin({
    kubernetes: appConfig.kubernetes,
    token: TOKEN,
  });
  devGateway = (appConfig.kubeDelivery.environments as any[]).find(
    e => e.name === 'dev',
  ).gateway;
  gatewayBefore = JSON.parse(
    await kubectl([
      'get',
      GATEWAY_RESOURCE,
      devGateway.name,
      '-n',
      devGateway.namespace,
      '-o',
      'json',
    ]),
  );
  backend = await startTestBackend({
    features: [
      catalogPlugin,
      kubeDeliveryPlugin,
      authServiceFactory,
      httpAuthServiceFactory,
      mockServices.rootConfig.factory({
        data: {
          backend: { auth: examples.auth },
          catalog: examples.catalog,
          kubeDelivery: {
            ...appConfig.kubeDelivery,
            // What scripts/dev.sh grants the seed's token for the local demo.
            servicePrincipals: [
              {
                subject: 'ci',
                permissions: [
                  'kube-delivery.read',
                  'kube-delivery.release.create',
                  'kube-delivery.deployment.create',
                  'kube-delivery.route.update',
                  'kube-delivery.certificate.update',
                ],
              },
            ],
          },
        },
      }),
    ],
  });
  client = createKubeDeliveryClient({
    baseUrl: async () =>
      `http://localhost:${backend.server.port()}/api/kube-delivery`,
    token: async () => TOKEN,
  });
});

afterAll(async () => {
  // Every step runs even when one before it failed, so the shared gateway
  // is always put back. The first failure is reported.
  const failures: unknown[] = [];
  const step = async (run: () => Promise<unknown>) => {
    try {
      await run();
    } catch (error) {
      failures.push(error);
    }
  };
  await step(async () => backend?.stop());
  await step(async () => kubernetesPlugin?.stop());
  await step(async () => {
    const selector = `app.kubernetes.io/name in (${NAMES.join(',')})`;
    for (const namespace of NAMESPACES) {
      await kubectl([
        'delete',
        'deployments,services,configmaps,poddisruptionbudgets,serviceaccounts',
        '-n',
        namespace,
        '-l',
        selector,
        '--ignore-not-found',
      ]);
    }
  });
  // The routing rules' HTTPRoutes, named after the services (the rules
  // themselves go with the test's database).
  await step(() =>
    kubectl([
      'delete',
      'httproutes.gateway.networking.k8s.io',
      ...BRANCH_ROUTES.map(route => route.entityRef.split('/')[1]),
      '-n',
      'dev',
      '--ignore-not-found',
    ]),
  );
  // Only the HTTPS listeners this test's upload added: other tests may be
  // changing the same gateway at the same time.
  await step(async () => {
    if (!gatewayBefore || !secretName) return;
    const before = new Set(
      (gatewayBefore.spec.listeners ?? []).map(
        (listener: any) => listener.name,
      ),
    );
    const current = JSON.parse(
      await kubectl([
        'get',
        GATEWAY_RESOURCE,
        devGateway.name,
        '-n',
        devGateway.namespace,
        '-o',
        'json',
      ]),
    );
    const patch = (current.spec.listeners ?? [])
      .map((listener: any, index: number) => ({ listener, index }))
      .filter(
        ({ listener }: any) =>
          !before.has(listener.name) &&
          listener.tls?.certificateRefs?.[0]?.name === secretName,
      )
      .reverse()
      .flatMap(({ listener, index }: any) => [
        {
          op: 'test',
          path: `/spec/listeners/${index}/name`,
          value: listener.name,
        },
        { op: 'remove', path: `/spec/listeners/${index}` },
      ]);
    if (patch.length === 0) return;
    await kubectl([
      'patch',
      GATEWAY_RESOURCE,
      devGateway.name,
      '-n',
      devGateway.namespace,
      '--type=json',
      '-p',
      JSON.stringify(patch),
    ]);
  });
  await step(async () => {
    if (!secretName || secretBefore) return;
    await kubectl([
      'delete',
      'secret',
      secretName,
      '-n',
      'istio-system',
      '--ignore-not-found',
    ]);
  });
  if (failures.length > 0) throw failures[0];
});

/**
 * The pods the Backstage Kubernetes plugin shows on frontend's Kubernetes
 * tab (`POST /api/kubernetes/services/frontend`, as its frontend asks),
 * once its catalog has read the examples.
 */
async function eventuallyPods(baseUrl: string): Promise<string[]> {
  const deadline = Date.now() + 180_000;
  for (;;) {
    const response = await fetch(
      `${baseUrl}/api/kubernetes/services/frontend`,
      {
        method: 'POST',
        headers: {
          Authorization: `Bearer ${TOKEN}`,
          'Content-Type': 'application/json',
        },
        body: JSON.stringify({
          entity: {
            kind: 'Component',
            metadata: { name: 'frontend', namespace: 'default' },
          },
        }),
      },
    );
    const body = await response.text();
    if (response.ok) {
      const { items } = JSON.parse(body);
      expect(items.flatMap((c: any) => c.errors)).toEqual([]);
      return items
        .flatMap((c: any) => c.resources)
        .filter((r: any) => r.type === 'pods')
        .flatMap((r: any) => r.resources)
        .map((pod: any) => pod.metadata.name);
    }
    // 403 "Entity not found" until its catalog has read the examples.
    if (Date.now() > deadline)
      throw new Error(`Kubernetes plugin: ${response.status} ${body}`);
    await new Promise(resolve => setTimeout(resolve, 1000));
  }
}

/** GET http://127.0.0.1/ for `host` (fetch would drop the Host header), until the pod runner's echo names `version`. */
async function eventuallyAnswered(
  host: string,
  headers: Record<string, string>,
  version: string,
): Promise<{ pod: string; version: string }> {
  const { httpUrl } = requireDataPlane(await getDevCluster());
  const once = () =>
    httpStatus(`${httpUrl}/`, {
      headers: { ...headers, host },
      timeoutMs: 5000,
    });
  const deadline = Date.now() + 30_000;
  for (;;) {
    const { status, body } = await once();
    if (status === 200) {
      const echo = JSON.parse(body);
      if (echo.version === version) return echo;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `${host} was not answered by ${version}: ${status} ${body.slice(
          0,
          200,
        )}`,
      );
    }
    await new Promise(resolve => setTimeout(resolve, 500));
  }
}

/** GET https://<host>/ through Traefik's HTTPS entry point: the answer and the served certificate. */
async function eventuallyHttps(host: string) {
  const { httpsUrl } = requireDataPlane(await getDevCluster());
  const { hostname, port } = new URL(httpsUrl);
  const once = () =>
    new Promise<{ status: number; version?: string; fingerprint?: string }>(
      resolve => {
        const req = https.get(
          {
            host: hostname,
            port: Number(port),
            servername: host,
            headers: { host },
            // The demo CA is not trusted here; the certificate is compared below.
            rejectUnauthorized: false,
            agent: false,
            timeout: 5000,
          },
          res => {
            const certificate = (res.socket as TLSSocket).getPeerCertificate();
            const chunks: Buffer[] = [];
            res.on('data', c => chunks.push(c));
            res.on('end', () => {
              let version: string | undefined;
              try {
                version = JSON.parse(Buffer.concat(chunks).toString()).version;
              } catch {
                // not the echo
              }
              resolve({
                status: res.statusCode ?? 0,
                version,
                fingerprint: certificate.fingerprint256,
              });
            });
          },
        );
        req.on('timeout', () => req.destroy(new Error('timeout')));
        req.on('error', () => resolve({ status: 0 }));
      },
    );
  const deadline = Date.now() + 30_000;
  for (;;) {
    const answer = await once();
    if (answer.status === 200 || Date.now() > deadline) return answer;
    await new Promise(resolve => setTimeout(resolve, 500));
  }
}

async function statusOf(
  entityRef: string,
): Promise<Record<string, string | undefined>> {
  const { items } = await bodyOf(
    client.getStatus({ path: entityPathOf(entityRef) }),
  );
  return Object.fromEntries(
    items.map(i => [i.environment, i.current?.version]),
  );
}

it('seeds Online Boutique through the API with the static token, and a second run changes nothing', async () => {
  const certificatesPath = { name: 'dev' };
  const before = await bodyOf(
    client.listCertificates({ path: certificatesPath }),
  );
  secretName = before.gateway.secretName;
  secretBefore =
    (
      await (
        await getDevCluster()
      ).kubectl(['get', 'secret', secretName, '-n', 'istio-system'])
    ).code === 0;

  const first = await seedDemo({ client, pollIntervalMs: 200 });
  expect(first).toEqual({
    releasesCreated: 12 + 11 + 2,
    deploymentsRun: 12 * 3 + 11 + 2,
    // Production is protected: the token's requests wait for a user's approval.
    deploymentsWaitingApproval: 12,
    routesCreated: 2,
    certificatesUploaded: before.items.some(c => c.active && c.status === 'ok')
      ? 0
      : 1,
  });

  for (const ref of BOUTIQUE_SERVICES) {
    expect({ ref, ...(await statusOf(ref)) }).toEqual({
      ref,
      dev: NEXT,
      test: MAINLINE,
      production: undefined,
    });
    const {
      items: [waiting],
    } = await bodyOf(
      client.listDeployments({
        path: entityPathOf(ref),
        query: { environment: 'production' },
      }),
    );
    expect(waiting).toMatchObject({
      version: MAINLINE,
      status: 'waiting-approval',
      createdBy: 'service:ci',
    });
  }
  expect(await statusOf(REDIS_CART)).toEqual({
    dev: REDIS_RELEASE.version,
    test: REDIS_RELEASE.version,
    production: undefined,
  });
  for (const route of BRANCH_ROUTES) {
    const path = entityPathOf(route.entityRef);
    const history = await bodyOf(
      client.listDeployments({ path, query: { environment: 'dev' } }),
    );
    expect(history.items.find(d => d.version === BRANCH)?.status).toBe(
      'succeeded',
    );
    const rules = await bodyOf(
      client.listRoutes({ path, query: { environment: 'dev' } }),
    );
    expect(rules.items.map(r => [r.branch, r.kind, r.key, r.value])).toEqual([
      ['myfeature', route.kind, route.key, route.value],
    ]);
  }
  const certificates = await bodyOf(
    client.listCertificates({ path: certificatesPath }),
  );
  const active = certificates.items.find(c => c.active);
  expect(active).toMatchObject({
    status: 'ok',
    sans: expect.arrayContaining(certificates.gateway.hosts),
  });

  // The branch pods run beside the mainline, in the dev namespace.
  const frontendPods = JSON.parse(
    await kubectl([
      'get',
      'deployments',
      '-n',
      'dev',
      '-l',
      'backstage.io/kubernetes-id=frontend',
      '-o',
      'json',
    ]),
  ).items.map((d: any) => d.metadata.name);
  expect(frontendPods.sort()).toEqual(['frontend', 'frontend-myfeature']);

  // The Backstage Kubernetes plugin shows the same pods as Kube Delivery, once
  // the pods replaced by the last deploys have finished terminating (served
  // pods drain through their preStop sleep), so both read the same set.
  const [frontend] = BOUTIQUE_SERVICES.filter(ref => ref.endsWith('/frontend'));
  const podsSeen = async () => {
    const { items } = await bodyOf(
      client.getStatus({ path: entityPathOf(frontend) }),
    );
    return {
      kubeDelivery: items.flatMap(i => i.rollout?.pods ?? []).map(p => p.name),
      kubernetesPlugin: await eventuallyPods(kubernetesPlugin.baseUrl),
    };
  };
  const samePods = (seen: Awaited<ReturnType<typeof podsSeen>>) =>
    seen.kubeDelivery.every(name => seen.kubernetesPlugin.includes(name));
  let pods = await podsSeen();
  const deadline = Date.now() + 30_000;
  while (!samePods(pods) && Date.now() < deadline) {
    await new Promise(resolve => setTimeout(resolve, 1000));
    pods = await podsSeen();
  }
  expect(pods.kubeDelivery.length).toBeGreaterThanOrEqual(4);
  expect(pods.kubernetesPlugin).toEqual(
    expect.arrayContaining(pods.kubeDelivery),
  );

  // Real requests through Traefik (the dev Gateway) to the frontend's pods, as
  // the README's curl: the mainline for everyone, the branch for the rule's cookie,
  // and HTTPS with the certificate the seed uploaded.
  const host = devGateway.hosts[0];
  const frontendRule = BRANCH_ROUTES.find(r =>
    r.entityRef.endsWith('/frontend'),
  )!;
  const mainline = await eventuallyAnswered(host, {}, NEXT);
  expect(mainline.pod).toMatch(/^frontend-[a-z0-9]+-[a-z0-9]+$/);
  const branch = await eventuallyAnswered(
    host,
    { cookie: `${frontendRule.key}=${frontendRule.value}` },
    BRANCH,
  );
  expect(branch.pod).toMatch(/^frontend-myfeature-/);
  const overHttps = await eventuallyHttps(host);
  expect(overHttps).toMatchObject({ status: 200, version: NEXT });
  expect(overHttps.fingerprint).toBe(active!.fingerprintSha256);

  await expect(seedDemo({ client, pollIntervalMs: 200 })).resolves.toEqual({
    releasesCreated: 0,
    deploymentsRun: 0,
    deploymentsWaitingApproval: 12,
    routesCreated: 0,
    certificatesUploaded: 0,
  });
});
