import type {
  AuditorService,
  DatabaseService,
  HttpAuthService,
  LoggerService,
  PermissionsService,
  RootConfigService,
  SchedulerService,
} from '@backstage/backend-plugin-api';
import type express from 'express';
import { createEnvironmentCluster, type EnvironmentCluster } from '../cluster';
import type { EnvironmentConfig } from '../config/environments';
import { DatabaseHealthStore } from '../health/HealthStore';
import { CertificateService } from './CertificateService';
import { DatabaseCertificateStore } from './CertificateStore';
import { readCertificateSettings } from './config';
import { createCertificateRouter } from './router';

/**
 * The certificates part of the plugin: store, service, expiry schedule and
 * router. Mount the router before the main one: uploads have their own body limit.
 */
export async function createCertificatesRouter(
  deps: {
    config: RootConfigService;
    logger: LoggerService;
    database: DatabaseService;
    scheduler: SchedulerService;
    httpAuth: HttpAuthService;
    permissions: PermissionsService;
    auditor: AuditorService;
  },
  environments: EnvironmentConfig[],
): Promise<express.Router> {
  const events = await DatabaseHealthStore.create({ database: deps.database });
  const clients = new Map<string, EnvironmentCluster>();
  const certificates = new CertificateService({
    environments,
    store: await DatabaseCertificateStore.create({ database: deps.database }),
    addEvent: event => events.addEvent(event),
    // The gateway's own narrow credentials, never the environment's.
    cluster: (environment, gateway) => {
      let client = clients.get(environment.name);
      if (!client) {
        client = createEnvironmentCluster(gateway.cluster!, deps.logger);
        clients.set(environment.name, client);
      }
      return client;
    },
    settings: readCertificateSettings(deps.config),
    logger: deps.logger,
  });
  await certificates.schedule(deps.scheduler);
  return createCertificateRouter({
    httpAuth: deps.httpAuth,
    permissions: deps.permissions,
    auditor: deps.auditor,
    certificates,
  });
}
