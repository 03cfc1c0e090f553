import type { DevCluster } from '@internal/devcluster';
import type { EnvironmentConfig } from '../../config/environments';
import type { OpensslCorpus } from './opensslCorpus';

/** A label on every object a certificates test creates, for cleaning up. */
export const TEST_LABEL = 'kube-delivery.io/test';

/** Runs the admin kubectl; throws with its stderr on failure. */
export async function kubectl(
  cluster: DevCluster,
  args: string[],
  input?: string,
): Promise<string> {
  const result = await cluster.kubectl(args, { input });
  if (result.code !== 0) {
    throw new Error(
      `kubectl ${args.join(' ')}: ${result.stderr || result.stdout}`,
    );
  }
  return result.stdout;
}

export async function adminGet<T = any>(
  cluster: DevCluster,
  resource: string,
  name: string,
): Promise<T | undefined> {
  const result = await cluster.kubectl([
    'get',
    resource,
    name,
    '-n',
    'istio-system',
    '--show-managed-fields',
    '-o',
    'json',
  ]);
  if (result.code !== 0) {
    if (/NotFound/.test(result.stderr)) return undefined;
    throw new Error(`kubectl get ${resource} ${name}: ${result.stderr}`);
  }
  return JSON.parse(result.stdout);
}

/** Server-side apply as another team (field manager `platform-team`), as an administrator. */
export async function adminApply(cluster: DevCluster, object: object) {
  await kubectl(
    cluster,
    ['apply', '--server-side', '--field-manager=platform-team', '-f', '-'],
    JSON.stringify(object),
  );
}

/** An Istio Gateway owned by another team: an HTTP server and another team's HTTPS server. */
export function foreignIstioGateway(name: string, suffix: string) {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'Gateway',
    metadata: {
      name,
      namespace: 'istio-system',
      labels: { [TEST_LABEL]: suffix },
    },
    spec: {
      selector: { istio: 'ingressgateway' },
      servers: [
        {
          port: { number: 80, name: 'http', protocol: 'HTTP' },
          hosts: ['*.cert-test.example'],
        },
        {
          name: 'team-tls',
          port: { number: 443, name: 'https-team', protocol: 'HTTPS' },
          hosts: ['team.other-test.example'],
          tls: { mode: 'SIMPLE', credentialName: 'team-tls' },
        },
      ],
    },
  };
}

/** A Gateway API Gateway with another team's HTTP listener. */
export function foreignGatewayApiGateway(name: string, suffix: string) {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: {
      name,
      namespace: 'istio-system',
      labels: { [TEST_LABEL]: suffix },
    },
    spec: {
      gatewayClassName: 'istio',
      listeners: [{ name: 'http', port: 80, protocol: 'HTTP' }],
    },
  };
}

/**
 * An environment whose gateway lives in istio-system and is written with the
 * gateway ServiceAccount's token (or the given one).
 */
export function gatewayEnvironment(
  cluster: DevCluster,
  options: {
    name: string;
    gatewayName: string;
    hosts: string[];
    api?: 'istio' | 'gateway-api';
    httpsRedirect?: boolean;
    issuer?: boolean;
    token?: string;
  },
): EnvironmentConfig {
  return {
    name: options.name,
    namespace: 'dev',
    cluster: {
      name: options.name,
      namespace: 'dev',
      url: cluster.server,
      caData: cluster.caData,
      serviceAccountToken: cluster.tokens.dev,
    },
    protected: false,
    featureBranches: false,
    routingKeys: [],
    adoptUnmanaged: false,
    allowNamespaceWithoutPodSecurity: false,
    shared: { configMaps: [], secrets: [] },
    variables: {},
    gateway: {
      namespace: 'istio-system',
      name: options.gatewayName,
      hosts: options.hosts,
      api: options.api ?? 'istio',
      cluster: {
        name: `${options.name}-gateway`,
        namespace: 'istio-system',
        url: cluster.server,
        caData: cluster.caData,
        serviceAccountToken: options.token ?? cluster.tokens['istio-system'],
      },
      tls: {
        secretName: `kd-${options.name}-tls`,
        httpsRedirect: options.httpsRedirect ?? false,
        ...(options.issuer && {
          certManagerIssuer: {
            name: 'letsencrypt-test',
            kind: 'ClusterIssuer',
            group: 'cert-manager.io',
          },
        }),
      },
    },
  };
}

/** Deletes what a certificates test created in istio-system (never the shared gateway). */
export async function cleanUp(
  cluster: DevCluster,
  suffix: string,
  secretNames: string[],
) {
  for (const resource of [
    'gateways.networking.istio.io',
    'gateways.gateway.networking.k8s.io',
    'certificates.cert-manager.io',
  ]) {
    await cluster.kubectl([
      'delete',
      resource,
      '-n',
      'istio-system',
      '-l',
      `${TEST_LABEL}=${suffix}`,
      '--ignore-not-found',
      '--wait=false',
    ]);
  }
  for (const name of secretNames) {
    await cluster.kubectl([
      'delete',
      'secret',
      name,
      '-n',
      'istio-system',
      '--ignore-not-found',
      '--wait=false',
    ]);
  }
  for (const name of secretNames) {
    await cluster.kubectl([
      'delete',
      'certificates.cert-manager.io',
      name,
      '-n',
      'istio-system',
      '--ignore-not-found',
      '--wait=false',
    ]);
  }
}

/** The standard test PKI: root, intermediate, and leaves for the cert-test hosts. */
export function issueTestCertificates(corpus: OpensslCorpus) {
  const root = corpus.issue('root', { issuer: 'self', kind: 'ca', days: 3650 });
  corpus.issue('intermediate', { issuer: root, kind: 'ca', days: 1825 });
  corpus.issue('wildcard', { sans: ['*.cert-test.example'], key: 'rsa:2048' });
  corpus.issue('shop', {
    sans: ['shop.cert-test.example', 'www.cert-test.example'],
  });
  corpus.issue('soon', { sans: ['*.cert-test.example'], days: 10 });
  corpus.issue('otherHost', { sans: ['elsewhere.example'] });
  corpus.issue('caLeaf', { kind: 'ca', sans: ['*.cert-test.example'] });
  corpus.issue('rsa1024', { key: 'rsa:1024', sans: ['*.cert-test.example'] });
  return corpus.certs;
}
