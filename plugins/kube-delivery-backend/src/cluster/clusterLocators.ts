import type { AuthService, LoggerService } from '@backstage/backend-plugin-api';
import {
  ANNOTATION_ORIGIN_LOCATION,
  type Entity,
} from '@backstage/catalog-model';
import type { Config } from '@backstage/config';
import type { CatalogService } from '@backstage/plugin-catalog-node';
import {
  ANNOTATION_KUBERNETES_API_SERVER,
  ANNOTATION_KUBERNETES_API_SERVER_CA,
  ANNOTATION_KUBERNETES_AUTH_PROVIDER,
  ANNOTATION_KUBERNETES_AWS_ASSUME_ROLE,
  ANNOTATION_KUBERNETES_AWS_EXTERNAL_ID,
  ANNOTATION_KUBERNETES_SKIP_TLS_VERIFY,
} from '@backstage/plugin-kubernetes-common';
import type {
  AuthenticationStrategy,
  ClusterDetails,
} from '@backstage/plugin-kubernetes-node';
import {
  AnonymousStrategy,
  AwsIamStrategy,
  AzureIdentityStrategy,
  GoogleServiceAccountStrategy,
  ServiceAccountStrategy,
} from '@backstage/plugin-kubernetes-backend';
import { KubeConfig } from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';
import type { EnvironmentConfig } from '../config/environments';
import type { ClusterTarget } from './connection';

/**
 * Clusters configured once, for the Backstage Kubernetes plugin, in
 * `kubernetes.clusterLocatorMethods`: an environment names one
 * (`cluster: { name: prod-eu }`) instead of repeating its URL and CA.
 */

/** A cluster as a locator describes it. */
export interface LocatedCluster extends ClusterDetails {
  /** Which locator found it, for messages. */
  locator: 'config' | 'catalog';
}

/** The strategies that need no signed-in user, by `authProvider` name. */
function serverSideStrategies(
  root: Config,
  logger: LoggerService,
): Record<string, () => AuthenticationStrategy> {
  return {
    serviceAccount: () => {
      const strategy = new ServiceAccountStrategy();
      // It loads client-node with a dynamic import(), which this plugin has
      // loaded already and which Jest's CommonJS runtime cannot run.
      Object.assign(strategy, { injectedKubernetesClient: { KubeConfig } });
      return strategy;
    },
    aws: () => new AwsIamStrategy({ config: root }),
    azure: () => new AzureIdentityStrategy(logger),
    googleServiceAccount: () =>
      new GoogleServiceAccountStrategy({ config: root }),
    localKubectlProxy: () => new AnonymousStrategy(),
  };
}

/**
 * Strategies that present the token of the user looking at the Kubernetes
 * tab: a queued deploy runs without one, so they cannot deploy.
 */
const USER_TOKEN_STRATEGIES = ['oidc', 'google', 'aks'];

/** The clusters of `kubernetes.clusterLocatorMethods` entries of type `config`, as the Kubernetes plugin reads them. */
export function readConfigClusters(root: Config): LocatedCluster[] {
  const methods =
    root.getOptionalConfigArray('kubernetes.clusterLocatorMethods') ?? [];
  return methods
    .filter(method => method.getString('type') === 'config')
    .flatMap(method => method.getOptionalConfigArray('clusters') ?? [])
    .map(cluster => {
      const authProvider = cluster.getString('authProvider');
      const legacy: Record<string, string | undefined> = {
        serviceAccountToken: cluster.getOptionalString('serviceAccountToken'),
        [ANNOTATION_KUBERNETES_AWS_ASSUME_ROLE]:
          cluster.getOptionalString('assumeRole'),
        [ANNOTATION_KUBERNETES_AWS_EXTERNAL_ID]:
          cluster.getOptionalString('externalId'),
      };
      const authMetadata: Record<string, string> = {
        [ANNOTATION_KUBERNETES_AUTH_PROVIDER]: authProvider,
      };
      for (const [key, value] of Object.entries(legacy)) {
        if (value) authMetadata[key] = value;
      }
      Object.assign(
        authMetadata,
        (cluster.getOptional('authMetadata') ?? {}) as Record<string, string>,
      );
      return {
        locator: 'config' as const,
        name: cluster.getString('name'),
        title: cluster.getOptionalString('title'),
        url: cluster.getString('url'),
        caData: cluster.getOptionalString('caData'),
        caFile: cluster.getOptionalString('caFile'),
        skipTLSVerify: cluster.getOptionalBoolean('skipTLSVerify') ?? false,
        authMetadata,
      };
    });
}

/** Whether `kubernetes.clusterLocatorMethods` has a `catalog` entry. */
function usesCatalogLocator(root: Config): boolean {
  return (
    root.getOptionalConfigArray('kubernetes.clusterLocatorMethods') ?? []
  ).some(method => method.getString('type') === 'catalog');
}

