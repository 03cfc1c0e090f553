import type { LoggerService } from '@backstage/backend-plugin-api';
import { InputError } from '@backstage/errors';
import type { EnvironmentConfig } from '../config/environments';
import {
  createEnvironmentCluster,
  type EnvironmentCluster,
} from './EnvironmentCluster';
import { KubeConnection, type ConnectionOptions } from './connection';
import { ClusterReachability } from './reachability';

/**
 * How often rollouts and smoke-test Jobs are read when nothing wakes the wait.
 * A watch of the Deployment or Job wakes it on every change, as it wakes
 * `kubectl rollout status`; the poll only covers a watch that dropped, so it
 * can be slow and spare the API server three reads per deploy and interval.
 */
export const ROLLOUT_POLL_INTERVAL_MS = 1000;

/** How long a read for the tabs or a health check waits for a cluster, unless its `timeoutSeconds` says otherwise. */
export const DEFAULT_READ_TIMEOUT_MS = 5_000;

/**
 * Health checks and the tabs' reads should answer quickly and report, not
 * wait out a long retry: one slow cluster must not hold up the others' cards.
 */
function readOptions(environment: EnvironmentConfig): ConnectionOptions {
  return {
    requestTimeoutMs: environment.cluster.timeoutSeconds
      ? environment.cluster.timeoutSeconds * 1000
      : DEFAULT_READ_TIMEOUT_MS,
    retry: { attempts: 2, baseDelayMs: 250, maxDelayMs: 1000 },
  };
}

/** What a client is for; each has its own credentials or request options. */
export type ClusterPurpose =
  | 'deploy'
  | 'gateway'
  | 'health'
  | 'read'
  | 'status';

/** The clients one environment's health checks use. */
export interface HealthConnections {
  /** The environment's own credentials. */
  environment: KubeConnection;
  /** For SelfSubjectAccessReviews in the environment's namespace. */
  cluster: EnvironmentCluster;
  /** The gateway's credentials (gateway.cluster), or the environment's. */
  gateway?: KubeConnection;
}

/**
 * Every cluster client of the plugin, created on first use and kept, keyed by
 * purpose and environment (an environment's cluster target, or its
 * gateway's). Created once in plugin.ts. A target that cannot be used (a
 * configuration error) throws each time it is asked for, and is not kept.
 */
export class ClusterClients {
  private readonly clients = new Map<string, unknown>();
  /** Which environments' clusters do not answer, and since when. */
  readonly reachability = new ClusterReachability();

  constructor(private readonly logger: LoggerService) {}

  /** The environment's namespace-scoped deployer: applies, waits, prunes. */
  deploy(environment: EnvironmentConfig): EnvironmentCluster {
    return this.cached('deploy', environment, () =>
      createEnvironmentCluster(environment.cluster, this.logger, {
        pollIntervalMs: ROLLOUT_POLL_INTERVAL_MS,
        adoptUnmanaged: environment.adoptUnmanaged,
        requirePodSecurity: !environment.allowNamespaceWithoutPodSecurity,
      }),
    );
  }

  /** The gateway's own narrow credentials (certificates), never the environment's. */
  gateway(environment: EnvironmentConfig): EnvironmentCluster {
    const target = environment.gateway?.cluster;
    if (!target) {
      throw new InputError(
        `Environment "${environment.name}" has no gateway credentials; configure kubeDelivery.environments[].gateway.cluster`,
      );
    }
    return this.cached('gateway', environment, () =>
      createEnvironmentCluster(target, this.logger),
    );
  }

  /** Reads for the tabs (live rollout state): the environment's credentials, a short timeout. */
  reads(environment: EnvironmentConfig): EnvironmentCluster {
    return this.cached('read', environment, () =>
      createEnvironmentCluster(
        environment.cluster,
        this.logger,
        readOptions(environment),
      ),
    );
  }

  /** Short timeouts and few retries: a check reports, it does not wait. */
  health(environment: EnvironmentConfig): HealthConnections {
    return this.cached('health', environment, () => {
      const options = readOptions(environment);
      const own = new KubeConnection(environment.cluster, this.logger, options);
      const gatewayTarget = environment.gateway?.cluster;
      return {
        environment: own,
        cluster: createEnvironmentCluster(
          environment.cluster,
          this.logger,
          options,
        ),
        gateway: gatewayTarget
          ? new KubeConnection(gatewayTarget, this.logger, options)
          : environment.gateway && own,
      };
    });
  }

  /** The status cache's lists and watches, with the environment's own credentials. */
  status(environment: EnvironmentConfig): KubeConnection {
    return this.cached(
      'status',
      environment,
      () => new KubeConnection(environment.cluster, this.logger),
    );
  }

  private cached<T>(
    purpose: ClusterPurpose,
    environment: EnvironmentConfig,
    create: () => T,
  ): T {
    const key = `${purpose}/${environment.name}`;
    let client = this.clients.get(key) as T | undefined;
    if (client === undefined) {
      client = create();
      this.clients.set(key, client);
    }
    return client;
  }
}
