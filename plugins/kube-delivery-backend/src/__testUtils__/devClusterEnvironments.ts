/**
 * The devcluster's environments as a platform team would configure them.
 * Plain Node (no Jest): runner processes of their own use it too.
 */
import type { DevCluster } from '@internal/devcluster';
import type { EnvironmentConfig } from '../config/environments';

/** The routing keys the test environments offer, as a platform team would configure them for Online Boutique. */
export const TEST_ROUTING_KEYS = [
  'header:userid',
  'cookie:shop_session-id',
  'baggage:kd-branch',
];

/** Environments dev, test and production of the running devcluster, with their own ServiceAccount tokens. */
export function devClusterEnvironments(
  cluster: DevCluster,
): EnvironmentConfig[] {
  return (['dev', 'test', 'production'] as const).map(name => ({
    name,
    namespace: name,
    cluster: {
      name,
      namespace: name,
      url: cluster.server,
      caData: cluster.caData,
      serviceAccountToken: cluster.tokens[name],
    },
    minReplicas: name === 'production' ? 2 : undefined,
    protected: name === 'production',
    featureBranches: name !== 'production',
    routingKeys: TEST_ROUTING_KEYS,
    adoptUnmanaged: false,
    allowNamespaceWithoutPodSecurity: false,
    shared: { configMaps: [], secrets: [] },
    variables: { LogLevel: name === 'production' ? 'warn' : 'debug' },
  }));
}
