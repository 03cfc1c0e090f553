import { randomBytes } from 'node:crypto';
import { kubectl, readObject } from './cluster';

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
  return {
    namespace: GATEWAY_NAMESPACE,
    name,
    secretName,
    read: () =>
      readObject(GATEWAY_NAMESPACE, 'gateway.networking.istio.io', name),
    readSecret: secret => readObject(GATEWAY_NAMESPACE, 'secret', secret),
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
