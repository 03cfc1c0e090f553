/**
 * A backend for the bench scripts: the real Kube Delivery plugin and the real
 * Backstage Kubernetes backend plugin in one Backstage backend
 * (`startTestBackend`: real HTTP server, real plugin wiring), with the
 * devcluster's app-config, an in-memory catalog of the given entities, a
 * permission policy that allows everything and every request authenticated
 * as one user.
 */
import {
  mockServices,
  startTestBackend,
  type TestBackend,
} from '@backstage/backend-test-utils';
import {
  coreServices,
  createServiceFactory,
  type LoggerService,
} from '@backstage/backend-plugin-api';
import type { Entity } from '@backstage/catalog-model';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import type { JsonObject } from '@backstage/types';
import type { DevCluster } from '@internal/devcluster';
import knexFactory, { type Knex } from 'knex';
import type { AddressInfo } from 'node:net';
import { devClusterAppConfig } from '../../plugins/kube-delivery-backend/src/__testUtils__/deliveryBackend';
import { kubeDeliveryPlugin } from '../../plugins/kube-delivery-backend/src/plugin';

/** The Kubernetes plugin's view of the devcluster: the dev namespace through its ServiceAccount token. */
export function kubernetesPluginConfig(cluster: DevCluster): JsonObject {
  return {
    kubernetes: {
      serviceLocatorMethod: { type: 'multiTenant' },
      clusterLocatorMethods: [
        {
          type: 'config',
          clusters: [
            {
              name: 'devcluster',
              url: cluster.server,
              caData: cluster.caData!,
              authProvider: 'serviceAccount',
              serviceAccountToken: cluster.tokens.dev,
              skipMetricsLookup: true,
            },
          ],
        },
      ],
      // What the dev ServiceAccount may read (the default list has kinds its Role does not grant).
      objectTypes: [
        'pods',
        'services',
        'configmaps',
        'deployments',
        'replicasets',
        'jobs',
      ],
    },
  };
}

export function sqliteKnex(file = ':memory:'): Knex {
  return knexFactory({
    client: 'better-sqlite3',
    connection: { filename: file },
    useNullAsDefault: true,
  });
}

export interface BenchBackend {
  backend: TestBackend;
  baseUrl: string;
  knex: Knex;
  stop(): Promise<void>;
}

export async function startBenchBackend(options: {
  cluster: DevCluster;
  entities: Entity[];
  /** Also install the Backstage Kubernetes backend plugin. */
  kubernetesPlugin?: boolean;
  knex?: Knex;
  /** The root logger (default: warnings and errors on the console). */
  logger?: LoggerService;
}): Promise<BenchBackend> {
  const knex = options.knex ?? sqliteKnex();
  const backend = await startTestBackend({
    features: [
      kubeDeliveryPlugin,
      ...(options.kubernetesPlugin
        ? [import('@backstage/plugin-kubernetes-backend')]
        : []),
      mockServices.rootConfig.factory({
        data: {
          ...devClusterAppConfig(options.cluster),
          ...(options.kubernetesPlugin
            ? kubernetesPluginConfig(options.cluster)
            : {}),
        },
      }),
      options.logger
        ? createServiceFactory({
            service: coreServices.rootLogger,
            deps: {},
            factory: () => options.logger!,
          })
        : mockServices.rootLogger.factory({ level: 'warn' }),
      mockServices.database.factory({ knex }),
      mockServices.permissions.factory({ result: AuthorizeResult.ALLOW }),
      catalogServiceMock.factory({ entities: options.entities }),
    ],
  });
  // Longer than the clients' (undici's 4 s) idle keep-alive, so the server never
  // closes a connection a client is just reusing ("fetch failed: other side closed").
  backend.server.keepAliveTimeout = 30_000;
  backend.server.headersTimeout = 31_000;
  const { port } = backend.server.address() as AddressInfo;
  return {
    backend,
    baseUrl: `http://127.0.0.1:${port}`,
    knex,
    async stop() {
      await backend.stop();
      await knex.destroy().catch(() => {});
    },
  };
}
