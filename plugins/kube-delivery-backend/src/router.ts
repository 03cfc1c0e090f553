import type {
  AuditorService,
  HttpAuthService,
  PermissionsService,
} from '@backstage/backend-plugin-api';
import type { CatalogService } from '@backstage/plugin-catalog-node';
import type express from 'express';
import { addApprovalRoutes, type ApprovalService } from './approvals';
import { addCertificateRoutes, type CertificateService } from './certificates';
import type { EnvironmentRegistry } from './config/EnvironmentRegistry';
import type { DeliveryService } from './delivery';
import { addDeliveriesRoutes, type DeliveriesService } from './deliveries';
import { addDeliveryRoutes } from './delivery/router';
import { addEventRoutes, type EnvironmentEvents } from './events';
import { addHealthRoutes, type HealthService } from './health';
import { addHistoryRoutes, type HistoryStore } from './history';
import { createApiRouter } from './http/apiRouter';
import { createEntityGates } from './http/entityGates';
import type { KubeDeliveryAuthorizer } from './permissions/authorize';
import { addRoutingRoutes } from './routing/router';
import type { RoutingService } from './routing/RoutingService';
import { addClaimRoutes, type ClaimStore } from './tenancy';

export interface RouterOptions {
  httpAuth: HttpAuthService;
  permissions: PermissionsService;
  /** Permissions on targets (an entity's service in an environment), conditions evaluated here. */
  authorizer: KubeDeliveryAuthorizer;
  auditor: AuditorService;
  catalog: CatalogService;
  environments: EnvironmentRegistry;
  delivery: DeliveryService;
  /** The Deliveries matrix (every service × environment). */
  deliveries: DeliveriesService;
  routing: RoutingService;
  history: HistoryStore;
  certificates: CertificateService;
  claims: ClaimStore;
  health: HealthService;
  events: EnvironmentEvents;
  approvals: ApprovalService;
}

/**
 * The API of `schema/openapi.yaml`: one router that checks every request
 * against the spec, then each room's routes behind its permission gate.
 */
export async function createRouter(
  options: RouterOptions,
): Promise<express.Router> {
  const { httpAuth, authorizer, auditor, environments, delivery } = options;
  const router = await createApiRouter();
  const gates = createEntityGates(options);

  router.get('/environments', async (req, res) => {
    await httpAuth.credentials(req, { allow: ['user', 'service'] });
    res.json({
      items: environments.list().map(e => ({
        name: e.name,
        namespace: e.namespace,
        protected: e.protected,
        featureBranches: e.featureBranches,
        minReplicas: e.minReplicas,
        gateway: e.gateway && {
          namespace: e.gateway.namespace,
          name: e.gateway.name,
          hosts: e.gateway.hosts,
        },
      })),
    });
  });

  addDeliveryRoutes(router, { gates, auditor, environments, delivery });
  addDeliveriesRoutes(router, {
    httpAuth,
    deliveries: options.deliveries,
  });
  addApprovalRoutes(router, { gates, auditor, approvals: options.approvals });
  addRoutingRoutes(router, {
    gates,
    auditor,
    environments,
    routing: options.routing,
  });
  addHistoryRoutes(router, {
    gates,
    delivery,
    environments,
    history: options.history,
  });
  addCertificateRoutes(router, {
    httpAuth,
    // Service principals: their grants first, as on every other gate.
    permissions: authorizer.permissionsService(),
    auditor,
    certificates: options.certificates,
  });
  addClaimRoutes(router, {
    httpAuth,
    permissions: options.permissions,
    auditor,
    claims: options.claims,
    environment: name => environments.require(name),
  });
  addHealthRoutes(router, { httpAuth, auditor, health: options.health });
  addEventRoutes(router, {
    httpAuth,
    authorizer,
    environments,
    events: options.events,
  });
  return router;
}