/** A `Resource` entity of `spec.type: kubernetes-cluster`, as the Kubernetes plugin's catalog locator reads it. */
function clusterFromEntity(entity: Entity): LocatedCluster {
  const annotations = entity.metadata.annotations ?? {};
  const url = annotations[ANNOTATION_KUBERNETES_API_SERVER];
  if (!url) {
    throw new Error(
      `catalog entity ${entity.metadata.name} has no ${ANNOTATION_KUBERNETES_API_SERVER} annotation`,
    );
  }
  return {
    locator: 'catalog',
    name: entity.metadata.name,
    title: entity.metadata.title,
    url,
    caData: annotations[ANNOTATION_KUBERNETES_API_SERVER_CA],
    skipTLSVerify:
      annotations[ANNOTATION_KUBERNETES_SKIP_TLS_VERIFY] === 'true',
    authMetadata: annotations,
  };
}

export interface ClusterLocatorOptions {
  config: Config;
  logger: LoggerService;
  catalog?: CatalogService;
  auth?: AuthService;
}

/**
 * Finds the clusters environments name, in the Kubernetes plugin's locators,
 * and turns each into the target Kube Delivery connects to.
 *
 * The catalog locator trusts only cluster entities registered from a
 * location in `kubeDelivery.trustedClusterLocations`: anyone who may
 * register a catalog file could otherwise describe a cluster of the same
 * name whose API server collects the deployer's credential. The catalog
 * sets `backstage.io/managed-by-origin-location` itself.
 */
export class ClusterLocator {
  private readonly configClusters: LocatedCluster[];
  private readonly trustedLocations: string[];
  private readonly strategies: Record<string, () => AuthenticationStrategy>;
  /** Whether `kubernetes.clusterLocatorMethods` has a `catalog` entry and the catalog can be asked. */
  readonly usesCatalog: boolean;

  constructor(private readonly options: ClusterLocatorOptions) {
    this.configClusters = readConfigClusters(options.config);
    this.trustedLocations =
      options.config.getOptionalStringArray(
        'kubeDelivery.trustedClusterLocations',
      ) ?? [];
    this.strategies = serverSideStrategies(options.config, options.logger);
    this.usesCatalog =
      usesCatalogLocator(options.config) && !!options.catalog && !!options.auth;
  }

  /** Whether every target's cluster is one of the `config` locator. */
  isConfigured(targets: ClusterTarget[]): boolean {
    return targets.every(t =>
      this.configClusters.some(c => c.name === t.clusterName),
    );
  }

  /** The named cluster; throws a sentence saying where it was looked for. */
  async locate(name: string): Promise<LocatedCluster> {
    const configured = this.configClusters.find(c => c.name === name);
    if (configured) return configured;
    const { catalog, auth } = this.options;
    if (!this.usesCatalog || !catalog || !auth) {
      throw new Error(
        `No cluster "${name}" in kubernetes.clusterLocatorMethods (config clusters: ${
          this.configClusters.map(c => c.name).join(', ') || 'none'
        }; no catalog locator)`,
      );
    }
    const { items } = await catalog.getEntities(
      {
        filter: {
          kind: 'Resource',
          'spec.type': 'kubernetes-cluster',
          'metadata.name': name,
        },
      },
      { credentials: await auth.getOwnServiceCredentials() },
    );
    const trusted = items.filter(entity =>
      this.trustedLocations.includes(
        entity.metadata.annotations?.[ANNOTATION_ORIGIN_LOCATION] ?? '',
      ),
    );
    if (trusted.length === 1) return clusterFromEntity(trusted[0]);
    if (trusted.length > 1) {
      throw new Error(
        `${trusted.length} catalog entities describe cluster "${name}" from trusted locations; keep one`,
      );
    }
    throw new Error(
      items.length
        ? `Cluster "${name}" is described only by catalog entities registered from untrusted locations (${items
            .map(e => e.metadata.annotations?.[ANNOTATION_ORIGIN_LOCATION])
            .join(
              ', ',
            )}); add the platform team's location to kubeDelivery.trustedClusterLocations`
        : `No cluster "${name}" in kubernetes.clusterLocatorMethods (config clusters: ${
            this.configClusters.map(c => c.name).join(', ') || 'none'
          }; no Resource of spec.type kubernetes-cluster named so in the catalog)`,
    );
  }

