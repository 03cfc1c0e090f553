import type { Config } from '@backstage/config';
import type { ClusterTarget } from '../cluster';
import { isDnsLabel } from '../catalog';
import { readGatewayTls } from '../certificates/config';

/** Where one environment lives, as configured in `kubeDelivery.environments`. */
export interface EnvironmentConfig {
  name: string;
  namespace: string;
  cluster: ClusterTarget;
  minReplicas?: number;
  /** preStop sleep of containers without a hook, so deletions drain (see manifests/render.ts). */
  shutdownDelaySeconds?: number;
  protected: boolean;
  featureBranches: boolean;
  /** The routing keys rules may match on here, as `<kind>:<name>` (e.g. `header:userid`). */
  routingKeys: string[];
  /** Objects of a service's names that Kube Delivery did not create may be taken over. */
  adoptUnmanaged: boolean;
  /** Deploys go on into a namespace without PodSecurity enforcement. */
  allowNamespaceWithoutPodSecurity: boolean;
  /** ConfigMaps and Secrets of the namespace every service's pods may use. */
  shared: { configMaps: string[]; secrets: string[] };
  variables: Record<string, string>;
  /** How feature-branch routing is written: Istio VirtualService (default) or Gateway API HTTPRoute. */
  routingApi?: RoutingApiName;
  gateway?: {
    namespace: string;
    name: string;
    hosts: string[];
    cluster?: ClusterTarget;
    /** `istio` (networking.istio.io Gateway) or `gateway-api`; default istio. */
    api?: 'istio' | 'gateway-api';
    /** HTTPS of the gateway; defaults in certificates/config.ts. */
    tls?: GatewayTlsConfig;
  };
}

/** How an environment's gateway serves HTTPS. */
export interface GatewayTlsConfig {
  /** The `kubernetes.io/tls` Secret in the gateway's namespace. */
  secretName: string;
  /** Redirect HTTP on port 80 to HTTPS (Istio gateways). */
  httpsRedirect: boolean;
  /** The cert-manager issuer an authorised user may switch the environment to. */
  certManagerIssuer?: { name: string; kind: string; group: string };
}

export type RoutingApiName = 'istio' | 'gateway-api';

export interface ChannelConfig {
  name: string;
  prerelease: string;
  environments?: string[];
}

/** Runner timings, with their defaults. */
export interface RunnerSettings {
  leaseMs: number;
  blueGreenCleanupDelayMs: number;
  pollIntervalMs: number;
}

export interface DeliveryConfig {
  environments: EnvironmentConfig[];
  lifecycle: string[];
  channels: ChannelConfig[];
  runner: RunnerSettings;
}

/**
 * Long enough for a proxy to act on an EndpointSlice change (Traefik's provider throttle
 * is 2 s, Istio's push debounce 100 ms to 1 s), short next to the default 30 s grace.
 */
const DEFAULT_SHUTDOWN_DELAY_SECONDS = 5;

const DEFAULT_CHANNELS: ChannelConfig[] = [
  { name: 'default', prerelease: '^$' },
  { name: 'feature-branch', prerelease: '.+' },
];

function readTimeoutSeconds(config: Config, name: string) {
  const seconds = config.getOptionalNumber('timeoutSeconds');
  if (seconds !== undefined && !(seconds > 0 && seconds <= 120)) {
    throw new Error(
      `kubeDelivery.environments: cluster.timeoutSeconds of "${name}" must be more than 0 and at most 120`,
    );
  }
  return seconds;
}

function readClusterTarget(
  config: Config,
  name: string,
  namespace: string,
): ClusterTarget {
  const clusterName = config.getOptionalString('name');
  if (clusterName) {
    for (const key of ['url', 'kubeconfigContext', 'kubeconfigPath']) {
      if (config.has(key)) {
        throw new Error(
          `kubeDelivery.environments: the cluster of "${name}" is named "${clusterName}" (kubernetes.clusterLocatorMethods) and has ${key}; use one form`,
        );
      }
    }
  }
  return {
    name,
    namespace,
    clusterName,
    url: config.getOptionalString('url'),
    caData: config.getOptionalString('caData'),
    serviceAccountToken: config.getOptionalString('serviceAccountToken'),
    serviceAccountTokenFile: config.getOptionalString(
      'serviceAccountTokenFile',
    ),
    kubeconfigContext: config.getOptionalString('kubeconfigContext'),
    kubeconfigPath: config.getOptionalString('kubeconfigPath'),
    skipTLSVerify: config.getOptionalBoolean('skipTLSVerify'),
    timeoutSeconds: readTimeoutSeconds(config, name),
  };
}

