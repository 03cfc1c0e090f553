import type { LoggerService } from '@backstage/backend-plugin-api';
import { createEnvironmentCluster, type EnvironmentCluster } from '../cluster';
import type { EnvironmentConfig } from '../config/environments';

/** One cluster client per environment, created on first use. */
export class ClusterRegistry {
  private readonly clients = new Map<string, EnvironmentCluster>();

  constructor(private readonly logger: LoggerService) {}

  forEnvironment(environment: EnvironmentConfig): EnvironmentCluster {
    let client = this.clients.get(environment.name);
    if (!client) {
      client = createEnvironmentCluster(environment.cluster, this.logger);
      this.clients.set(environment.name, client);
    }
    return client;
  }
}
