import {
  coreServices,
  createBackendPlugin,
} from '@backstage/backend-plugin-api';
import { catalogServiceRef } from '@backstage/plugin-catalog-node';
import { kubeDeliveryPermissions } from '@internal/plugin-kube-delivery-common';
import type { ServiceSpec } from './catalog';
import { readDeliveryConfig } from './config/environments';
import { DatabaseDeliveryStore } from './database';
import { createContainerFeed } from './feed';
import {
  ClusterRegistry,
  DeliveryService,
  DeploymentRunner,
  ReleaseService,
} from './delivery';
import { createRouter } from './router';
import { createCertificatesRouter } from './certificates';
import { StatusCache } from './status';
import { createClaimsRouter, DatabaseClaimStore } from './tenancy';
import { DatabaseHistoryStore } from './history';
import { KubeDeliveryAuthorizer } from './permissions/authorize';
import {
  readServicePrincipals,
  servicePrincipalDecision,
} from './permissions/servicePrincipals';
import { TargetLoader } from './permissions/target';
import { createRouting } from './routing';
import {
  ApprovalService,
  createApprovalsRouter,
  readApprovalSettings,
} from './approvals';
import { checkStaticTokens } from './permissions/staticTokens';
import {
  createHealthRouter,
  DatabaseHealthStore,
  HealthService,
  readHealthSettings,
} from './health';

/**
 * The Kube Delivery backend plugin: deploy, route, certificate and rollback
 * endpoints driven by catalog entity annotations.
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
      },
      async init(deps) {
        const { logger, lifecycle } = deps;
        // A configured CI token that is empty or short refuses the start.
        checkStaticTokens(deps.config, logger);
        deps.permissionsRegistry.addPermissions(kubeDeliveryPermissions);

        const config = readDeliveryConfig(deps.config);
        // The kube-delivery-target resource type: permissions per environment.
        // Service principals get what kubeDelivery.servicePrincipals grants
        // their subject, nothing more (the permission client would allow all).
        // Environments named in grants are checked once there are any (a
        // fresh install with the shipped config has none yet).
        const grants = readServicePrincipals(deps.config, {
          environments: config.environments.length
            ? config.environments.map(e => e.name)
            : undefined,
        });
        const authorizer = KubeDeliveryAuthorizer.create({
          permissions: deps.permissions,
          permissionsRegistry: deps.permissionsRegistry,
          servicePrincipals: (credentials, request) =>
            servicePrincipalDecision(credentials, request, grants),
          loader: new TargetLoader({
            environments: config.environments,
            catalog: deps.catalog,
            auth: deps.auth,
          }),
        });
        const store = await DatabaseDeliveryStore.create({
          database: deps.database,
        });
        const claims = await DatabaseClaimStore.create({
          database: deps.database,
        });
        const clusters = new ClusterRegistry(logger);
        const runner = new DeploymentRunner({
          store,
          environments: new Map(config.environments.map(e => [e.name, e])),
          clusters,
          settings: config.runner,
          logger,
        });
        const releases = new ReleaseService({
          store,
          urlReader: deps.urlReader,
          channels: config.channels,
          feed: createContainerFeed(deps.config),
        });
        const health = new HealthService({
          environments: config.environments,
          store: await DatabaseHealthStore.create({ database: deps.database }),
          logger,
        });
        const statusCache = new StatusCache(config.environments, logger);
        // Deployments into protected environments wait for another user's approval.
        const approvals = new ApprovalService({
          store,
          permissions: deps.permissions,
          auditor: deps.auditor,
          logger,
          settings: readApprovalSettings(deps.config),
          onQueued: () => runner.poke(),
        });
        const delivery = new DeliveryService({
          config,
          store,
          releases,
          runner,
          clusters,
          claims,
          statusCache,
          approvals,
          onRefused: refusal => health.recordPromotionRefused(refusal),
        });

        const routing = await createRouting({
          ...deps,
          environment: name => delivery.environment(name),
          cluster: environment => clusters.forEnvironment(environment),
          activeDeploymentOf: async (entityRef, environment, track) =>
            (
              await store.listActive(entityRef)
            ).find(d => d.environment === environment && d.track === track)?.id,
          claims,
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

        // Before the main router: certificate uploads have their own body limit.
        deps.httpRouter.use(
          await createCertificatesRouter(
            // Service principals: their grants first, as on every other gate.
            { ...deps, permissions: authorizer.permissionsService() },
            config.environments,
          ),
        );
        deps.httpRouter.use(
          await createRouter({
            logger,
            httpAuth: deps.httpAuth,
            permissions: deps.permissions,
            authorizer,
            auditor: deps.auditor,
            catalog: deps.catalog,
            delivery,
            routing,
            history: await DatabaseHistoryStore.create({
              database: deps.database,
            }),
          }),
        );
        deps.httpRouter.use(
          createClaimsRouter({
            httpAuth: deps.httpAuth,
            permissions: deps.permissions,
            auditor: deps.auditor,
            claims,
            environment: name => delivery.environment(name),
          }),
        );
        deps.httpRouter.use(
          createHealthRouter({
            httpAuth: deps.httpAuth,
            auditor: deps.auditor,
            authorizer,
            health,
          }),
        );
        deps.httpRouter.use(
          createApprovalsRouter({
            httpAuth: deps.httpAuth,
            auditor: deps.auditor,
            catalog: deps.catalog,
            approvals,
          }),
        );
        await approvals.schedule(deps.scheduler);
        await health.schedule(deps.scheduler, readHealthSettings(deps.config));
        lifecycle.addStartupHook(() => runner.start());
        lifecycle.addShutdownHook(() => runner.stop());
        // Not awaited: status reads go to the cluster until the watches are synced.
        lifecycle.addStartupHook(() => void statusCache.start());
        lifecycle.addShutdownHook(() => statusCache.stop());
        logger.info('Kube Delivery backend started', {
          environments: config.environments.map(e => e.name).join(','),
        });
      },
    });
  },
});
