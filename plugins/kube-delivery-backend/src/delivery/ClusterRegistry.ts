import type { LoggerService } from '@backstage/backend-plugin-api';
import { createEnvironmentCluster, type EnvironmentCluster } from '../cluster';
import type { EnvironmentConfig } from '../config/environments';

/**
 * How often rollouts and smoke-test Jobs are read when nothing wakes the wait.
 * A watch of the Deployment or Job wakes it on every change, as it wakes
 * `kubectl rollout status`; the poll only covers a watch that dropped, so it
 * can be slow and spare the API server three reads per deploy and interval.
 */
export const ROLLOUT_POLL_INTERVAL_MS = 1000;

/** One cluster client per environment, created on first use. */
export class ClusterRegistry {
  private readonly clients = new Map<string, EnvironmentCluster>();

  constructor(private readonly logger: LoggerService) {}

  forEnvironment(environment: EnvironmentConfig): EnvironmentCluster {
    let client = this.clients.get(environment.name);
    if (!client) {
      client = createEnvironmentCluster(environment.cluster, this.logger, {
        pollIntervalMs: ROLLOUT_POLL_INTERVAL_MS,
        adoptUnmanaged: environment.adoptUnmanaged,
        requirePodSecurity: !environment.allowNamespaceWithoutPodSecurity,
      });
      this.clients.set(environment.name, client);
    }
    return client;
  }
}
