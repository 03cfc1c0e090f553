/*
 * These tests run against the cluster started by `yarn devcluster up` (or the cluster of
 * KUBECONFIG with DEVCLUSTER_USE_KUBECONFIG=1). They fail, never skip, when it is not running.
 */
import {
  DEPLOYER_NAMESPACE,
  deployerServiceAccount,
  deployerUsername,
  DevCluster,
  EXIT_CODE_ANNOTATION,
  getDevCluster,
  kubeApiRequest,
  NAMESPACES,
  NEVER_READY_ANNOTATION,
  POD_SECURITY_LABELS,
} from './index';

jest.setTimeout(180_000);

// kwok never pulls it; on a real cluster (DEVCLUSTER_USE_KUBECONFIG) it must be pullable.
const TEST_IMAGE = process.env.DEVCLUSTER_TEST_IMAGE || 'nginx:1.27-alpine';

let cluster: DevCluster;
const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  cluster = await getDevCluster();
});

afterEach(async () => {
  while (cleanups.length) {
    await cleanups.pop()!();
  }
});

const unique = (prefix: string) =>
  `${prefix}-${Date.now().toString(36)}-${Math.random()
    .toString(36)
    .slice(2, 6)}`;

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

async function kubectl(args: string[], input?: string): Promise<string> {
  const result = await cluster.kubectl(args, { input });
  if (result.code !== 0) {
    throw new Error(`kubectl ${args.join(' ')}: ${result.stderr}`);
  }
  return result.stdout;
}

async function apply(objects: object[]): Promise<void> {
  await kubectl(
    ['apply', '-f', '-'],
    JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }),
  );
}

/** Deletes the objects after the test (and waits, so pods actually go away). */
function deleteAfter(namespace: string, ...refs: string[]) {
  cleanups.push(() =>
    cluster.kubectl([
      'delete',
      '-n',
      namespace,
      '--ignore-not-found',
      '--wait=true',
      '--timeout=60s',
      ...refs,
    ]),
  );
}

async function eventually<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs = 90_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await fn();
      if (value !== undefined) return value;
    } catch (e) {
      last = e;
    }
    await sleep(500);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last}` : ''}`);
}

function deployment(
  name: string,
  namespace: string,
  options: {
    replicas?: number;
    spread?: boolean;
    neverReady?: boolean;
    progressDeadlineSeconds?: number;
    serviceAccountName?: string;
    privileged?: boolean;
  } = {},
) {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace, labels: { app: name } },
    spec: {
      replicas: options.replicas ?? 1,
      progressDeadlineSeconds: options.progressDeadlineSeconds,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: {
          labels: { app: name },
          annotations: options.neverReady
            ? { [NEVER_READY_ANNOTATION]: 'true' }
            : {},
        },
        spec: {
          serviceAccountName: options.serviceAccountName,
          affinity: options.spread
            ? {
                podAntiAffinity: {
                  preferredDuringSchedulingIgnoredDuringExecution: [
                    {
                      weight: 100,
                      podAffinityTerm: {
                        topologyKey: 'kubernetes.io/hostname',
                        labelSelector: { matchLabels: { app: name } },
                      },
                    },
                  ],
                },
              }
            : undefined,
          containers: [
            {
              name: 'app',
              image: TEST_IMAGE,
              ports: [{ containerPort: 8080, name: 'http' }],
              // On a real cluster (DEVCLUSTER_USE_KUBECONFIG) this probe keeps the pod
              // NotReady; under kwok the annotation does.
              readinessProbe: options.neverReady
                ? { tcpSocket: { port: 1 }, periodSeconds: 2 }
                : undefined,
              securityContext: options.privileged
                ? { privileged: true }
                : undefined,
            },
          ],
        },
      },
    },
  };
}

/** A Job whose (single) pod ends with the given exit code; no retries. */
function job(name: string, namespace: string, exitCode: string) {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, namespace, labels: { app: name } },
    spec: {
      backoffLimit: 0,
      template: {
        metadata: {
          labels: { app: name },
          annotations: { [EXIT_CODE_ANNOTATION]: exitCode },
        },
        spec: {
          restartPolicy: 'Never',
          containers: [
            {
              name: 'smoke',
              image: TEST_IMAGE,
              // On a real cluster (DEVCLUSTER_USE_KUBECONFIG) the command decides; under
              // kwok the annotation does.
              command: ['sh', '-c', `sleep 1; exit ${exitCode}`],
            },
          ],
        },
      },
    },
  };
}

