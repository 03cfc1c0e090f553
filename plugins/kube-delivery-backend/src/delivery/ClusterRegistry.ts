import type { LoggerService } from '@backstage/backend-plugin-api';
import { createEnvironmentCluster, type EnvironmentCluster } from '../cluster';
import type { EnvironmentConfig } from '../config/environments';

/**
 * How often rollouts and smoke-test Jobs are polled. Only running deployments
 * poll; a short interval keeps a deploy within a few hundred milliseconds of
 * `kubectl rollout status`, which watches.
 */
export const ROLLOUT_POLL_INTERVAL_MS = 200;

/** One cluster client per environment, created on first use. */
export class ClusterRegistry {
  private readonly clients = new Map<string, EnvironmentCluster>();

  constructor(private readonly logger: LoggerService) {}

  forEnvironment(environment: EnvironmentConfig): EnvironmentCluster {
    let client = this.clients.get(environment.name);
    if (!client) {
      client = createEnvironmentCluster(environment.cluster, this.logger, {
        pollIntervalMs: ROLLOUT_POLL_INTERVAL_MS,
      });
      this.clients.set(environment.name, client);
    }
    return client;
  }
}
