import {
  mockCredentials,
  mockServices,
  startTestBackend,
  type TestBackend,
} from '@backstage/backend-test-utils';
import type { Entity } from '@backstage/catalog-model';
import {
  coreServices,
  createServiceFactory,
  type PermissionsService,
} from '@backstage/backend-plugin-api';
import { catalogServiceRef } from '@backstage/plugin-catalog-node';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import type { JsonObject } from '@backstage/types';
import type { DevCluster } from '@internal/devcluster';
import type { Knex } from 'knex';
import type { PermissionPolicy } from '@backstage/plugin-permission-node';
import {
  parseTargetRef,
  RESOURCE_TYPE_KUBE_DELIVERY_TARGET,
} from '@internal/plugin-kube-delivery-common';
import { kubeDeliveryPlugin } from '../plugin';
import { realPermissions, type Ownership } from './realPermissions';
import { devClusterEnvironments, testDeliveryConfig } from './deliveryHarness';
import type { MutableCatalog } from './mutableCatalog';

/**
 * The `kubeDelivery` app-config an operator would write for the devcluster's
 * dev, test and production environments (see config.d.ts), with a fast runner.
 */
export function devClusterAppConfig(cluster: DevCluster): JsonObject {
  const { lifecycle, channels } = testDeliveryConfig(cluster);
  return {
    kubeDelivery: {
      environments: devClusterEnvironments(cluster).map(environment => ({
        name: environment.name,
        namespace: environment.namespace,
        cluster: {
          url: environment.cluster.url!,
          caData: environment.cluster.caData!,
          serviceAccountToken: environment.cluster.serviceAccountToken!,
        },
        ...(environment.minReplicas !== undefined && {
          minReplicas: environment.minReplicas,
        }),
        protected: environment.protected,
        featureBranches: environment.featureBranches,
        routingKeys: environment.routingKeys,
        variables: environment.variables,
      })),
      lifecycle,
      channels: channels.map(channel => ({
        name: channel.name,
        prerelease: channel.prerelease,
        ...(channel.environments && { environments: channel.environments }),
      })),
      deployments: {
        pollIntervalMs: 200,
        leaseSeconds: 5,
        blueGreenCleanupDelaySeconds: 1,
      },
    },
  };
}

/**
 * The real plugin in a test backend: app-config for the devcluster, an
 * in-memory catalog of `entities`, a permission policy that always answers
 * `permission`, and the given database (backends sharing a knex see each
 * other's releases and deployments).
 *
 * A request without an Authorization header is unauthenticated, as in
 * production (the mock HttpAuthService would otherwise treat it as a user).
 */
export function startDeliveryBackend(options: {
  cluster: DevCluster;
  knex: Knex;
  entities: Entity[];
  /** What the permission policy answers; `{ onlyEntityRef }` allows on that entity (or those) only and denies the rest. */
  permission:
    | AuthorizeResult.ALLOW
    | AuthorizeResult.DENY
    | { onlyEntityRef: string | string[] }
    /**
     * Backstage's permission backend with this policy, asked through the
     * real permission client; `ownership` gives users' group memberships
     * (their ownership claims).
     */
    | { policy: PermissionPolicy; ownership?: Ownership };
  /** Changes the app-config before the backend starts (e.g. a gateway or routingApi). */
  configure?: (config: { kubeDelivery: Record<string, any> }) => void;
  /** More features, e.g. a scheduler mock that captures tasks. */
  features?: Parameters<typeof startTestBackend>[0]['features'];
  /** A catalog the test adds entities to while the backend runs, instead of `entities`. */
  catalog?: MutableCatalog;
}): Promise<TestBackend> {
  const config = devClusterAppConfig(options.cluster) as {
    kubeDelivery: Record<string, any>;
  };
  options.configure?.(config);
  if (
    typeof options.permission === 'object' &&
    'policy' in options.permission
  ) {
    Object.assign(config, { permission: { enabled: true } });
  }
  return startTestBackend({
    features: [
      kubeDeliveryPlugin,
      mockServices.rootConfig.factory({ data: config }),
      mockServices.database.factory({ knex: options.knex }),
      mockServices.httpAuth.factory({
        defaultCredentials: mockCredentials.none(),
      }),
      ...permissionFeatures(options.permission),
      options.catalog
        ? createServiceFactory({
            service: catalogServiceRef,
            deps: {},
            factory: () => options.catalog!,
          })
        : catalogServiceMock.factory({ entities: options.entities }),
      ...(options.features ?? []),
    ],
  });
}

function permissionFeatures(
  permission: Parameters<typeof startDeliveryBackend>[0]['permission'],
) {
  if (typeof permission !== 'object') {
    return [mockServices.permissions.factory({ result: permission })];
  }
  if ('policy' in permission) {
    return realPermissions(permission.policy, {
      ownership: permission.ownership,
    });
  }
  return [onlyEntityPermissions(permission.onlyEntityRef)];
}

/**
 * A permission policy that allows resource permissions on some entities
 * (also on targets `<environment>:<entity ref>` of them, in every
 * environment) and denies everything else, environment-wide targets and
 * conditional questions (lists) included.
 */
function onlyEntityPermissions(entityRefs: string | string[]) {
  const allowed = new Set([entityRefs].flat());
  const decide = (request: {
    permission: { resourceType?: string };
    resourceRef?: string;
  }) => {
    const ref =
      request.resourceRef &&
      request.permission.resourceType === RESOURCE_TYPE_KUBE_DELIVERY_TARGET
        ? parseTargetRef(request.resourceRef).entityRef
        : request.resourceRef;
    return {
      result:
        ref && allowed.has(ref) ? AuthorizeResult.ALLOW : AuthorizeResult.DENY,
    };
  };
  return createServiceFactory({
    service: coreServices.permissions,
    deps: {},
    factory: () =>
      ({
        authorize: async (requests: Parameters<typeof decide>[0][]) =>
          requests.map(decide),
        authorizeConditional: async (requests: object[]) =>
          requests.map(() => ({ result: AuthorizeResult.DENY })),
      } as unknown as PermissionsService),
  });
}
