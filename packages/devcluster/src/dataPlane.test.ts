/*
 * The data plane of the cluster started by `yarn devcluster up`: Traefik serving the
 * environments' Gateways, and the pod runner serving annotated pods on their pod IPs.
 * These tests fail, never skip, when the data plane is missing (they say what to do).
 */
import {
  devClusterStatus,
  DevCluster,
  environmentGateway,
  getDevCluster,
  requireDataPlane,
  SERVE_ANNOTATION,
} from './index';
import { httpStatus } from './processes';

jest.setTimeout(180_000);

let cluster: DevCluster;
let httpUrl: string;
const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));
const unique = (prefix: string) =>
  `${prefix}-${Date.now().toString(36)}-${Math.random()
    .toString(36)
    .slice(2, 6)}`;

beforeAll(async () => {
  cluster = await getDevCluster();
  ({ httpUrl } = requireDataPlane(cluster));
});

async function kubectl(args: string[], input?: string): Promise<string> {
  const result = await cluster.kubectl(args, { input });
  if (result.code !== 0) {
    throw new Error(`kubectl ${args.join(' ')}: ${result.stderr}`);
  }
  return result.stdout;
}

async function eventually<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

/** GET with a Host header; status 0 when the connection fails. */
async function get(
  url: string,
  host?: string,
): Promise<{ status: number; body: string; pod?: string }> {
  const answer = await httpStatus(url, { headers: host ? { host } : {} });
  return { ...answer, pod: answer.headers['x-pod-name'] as string | undefined };
}

function servedWorkload(name: string, preStopSeconds: number) {
  return [
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name, namespace: 'dev', labels: { app: name } },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: name } },
        template: {
          metadata: {
            labels: { app: name, version: '1.2.3' },
            annotations: { [SERVE_ANNOTATION]: 'true' },
          },
          spec: {
            terminationGracePeriodSeconds: 30,
            containers: [
              {
                name: 'app',
                image: 'example.test/echo:1.2.3',
                ports: [{ containerPort: 8080 }],
                lifecycle: { preStop: { sleep: { seconds: preStopSeconds } } },
              },
            ],
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace: 'dev' },
      spec: {
        selector: { app: name },
        ports: [{ name: 'http', port: 80, targetPort: 8080 }],
      },
    },
    {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name, namespace: 'dev' },
      spec: {
        parentRefs: [
          {
            group: 'gateway.networking.k8s.io',
            kind: 'Gateway',
            namespace: environmentGateway('dev').namespace,
            name: environmentGateway('dev').name,
          },
        ],
        hostnames: [`${name}.dev.boutique.example`],
        rules: [{ backendRefs: [{ name, port: 80 }] }],
      },
    },
  ];
}

describe('devcluster data plane', () => {
  it('status lists Traefik and the pod runner as healthy components', async () => {
    const status = await devClusterStatus();
    const byName = Object.fromEntries(status.components.map(c => [c.name, c]));
    expect(byName.traefik).toMatchObject({ running: true, healthy: true });
    expect(byName['pod-runner']).toMatchObject({
      running: true,
      healthy: true,
    });
    expect(status.dataPlane?.unavailable).toBeUndefined();
  });

  it('serves a pod on its IP only once it is Ready, through the Gateway, and through its preStop sleep after deletion', async () => {
    const name = unique('echo');
    const host = `${name}.dev.boutique.example`;
    await kubectl(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'List',
        items: servedWorkload(name, 3),
      }),
    );
    try {
      const pod = await eventually('a Ready pod', async () => {
        const list = JSON.parse(
          await kubectl([
            '-n',
            'dev',
            'get',
            'pods',
            '-l',
            `app=${name}`,
            '-o',
            'json',
          ]),
        );
        const ready = list.items.find((p: any) =>
          p.status.conditions?.some(
            (c: any) => c.type === 'Ready' && c.status === 'True',
          ),
        );
        return ready;
      });
      // Ready means listening: the pod answers on its own IP at once.
      const direct = await get(`http://${pod.status.podIP}:8080/hello`);
      expect(direct.status).toBe(200);
      expect(JSON.parse(direct.body)).toMatchObject({
        pod: pod.metadata.name,
        version: '1.2.3',
        path: '/hello',
      });

      const viaGateway = await eventually(
        'Traefik to route the host',
        async () => {
          const answer = await get(`${httpUrl}/`, host);
          return answer.status === 200 ? answer : undefined;
        },
      );
      expect(viaGateway.pod).toBe(pod.metadata.name);

      // Deleted: still serving through the 3 s preStop sleep, then gone with its object.
      const deletedAt = Date.now();
      await kubectl([
        '-n',
        'dev',
        'delete',
        'pod',
        pod.metadata.name,
        '--wait=false',
      ]);
      await sleep(1000);
      expect((await get(`http://${pod.status.podIP}:8080/`)).status).toBe(200);
      await eventually(
        'the pod to stop serving',
        async () =>
          (await get(`http://${pod.status.podIP}:8080/`)).status === 0
            ? true
            : undefined,
        20_000,
      );
      const servedForMs = Date.now() - deletedAt;
      expect(servedForMs).toBeGreaterThanOrEqual(3000);
      await eventually('the pod object to be deleted', async () => {
        const result = await cluster.kubectl([
          '-n',
          'dev',
          'get',
          'pod',
          pod.metadata.name,
        ]);
        return /NotFound/.test(result.stderr) ? true : undefined;
      });
    } finally {
      await cluster.kubectl([
        '-n',
        'dev',
        'delete',
        'deployment,service,httproute',
        name,
        '--ignore-not-found',
        '--wait=true',
        '--timeout=60s',
      ]);
    }
  });

  it('answers 404 for a host no route serves', async () => {
    const answer = await get(
      `${httpUrl}/`,
      `${unique('nobody')}.dev.boutique.example`,
    );
    expect(answer.status).toBe(404);
  });
});