  /**
   * The environment's target with the located cluster's URL and CA. Its own
   * token (serviceAccountToken or serviceAccountTokenFile, namespace-scoped)
   * is used when given; otherwise the cluster's `authProvider` strategy.
   */
  targetFor(target: ClusterTarget, cluster: LocatedCluster): ClusterTarget {
    const located: ClusterTarget = {
      ...target,
      url: cluster.url,
      caData: target.caData ?? cluster.caData ?? caDataFromFile(cluster.caFile),
      skipTLSVerify: target.skipTLSVerify ?? cluster.skipTLSVerify,
    };
    if (target.serviceAccountToken || target.serviceAccountTokenFile) {
      return located;
    }
    const provider = cluster.authMetadata[ANNOTATION_KUBERNETES_AUTH_PROVIDER];
    if (USER_TOKEN_STRATEGIES.includes(provider)) {
      throw new Error(
        `Cluster "${cluster.name}" authenticates with "${provider}", which presents the signed-in user's token; a queued deploy has none. Give environment "${target.name}" a namespace-scoped cluster.serviceAccountToken or serviceAccountTokenFile`,
      );
    }
    const create = this.strategies[provider];
    if (!create) {
      throw new Error(
        `Cluster "${
          cluster.name
        }" has authProvider "${provider}", which Kube Delivery cannot use to deploy (supported: ${Object.keys(
          this.strategies,
        ).join(', ')}); give environment "${
          target.name
        }" a cluster.serviceAccountToken or serviceAccountTokenFile`,
      );
    }
    const strategy = create();
    const invalid = strategy.validateCluster(cluster.authMetadata);
    if (invalid.length) {
      throw new Error(
        `Cluster "${cluster.name}" (authProvider ${provider}): ${invalid
          .map(e => e.message)
          .join('; ')}`,
      );
    }
    return {
      ...located,
      credentials: {
        description: `the "${provider}" credentials of cluster "${cluster.name}" (kubernetes.clusterLocatorMethods)`,
        get: () => strategy.getCredential(cluster, {}),
      },
    };
  }
}

function caDataFromFile(caFile: string | undefined): string | undefined {
  return caFile ? readFileSync(caFile).toString('base64') : undefined;
}

/** The targets of an environment that name a cluster: its own, and its gateway's. */
function namedTargets(environment: EnvironmentConfig): ClusterTarget[] {
  return [environment.cluster, environment.gateway?.cluster].filter(
    (target): target is ClusterTarget => !!target?.clusterName,
  );
}

/** Environments whose clusters the catalog has still to describe. */
export interface ClustersLocatedLater {
  /** Looks them up now and every `retryMs` until found; tells `onLocated` of each. */
  start(onLocated: (environment: EnvironmentConfig) => void): void;
  stop(): void;
}

/**
 * Fills in the targets that name a cluster, in place. Clusters of the
 * `config` locator are located before this resolves (one that cannot be
 * used stops the start-up); those of the catalog only once the catalog
 * answers, which it may not while the backend starts: the result looks for
 * them when started. Until then, using the environment throws the reason.
 */
export async function locateEnvironmentClusters(options: {
  environments: EnvironmentConfig[];
  locator: ClusterLocator;
  logger: LoggerService;
  retryMs?: number;
}): Promise<ClustersLocatedLater> {
  const { locator, logger } = options;
  const attempt = async (environment: EnvironmentConfig) => {
    let located = true;
    for (const target of namedTargets(environment)) {
      if (target.url) continue;
      try {
        const cluster = await locator.locate(target.clusterName!);
        Object.assign(target, locator.targetFor(target, cluster), {
          unlocated: undefined,
        });
        logger.info(
          `Environment "${environment.name}": cluster "${target.clusterName}" located by the ${cluster.locator} locator at ${cluster.url}`,
        );
      } catch (error) {
        located = false;
        target.unlocated = (error as Error).message;
      }
    }
    return located;
  };
  const reasons = (environment: EnvironmentConfig) =>
    namedTargets(environment)
      .map(t => t.unlocated)
      .filter(Boolean)
      .join('; ');
  const pending: EnvironmentConfig[] = [];
  for (const environment of options.environments) {
    if (!namedTargets(environment).length) continue;
    if (
      locator.isConfigured(namedTargets(environment)) ||
      !locator.usesCatalog
    ) {
      if (!(await attempt(environment))) throw new Error(reasons(environment));
    } else {
      pending.push(environment);
    }
  }
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  return {
    start(onLocated) {
      const retry = async () => {
        for (const environment of [...pending]) {
          if (await attempt(environment)) {
            pending.splice(pending.indexOf(environment), 1);
            onLocated(environment);
          } else {
            logger.warn(
              `Environment "${environment.name}": ${reasons(environment)}`,
            );
          }
        }
        if (pending.length && !stopped) {
          timer = setTimeout(retry, options.retryMs ?? 30_000);
          timer.unref?.();
        }
      };
      void retry();
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
