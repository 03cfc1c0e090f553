import { getDevCluster } from '@internal/devcluster';
import { randomBytes } from 'node:crypto';

const GATEWAY_NAMESPACE = 'istio-system';
const TEST_LABEL = 'kube-delivery.io/e2e';

/**
 * An Istio Gateway of its own in istio-system for one e2e run, so that
 * certificate uploads never touch the shared `ingressgateway` or its Secrets.
 * The test backend's environments point at it (see startE2eBackend).
 */
export interface E2eGateway {
  namespace: string;
  name: string;
  /** The `kubernetes.io/tls` Secret an environment's uploads are written to. */
  secretName(environment: string): string;
  /** The Gateway as the cluster has it now. */
  read(): Promise<any>;
  /** A Secret of the gateway's namespace as the cluster has it now, or undefined. */
  readSecret(name: string): Promise<any | undefined>;
  /** Deletes the Gateway and every Secret written for it. */
  remove(): Promise<void>;
}

async function kubectl(args: string[], input?: string): Promise<string> {
  const cluster = await getDevCluster();
  const result = await cluster.kubectl(args, { input });
  if (result.code !== 0) {
    throw new Error(
      `kubectl ${args.join(' ')}: ${result.stderr || result.stdout}`,
    );
  }
  return result.stdout;
}

/** Creates the Gateway with plain HTTP for the devcluster environments' hosts. */
export async function createE2eGateway(hosts: string[]): Promise<E2eGateway> {
  const suffix = randomBytes(3).toString('hex');
  const name = `e2e-gw-${suffix}`;
  const labels = { [TEST_LABEL]: suffix };
  await kubectl(
    ['apply', '--server-side', '--field-manager=platform-team', '-f', '-'],
    JSON.stringify({
      apiVersion: 'networking.istio.io/v1',
      kind: 'Gateway',
      metadata: { name, namespace: GATEWAY_NAMESPACE, labels },
      spec: {
        selector: { istio: 'ingressgateway' },
        servers: [
          { port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts },
        ],
      },
    }),
  );
  const secretName = (environment: string) => `${name}-${environment}-tls`;
  const get = async (resource: string, objectName: string) => {
    const cluster = await getDevCluster();
    const result = await cluster.kubectl([
      '-n',
      GATEWAY_NAMESPACE,
      'get',
      resource,
      objectName,
      '-o',
      'json',
    ]);
    if (result.code !== 0) {
      if (/NotFound/.test(result.stderr)) return undefined;
      throw new Error(
        `kubectl get ${resource} ${objectName}: ${result.stderr}`,
      );
    }
    return JSON.parse(result.stdout);
  };
  return {
    namespace: GATEWAY_NAMESPACE,
    name,
    secretName,
    read: () => get('gateway.networking.istio.io', name),
    readSecret: secretNameToRead => get('secret', secretNameToRead),
    async remove() {
      await kubectl([
        '-n',
        GATEWAY_NAMESPACE,
        'delete',
        'gateway.networking.istio.io',
        name,
        '--ignore-not-found',
      ]);
      for (const environment of ['dev', 'test', 'production']) {
        await kubectl([
          '-n',
          GATEWAY_NAMESPACE,
          'delete',
          'secret',
          secretName(environment),
          '--ignore-not-found',
        ]);
      }
    },
  };
}