describe('devcluster', () => {
  it('rolls out a 2-replica Deployment spread over 2 nodes, with a filled EndpointSlice', async () => {
    const name = unique('spread');
    deleteAfter('dev', `deployment/${name}`, `service/${name}`);
    await apply([
      deployment(name, 'dev', { replicas: 2, spread: true }),
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name, namespace: 'dev' },
        spec: {
          selector: { app: name },
          ports: [{ name: 'http', port: 80, targetPort: 'http' }],
        },
      },
    ]);
    await kubectl([
      'rollout',
      'status',
      '-n',
      'dev',
      `deployment/${name}`,
      '--timeout=120s',
    ]);

    const pods = JSON.parse(
      await kubectl([
        'get',
        'pods',
        '-n',
        'dev',
        '-l',
        `app=${name}`,
        '-o',
        'json',
      ]),
    ).items;
    const running = pods.filter((p: any) => !p.metadata.deletionTimestamp);
    expect(running).toHaveLength(2);
    for (const pod of running) {
      const ready = pod.status.conditions.find((c: any) => c.type === 'Ready');
      expect(ready?.status).toBe('True');
      expect(pod.status.podIP).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    }
    expect(new Set(running.map((p: any) => p.spec.nodeName)).size).toBe(2);

    const readyEndpoints = await eventually('2 ready endpoints', async () => {
      const slices = JSON.parse(
        await kubectl([
          'get',
          'endpointslices',
          '-n',
          'dev',
          '-l',
          `kubernetes.io/service-name=${name}`,
          '-o',
          'json',
        ]),
      ).items;
      const ready = slices
        .flatMap((s: any) => s.endpoints ?? [])
        .filter((e: any) => e.conditions?.ready);
      return ready.length === 2 ? ready : undefined;
    });
    expect(readyEndpoints.map((e: any) => e.addresses[0]).sort()).toEqual(
      running.map((p: any) => p.status.podIP).sort(),
    );
  });

  it('rejects a VirtualService that violates the Istio schema and accepts a valid one', async () => {
    const name = unique('vs');
    deleteAfter('dev', `virtualservices.networking.istio.io/${name}`);
    const virtualService = (spec: object) => ({
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: { name, namespace: 'dev' },
      spec,
    });
    const invalid = await cluster.kubectl(['apply', '-f', '-'], {
      input: JSON.stringify(
        virtualService({
          hosts: 'not-a-list',
          http: [{ route: [{ destination: { host: 'x' }, weight: 'heavy' }] }],
        }),
      ),
    });
    expect(invalid.code).not.toBe(0);
    expect(invalid.stderr).toMatch(/Invalid value|invalid|must be of type/i);

    await apply([
      virtualService({
        hosts: [`${name}.boutique.example`],
        gateways: ['istio-system/ingressgateway'],
        http: [
          {
            route: [
              {
                destination: {
                  host: `${name}.dev.svc.cluster.local`,
                  port: { number: 80 },
                },
                weight: 100,
              },
            ],
          },
        ],
      }),
    ]);
    const stored = JSON.parse(
      await kubectl([
        'get',
        `virtualservices.networking.istio.io/${name}`,
        '-n',
        'dev',
        '-o',
        'json',
      ]),
    );
    expect(stored.spec.hosts).toEqual([`${name}.boutique.example`]);
  });

  it('lets the dev token create a Deployment in dev and forbids it in test', async () => {
    const name = unique('token');
    deleteAfter('dev', `deployment/${name}`);
    deleteAfter('test', `deployment/${name}`);
    const inDev = await kubeApiRequest(cluster, {
      method: 'POST',
      path: '/apis/apps/v1/namespaces/dev/deployments',
      token: cluster.tokens.dev,
      body: deployment(name, 'dev'),
    });
    expect(inDev.status).toBe(201);
    const inTest = await kubeApiRequest(cluster, {
      method: 'POST',
      path: '/apis/apps/v1/namespaces/test/deployments',
      token: cluster.tokens.dev,
      body: deployment(name, 'test'),
    });
    expect(inTest.status).toBe(403);
    expect(inTest.body.reason).toBe('Forbidden');
  });

  it('reports ProgressDeadlineExceeded for a Deployment whose pods never become Ready', async () => {
    const name = unique('stuck');
    deleteAfter('dev', `deployment/${name}`);
    await apply([
      deployment(name, 'dev', {
        neverReady: true,
        progressDeadlineSeconds: 10,
      }),
    ]);
    const condition = await eventually(
      'Progressing=False',
      async () => {
        const d = JSON.parse(
          await kubectl([
            'get',
            `deployment/${name}`,
            '-n',
            'dev',
            '-o',
            'json',
          ]),
        );
        const c = (d.status.conditions ?? []).find(
          (x: any) => x.type === 'Progressing',
        );
        return c?.status === 'False' ? c : undefined;
      },
      120_000,
    );
    expect(condition.reason).toBe('ProgressDeadlineExceeded');
    const pods = JSON.parse(
      await kubectl([
        'get',
        'pods',
        '-n',
        'dev',
        '-l',
        `app=${name}`,
        '-o',
        'json',
      ]),
    ).items;
    expect(pods.length).toBeGreaterThan(0);
    for (const pod of pods) {
      expect(
        pod.status.conditions?.find((c: any) => c.type === 'Ready')?.status,
      ).not.toBe('True');
    }
  });

  it.each([
    { exitCode: '1', condition: 'Failed', phase: 'Failed', reason: 'Error' },
    {
      exitCode: '0',
      condition: 'Complete',
      phase: 'Succeeded',
      reason: 'Completed',
    },
  ])(
    'ends a Job whose pod exits with $exitCode as $condition',
    async ({ exitCode, condition, phase, reason }) => {
      const name = unique(`job-exit-${exitCode}`);
      cleanups.push(() =>
        cluster.kubectl([
          'delete',
          '-n',
          'dev',
          '--ignore-not-found',
          '--cascade=foreground',
          '--wait=true',
          '--timeout=60s',
          `job/${name}`,
        ]),
      );
      await apply([job(name, 'dev', exitCode)]);
      const finished = await eventually(`Job ${condition}=True`, async () => {
        const j = JSON.parse(
          await kubectl(['get', `job/${name}`, '-n', 'dev', '-o', 'json']),
        );
        const done = (j.status.conditions ?? []).find(
          (c: any) =>
            (c.type === 'Complete' || c.type === 'Failed') &&
            c.status === 'True',
        );
        return done ? j : undefined;
      });
      const conditions = finished.status.conditions.filter(
        (c: any) => c.status === 'True',
      );
      expect(conditions.map((c: any) => c.type)).toContain(condition);
      expect(conditions.map((c: any) => c.type)).not.toContain(
        condition === 'Failed' ? 'Complete' : 'Failed',
      );
      const expected =
        condition === 'Failed'
          ? { reason: 'BackoffLimitExceeded', failed: 1, succeeded: undefined }
          : { reason: undefined, failed: undefined, succeeded: 1 };
      expect({
        reason: conditions.find((c: any) => c.type === 'Failed')?.reason,
        failed: finished.status.failed,
        succeeded: finished.status.succeeded,
      }).toEqual(expected);

      const pods = JSON.parse(
        await kubectl([
          'get',
          'pods',
          '-n',
          'dev',
          '-l',
          `job-name=${name}`,
          '-o',
          'json',
        ]),
      ).items;
      expect(pods).toHaveLength(1);
      expect(pods[0].status.phase).toBe(phase);
      const terminated = pods[0].status.containerStatuses[0].state.terminated;
      expect(terminated.exitCode).toBe(Number(exitCode));
      expect(terminated.reason).toBe(reason);
    },
  );
});

