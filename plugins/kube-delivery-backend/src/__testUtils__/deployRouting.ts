/**
 * The routing reconcile that runs after each successful deploy, wired to a
 * DeploymentRunner as plugin.ts wires it (fenced with the job's epoch), for
 * tests and runner processes that have no whole backend. Plain Node: no Jest.
 */
import type { LoggerService } from '@backstage/backend-plugin-api';
import type { Knex } from 'knex';
import type { ServiceSpec } from '../catalog';
import type { EnvironmentConfig } from '../config/environments';
import type { DeliveryStore } from '../database';
import type { ClusterClients } from '../cluster';
import type { DeploymentRunner } from '../delivery/DeploymentRunner';
import { RouteReconciler } from '../routing/RouteReconciler';
import { DatabaseRouteStore } from '../routing/RouteStore';
import { RoutingService } from '../routing/RoutingService';

/** The devcluster's ingress gateway, as an environment configures it. */
export const DEV_CLUSTER_GATEWAY = {
  namespace: 'istio-system',
  name: 'ingressgateway',
  hosts: ['dev.boutique.example'],
};

export async function wireDeployRouting(options: {
  knex: Knex;
  store: DeliveryStore;
  runner: DeploymentRunner;
  environments: EnvironmentConfig[];
  clusters: ClusterClients;
  logger: LoggerService;
}): Promise<RoutingService> {
  const { knex, store, runner, environments, clusters, logger } = options;
  const routeStore = await DatabaseRouteStore.create({
    database: { getClient: async () => knex } as any,
    skipMigrations: true,
  });
  const environment = (name: string) => {
    const found = environments.find(e => e.name === name);
    if (!found) throw new Error(`No environment ${name}`);
    return found;
  };
  const cluster = (e: EnvironmentConfig) => clusters.deploy(e);
  const routing = new RoutingService({
    store: routeStore,
    reconciler: new RouteReconciler({
      store: routeStore,
      environment,
      cluster,
      logger,
    }),
    environment,
    cluster,
    logger,
  });
  runner.onSucceeded(async (deployment, fence) => {
    const release = await store.getRelease(deployment.releaseId);
    await routing.reconcileDeployed(
      deployment.entityRef,
      deployment.environment,
      release.snapshot.spec as unknown as ServiceSpec,
      { fence },
    );
  });
  return routing;
}
