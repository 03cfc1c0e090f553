import {
  coreServices,
  createBackendPlugin,
} from '@backstage/backend-plugin-api';
import { catalogServiceRef } from '@backstage/plugin-catalog-node';
import { notificationService } from '@backstage/plugin-notifications-node';
import { signalsServiceRef } from '@backstage/plugin-signals-node';
import { kubeDeliveryPermissions } from '@internal/plugin-kube-delivery-common';
import { ApprovalService, readApprovalSettings } from './approvals';
import { parseServiceSpec, type ServiceSpec } from './catalog';
import {
  CertificateService,
  DatabaseCertificateStore,
  readCertificateSettings,
} from './certificates';
import { ClusterClients } from './cluster';
import {
  ClusterLocator,
  locateEnvironmentClusters,
} from './cluster/clusterLocators';
import { EnvironmentRegistry } from './config/EnvironmentRegistry';
import { readDeliveryConfig } from './config/environments';
import { DatabaseDeliveryStore } from './database';
import { migratedClient } from './database/migrate';
import { DeliveryService, DeploymentRunner, ReleaseService } from './delivery';
import { EnvironmentEvents, promotionRefusedEvent } from './events';
import { DeliveriesService } from './deliveries';
import { createContainerFeed } from './feed';
import {
  DatabaseHealthStore,
  HealthService,
  readHealthSettings,
} from './health';
import { DatabaseHistoryStore } from './history';
import { DeliveryNotifier, readNotificationSettings } from './notifications';
import { KubeDeliveryAuthorizer } from './permissions/authorize';
import {
  readServicePrincipals,
  servicePrincipalDecision,
} from './permissions/servicePrincipals';
import { checkStaticTokens } from './permissions/staticTokens';
import { TargetLoader } from './permissions/target';
import { createRouter } from './router';
import {
  DatabaseRouteStore,
  readRoutingSettings,
  RouteReconciler,
  RoutingService,
  scheduleRoutingTask,
} from './routing';
import { DeliverySignals } from './signals';
import { StatusCache } from './status';
import { DatabaseClaimStore } from './tenancy';

/**
 * The Kube Delivery backend plugin: deploy, route, certificate and rollback
 * endpoints driven by catalog entity annotations.
 *
 * Wiring only: every part is created once here, from one environment
 * registry, one set of cluster clients and one migrated database client.
 *
 * @public
 */
