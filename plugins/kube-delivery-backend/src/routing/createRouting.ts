import type {
  AuthService,
  DatabaseService,
  LoggerService,
  RootConfigService,
  SchedulerService,
} from '@backstage/backend-plugin-api';
import type { CatalogService } from '@backstage/plugin-catalog-node';
import { parseServiceSpec } from '../catalog';
import type { EnvironmentCluster } from '../cluster';
import type { EnvironmentConfig } from '../config/environments';
import { DatabaseHealthStore } from '../health/HealthStore';
import type { ClaimStore } from '../tenancy/ClaimStore';
import { RouteReconciler } from './RouteReconciler';
import { DatabaseRouteStore } from './RouteStore';
import { RoutingService } from './RoutingService';
import { readRoutingSettings } from './settings';
import { scheduleRoutingTask } from './task';

/**
 * The routing part of the plugin: store, reconciler, service, with route
 * changes recorded in the environment history, and the routing task
 * scheduled.
 */
export async function createRouting(options: {
  config: RootConfigService;
  database: DatabaseService;
  scheduler: SchedulerService;
  catalog: CatalogService;
  auth: AuthService;
  logger: LoggerService;
  environment: (name: string) => EnvironmentConfig;
  cluster: (environment: EnvironmentConfig) => EnvironmentCluster;
  /** The id of a queued or running deployment of a track, if any. */
  activeDeploymentOf?: (
    entityRef: string,
    environment: string,
    track: string,
  ) => Promise<string | undefined>;
  /**
   * Who holds which names in each environment: rule changes and branch
   * removals under a service name another entity holds are refused (409).
   */
  claims?: Pick<ClaimStore, 'assertNotClaimedByOthers'>;
}): Promise<RoutingService> {
  const { logger, environment, cluster } = options;
  const settings = readRoutingSettings(options.config);
  const store = await DatabaseRouteStore.create({ database: options.database });
  const history = await DatabaseHealthStore.create({
    database: options.database,
  });
  const routing = new RoutingService({
    store,
    reconciler: new RouteReconciler({
      store,
      environment,
      cluster,
      logger,
      history,
    }),
    environment,
    cluster,
    settings,
    history,
    logger,
    activeDeploymentOf: options.activeDeploymentOf,
    claims: options.claims,
    specOf: async entityRef => {
      try {
        const entity = await options.catalog.getEntityByRef(entityRef, {
          credentials: await options.auth.getOwnServiceCredentials(),
        });
        return entity ? parseServiceSpec(entity) : undefined;
      } catch {
        return undefined;
      }
    },
  });
  await scheduleRoutingTask(options.scheduler, routing, settings);
  return routing;
}