/** Reads and checks `kubeDelivery` from app-config; a mistake stops start-up with a clear message. */
export function readDeliveryConfig(root: Config): DeliveryConfig {
  const config = root.getOptionalConfig('kubeDelivery');
  const environments = (
    config?.getOptionalConfigArray('environments') ?? []
  ).map(env => {
    const name = env.getString('name');
    const namespace = env.getString('namespace');
    for (const [what, value] of [
      ['name', name],
      ['namespace', namespace],
    ]) {
      if (!isDnsLabel(value)) {
        throw new Error(
          `kubeDelivery.environments: ${what} "${value}" must be an RFC 1123 label`,
        );
      }
    }
    // A Gateway API gateway binds HTTPRoutes only: default to them there.
    const routingApi =
      env.getOptionalString('routingApi') ??
      env.getOptionalString('gateway.api') ??
      'istio';
    if (routingApi !== 'istio' && routingApi !== 'gateway-api') {
      throw new Error(
        `kubeDelivery.environments: routingApi of "${name}" must be istio or gateway-api`,
      );
    }
    const shutdownDelaySeconds =
      env.getOptionalNumber('shutdownDelaySeconds') ??
      DEFAULT_SHUTDOWN_DELAY_SECONDS;
    if (
      !Number.isInteger(shutdownDelaySeconds) ||
      shutdownDelaySeconds < 0 ||
      shutdownDelaySeconds > 300
    ) {
      throw new Error(
        `kubeDelivery.environments: shutdownDelaySeconds of "${name}" must be an integer from 0 to 300`,
      );
    }
    const gateway = env.getOptionalConfig('gateway');
    const gatewayNamespace = gateway?.getString('namespace');
    const gatewayCluster = gateway?.getOptionalConfig('cluster');
    return {
      name,
      namespace,
      cluster: readClusterTarget(env.getConfig('cluster'), name, namespace),
      minReplicas: env.getOptionalNumber('minReplicas'),
      shutdownDelaySeconds,
      protected: env.getOptionalBoolean('protected') ?? false,
      featureBranches: env.getOptionalBoolean('featureBranches') ?? false,
      routingKeys: env.getOptionalStringArray('routingKeys') ?? [],
      adoptUnmanaged: env.getOptionalBoolean('adoptUnmanaged') ?? false,
      allowNamespaceWithoutPodSecurity:
        env.getOptionalBoolean('allowNamespaceWithoutPodSecurity') ?? false,
      shared: {
        configMaps: env.getOptionalStringArray('shared.configMaps') ?? [],
        secrets: env.getOptionalStringArray('shared.secrets') ?? [],
      },
      variables: (env.getOptional('variables') ?? {}) as Record<string, string>,
      routingApi: routingApi as RoutingApiName,
      gateway: gateway && {
        namespace: gatewayNamespace!,
        name: gateway.getString('name'),
        hosts: gateway.getOptionalStringArray('hosts') ?? [],
        cluster:
          gatewayCluster &&
          readClusterTarget(
            gatewayCluster,
            `${name}-gateway`,
            gatewayNamespace!,
          ),
        ...readGatewayTls(gateway, name),
      },
    };
  });
  const names = new Set<string>();
  for (const env of environments) {
    if (names.has(env.name)) {
      throw new Error(
        `kubeDelivery.environments: "${env.name}" is configured twice`,
      );
    }
    names.add(env.name);
  }
  const lifecycle =
    config?.getOptionalStringArray('lifecycle') ??
    environments.map(e => e.name);
  for (const name of lifecycle) {
    if (!names.has(name)) {
      throw new Error(
        `kubeDelivery.lifecycle names an unknown environment "${name}"`,
      );
    }
  }
  const channels =
    config?.getOptionalConfigArray('channels')?.map(c => ({
      name: c.getString('name'),
      prerelease: c.getString('prerelease'),
      environments: c.getOptionalStringArray('environments'),
    })) ?? DEFAULT_CHANNELS;
  const deployments = config?.getOptionalConfig('deployments');
  return {
    environments,
    lifecycle,
    channels,
    runner: {
      leaseMs: (deployments?.getOptionalNumber('leaseSeconds') ?? 30) * 1000,
      blueGreenCleanupDelayMs:
        (deployments?.getOptionalNumber('blueGreenCleanupDelaySeconds') ??
          300) * 1000,
      pollIntervalMs: deployments?.getOptionalNumber('pollIntervalMs') ?? 1000,
    },
  };
}