export const kubeDeliveryPlugin = createBackendPlugin({
  pluginId: 'kube-delivery',
  register(env) {
    env.registerInit({
      deps: {
        config: coreServices.rootConfig,
        logger: coreServices.logger,
        database: coreServices.database,
        httpRouter: coreServices.httpRouter,
        httpAuth: coreServices.httpAuth,
        permissions: coreServices.permissions,
        permissionsRegistry: coreServices.permissionsRegistry,
        auditor: coreServices.auditor,
        urlReader: coreServices.urlReader,
        lifecycle: coreServices.lifecycle,
        scheduler: coreServices.scheduler,
        auth: coreServices.auth,
        catalog: catalogServiceRef,
        // Its default implementation posts to the notifications backend; a
        // backend without it only logs a warning per notification.
        notifications: notificationService,
        // Its default implementation publishes through the events service; the
        // signals backend passes them on to the browsers.
        signals: signalsServiceRef,
      },
      async init(deps) {
        const { logger, lifecycle, scheduler, httpAuth, auditor, catalog } =
          deps;
        // A configured CI token that is empty or short refuses the start.
        checkStaticTokens(deps.config, logger);
        deps.permissionsRegistry.addPermissions(kubeDeliveryPermissions);

        // --- configuration, cluster clients, database --------------------
        const config = readDeliveryConfig(deps.config);
        const environments = EnvironmentRegistry.fromConfig(config);
        const clusters = new ClusterClients(logger);
        // Environments may name a cluster of kubernetes.clusterLocatorMethods.
        const catalogClusters = await locateEnvironmentClusters({
          environments: config.environments,
          locator: new ClusterLocator({
            config: deps.config,
            logger,
            catalog,
            auth: deps.auth,
          }),
          logger,
        });
        // Migrated once, here; every store shares the client.
        const db = await migratedClient(deps.database);
        const store = new DatabaseDeliveryStore(db);
        const claims = new DatabaseClaimStore(db);
        const events = new EnvironmentEvents(db, logger);

        // --- permissions ---------------------------------------------------
        // The kube-delivery-target resource type: permissions per environment.
        // Service principals get what kubeDelivery.servicePrincipals grants
        // their subject, nothing more (the permission client would allow all).
        // Environments named in grants are checked once there are any (a
        // fresh install with the shipped config has none yet).
        const grants = readServicePrincipals(deps.config, {
          environments: config.environments.length
            ? environments.names()
            : undefined,
        });
        const authorizer = KubeDeliveryAuthorizer.create({
          permissions: deps.permissions,
          permissionsRegistry: deps.permissionsRegistry,
          servicePrincipals: (credentials, request) =>
            servicePrincipalDecision(credentials, request, grants),
          loader: new TargetLoader({
            environments: environments.list(),
            catalog,
            auth: deps.auth,
          }),
        });

        // --- notifications ---------------------------------------------------
        // Owners hear of their deploys, the platform group of certificates
        // and environment health; best effort, never in a deploy's way.
        const notifier = new DeliveryNotifier({
          notifications: deps.notifications,
          catalog,
          auth: deps.auth,
          environments,
          settings: readNotificationSettings(deps.config),
          logger,
        });

        // Open tabs read again when a deployment moves on (signals), and poll
        // more slowly while signals arrive.
        const signals = new DeliverySignals(deps.signals, logger);
        const changed = (entityRef: string) => signals.changed(entityRef);

        // --- delivery --------------------------------------------------------
        const runner = new DeploymentRunner({
          store,
          environments,
          clusters,
          settings: config.runner,
          logger,
          notifier,
          onProgress: changed,
        });
        const health = new HealthService({
          environments,
          clusters,
          store: new DatabaseHealthStore(db),
          logger,
          notifier,
        });
        const statusCache = new StatusCache(
          environments.list(),
          clusters,
          logger,
        );
        // Deployments into protected environments wait for another user's approval.
        const approvals = new ApprovalService({
          store,
          permissions: deps.permissions,
          auditor,
          logger,
          settings: readApprovalSettings(deps.config),
          onQueued: () => runner.poke(),
          notifier,
          onChange: changed,
        });
        const delivery = new DeliveryService({
          config,
          environments,
          store,
          releases: new ReleaseService({
            store,
            urlReader: deps.urlReader,
            channels: config.channels,
            feed: createContainerFeed(deps.config),
          }),
          runner,
          clusters,
          claims,
          statusCache,
          approvals,
          onRefused: refusal => events.record(promotionRefusedEvent(refusal)),
          onChange: changed,
        });

        // --- routing ---------------------------------------------------------
        const environment = (name: string) => environments.require(name);
        const deployer = clusters.deploy.bind(clusters);
        const routes = new DatabaseRouteStore(db);
        const routingSettings = readRoutingSettings(deps.config);
        const routing = new RoutingService({
          store: routes,
          reconciler: new RouteReconciler({
            store: routes,
            environment,
            cluster: deployer,
            logger,
            events,
          }),
          environment,
          cluster: deployer,
          settings: routingSettings,
          events,
          logger,
          activeDeploymentOf: async (entityRef, environmentName, track) =>
            (await store.listActive(entityRef)).find(
              d => d.environment === environmentName && d.track === track,
            )?.id,
          claims,
          specOf: async entityRef => {
            try {
              const entity = await catalog.getEntityByRef(entityRef, {
                credentials: await deps.auth.getOwnServiceCredentials(),
              });
              return entity ? parseServiceSpec(entity) : undefined;
            } catch {
              return undefined;
            }
          },
        });
        // A public service is bound to its gateway hosts from its first deploy.
        // Fenced with the job's epoch, as every other write of the job.
        runner.onSucceeded(async (deployment, fence) => {
          const release = await store.getRelease(deployment.releaseId);
          await routing.reconcileDeployed(
            deployment.entityRef,
            deployment.environment,
            release.snapshot.spec as unknown as ServiceSpec,
            { fence },
          );
        });

        // --- certificates ----------------------------------------------------
        const certificates = new CertificateService({
          environments,
          store: new DatabaseCertificateStore(db),
          events,
          // The gateway's own narrow credentials, never the environment's.
          cluster: gatewayOf => clusters.gateway(gatewayOf),
          settings: readCertificateSettings(deps.config),
          logger,
          notifier,
        });

        // --- HTTP ------------------------------------------------------------
        deps.httpRouter.use(
          await createRouter({
            httpAuth,
            permissions: deps.permissions,
            authorizer,
            auditor,
            catalog,
            environments,
            delivery,
            deliveries: new DeliveriesService({
              catalog,
              store,
              delivery,
              environments,
              authorizer,
            }),
            routing,
            history: new DatabaseHistoryStore(db),
            certificates,
            claims,
            health,
            events,
            approvals,
          }),
        );

        // --- schedules and lifecycle -----------------------------------------
        await scheduleRoutingTask(scheduler, routing, routingSettings);
        await certificates.schedule(scheduler);
        await approvals.schedule(scheduler);
        await health.schedule(scheduler, readHealthSettings(deps.config));
        lifecycle.addStartupHook(() => runner.start());
        lifecycle.addShutdownHook(async () => {
          await runner.stop();
          await notifier.stop();
          signals.stop();
        });
        // Not awaited: status reads go to the cluster until the watches are synced.
        lifecycle.addStartupHook(() => void statusCache.start());
        lifecycle.addStartupHook(() =>
          catalogClusters.start(located => statusCache.addEnvironment(located)),
        );
        lifecycle.addShutdownHook(() => catalogClusters.stop());
        lifecycle.addShutdownHook(() => statusCache.stop());
        logger.info('Kube Delivery backend started', {
          environments: environments.names().join(','),
        });
      },
    });
  },
});