describe('devcluster: deployer identity and pod security', () => {
  /** A bare Pod of `deployment()`'s template. */
  function pod(
    name: string,
    namespace: string,
    options: { serviceAccountName?: string; privileged?: boolean } = {},
  ) {
    const { template } = deployment(name, namespace, options).spec;
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { ...template.metadata, name, namespace },
      spec: template.spec,
    };
  }

  it('labels dev, test and production with PodSecurity baseline (enforce and warn)', async () => {
    for (const namespace of NAMESPACES) {
      const labels = JSON.parse(
        await kubectl(['get', 'namespace', namespace, '-o', 'json']),
      ).metadata.labels;
      expect(labels).toMatchObject(POD_SECURITY_LABELS);
    }
  });

  it('warns about a Deployment with a privileged pod template (dry run) and refuses such a Pod', async () => {
    const name = unique('privileged');
    const dryRun = (body: object) =>
      kubeApiRequest(cluster, {
        method: 'POST',
        path: '/apis/apps/v1/namespaces/dev/deployments?dryRun=All',
        token: cluster.tokens.dev,
        body,
      });

    const privileged = await dryRun(
      deployment(name, 'dev', { privileged: true }),
    );
    // A workload is only warned about (warn=baseline); its pods are what enforce refuses.
    expect(privileged.status).toBe(201);
    expect(privileged.headers.warning).toMatch(/^299 - "would violate/);
    expect(privileged.warnings).toEqual([
      'would violate PodSecurity "baseline:latest": privileged (container "app" must not set securityContext.privileged=true)',
    ]);
    const plain = await dryRun(deployment(name, 'dev'));
    expect(plain.status).toBe(201);
    expect(plain.headers.warning).toBeUndefined();
    expect(plain.warnings).toEqual([]);

    // enforce=baseline: the Pod itself is refused, whoever creates it (here the admin;
    // the deployer may not create pods at all, its Deployments' ReplicaSets do).
    const refused = await cluster.kubectl(
      ['create', '--dry-run=server', '-o', 'name', '-f', '-'],
      { input: JSON.stringify(pod(name, 'dev', { privileged: true })) },
    );
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(
      /violates PodSecurity "baseline:latest": privileged/,
    );
  });

  it('keeps the deployer accounts in kube-delivery-system, out of the namespaces they deploy to', async () => {
    for (const namespace of [...NAMESPACES, 'istio-system'] as const) {
      const review = await kubeApiRequest(cluster, {
        method: 'POST',
        path: '/apis/authentication.k8s.io/v1/selfsubjectreviews',
        token: cluster.tokens[namespace],
        body: {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'SelfSubjectReview',
        },
      });
      expect(review.status).toBe(201);
      expect(review.body.status.userInfo.username).toBe(
        deployerUsername(namespace),
      );
      expect(deployerUsername(namespace)).toContain(`:${DEPLOYER_NAMESPACE}:`);
      // No ServiceAccount of ours (the old kube-delivery one included) where it deploys.
      const accounts = JSON.parse(
        await kubectl([
          'get',
          'serviceaccounts',
          '-n',
          namespace,
          '-o',
          'json',
        ]),
      ).items.map((a: any) => a.metadata.name);
      expect(accounts).not.toContain(deployerServiceAccount(namespace));
      expect(accounts).not.toContain('kube-delivery');
      expect(accounts).not.toContain('kube-delivery-gateway');
    }
  });

  it('does not let the dev token create a pod that runs as the deployer', async () => {
    const account = deployerServiceAccount('dev');
    // Directly: the deployer may not create pods.
    const direct = await kubeApiRequest(cluster, {
      method: 'POST',
      path: '/api/v1/namespaces/dev/pods',
      token: cluster.tokens.dev,
      body: pod(unique('as-deployer'), 'dev', { serviceAccountName: account }),
    });
    expect(direct.status).toBe(403);

    // Through a Deployment (which it may create): the ReplicaSet controller's pods
    // are refused, the account does not exist in dev.
    const name = unique('as-deployer');
    deleteAfter('dev', `deployment/${name}`);
    const created = await kubeApiRequest(cluster, {
      method: 'POST',
      path: '/apis/apps/v1/namespaces/dev/deployments',
      token: cluster.tokens.dev,
      body: deployment(name, 'dev', { serviceAccountName: account }),
    });
    expect(created.status).toBe(201);
    const failure = await eventually('ReplicaFailure=True', async () => {
      const sets = JSON.parse(
        await kubectl([
          'get',
          'replicasets',
          '-n',
          'dev',
          '-l',
          `app=${name}`,
          '-o',
          'json',
        ]),
      ).items;
      return sets
        .flatMap((rs: any) => rs.status.conditions ?? [])
        .find((c: any) => c.type === 'ReplicaFailure' && c.status === 'True');
    });
    expect(failure.message).toContain(`serviceaccount "${account}" not found`);
    const pods = JSON.parse(
      await kubectl([
        'get',
        'pods',
        '-n',
        'dev',
        '-l',
        `app=${name}`,
        '-o',
        'json',
      ]),
    ).items;
    expect(pods).toEqual([]);

    // The deployer may write ServiceAccounts in dev (one per service), but one of the
    // same name there is another identity, with none of the deployer's rights.
    const account2 = await kubeApiRequest(cluster, {
      method: 'POST',
      path: '/api/v1/namespaces/dev/serviceaccounts?dryRun=All',
      token: cluster.tokens.dev,
      body: {
        apiVersion: 'v1',
        kind: 'ServiceAccount',
        metadata: { name: account, namespace: 'dev' },
      },
    });
    expect(account2.status).toBe(201);
    const canI = (user: string) =>
      cluster.kubectl([
        'auth',
        'can-i',
        'create',
        'deployments.apps',
        '-n',
        'dev',
        `--as=${user}`,
      ]);
    expect(
      (await canI(`system:serviceaccount:dev:${account}`)).stdout.trim(),
    ).toBe('no');
    expect((await canI(deployerUsername('dev'))).stdout.trim()).toBe('yes');
  });
});
