import type { ReactNode } from 'react';
import { SWRConfig } from 'swr';
import type { Entity } from '@backstage/catalog-model';
import { ResponseError } from '@backstage/errors';
import {
  EntityProvider,
  entityRouteRef,
} from '@backstage/plugin-catalog-react';
import { identityApiRef } from '@backstage/core-plugin-api';
import { permissionApiRef } from '@backstage/plugin-permission-react';
import {
  mockApis,
  renderInTestApp,
  TestApiProvider,
} from '@backstage/test-utils';
import type {
  Deployment,
  Environment,
  Release,
  RolloutStatus,
} from '@internal/plugin-kube-delivery-common';
import { kubeDeliveryApiRef, type KubeDeliveryApi } from '../api';

type Authorize = NonNullable<
  NonNullable<Parameters<typeof mockApis.permission>[0]>['authorize']
>;
/** A fixed decision of the mock permission API (AuthorizeResult.ALLOW / DENY). */
export type Decision = Exclude<Authorize, Function>;
/** The permission request the mock permission API decides on. */
export type PermissionRequest = Parameters<Extract<Authorize, Function>>[0];

export const AuthorizeResult = {
  ALLOW: 'ALLOW' as Decision,
  DENY: 'DENY' as Decision,
};

/** Allows everything but the named permissions. */
export function denyOnly(...names: string[]): Authorize {
  return (request: PermissionRequest) =>
    names.includes(request.permission.name)
      ? AuthorizeResult.DENY
      : AuthorizeResult.ALLOW;
}

export const entity: Entity = {
  apiVersion: 'backstage.io/v1alpha1',
  kind: 'Component',
  metadata: {
    name: 'cart',
    namespace: 'default',
    annotations: {
      'kube-delivery.io/image': 'registry.local/cart',
      'kube-delivery.io/routing': 'cookie:shop_session-id',
    },
  },
  spec: { type: 'service', owner: 'team-a', lifecycle: 'production' },
};

export const minutesAgo = (m: number) =>
  new Date(Date.now() - m * 60_000).toISOString();

export const environments: Environment[] = [
  { name: 'dev', namespace: 'cart-dev', featureBranches: true },
  { name: 'staging', namespace: 'cart-staging', featureBranches: true },
  { name: 'production', namespace: 'cart-prod', protected: true },
];

export function deployment(
  environment: string,
  version: string,
  overrides: Partial<Deployment> = {},
): Deployment {
  return {
    id: `${environment}-${version}`,
    entityRef: 'component:default/cart',
    environment,
    releaseId: `rel-${version}`,
    version,
    kind: 'deploy',
    strategy: 'rolling',
    status: 'succeeded',
    createdBy: 'user:default/jane',
    createdAt: minutesAgo(10),
    finishedAt: minutesAgo(9),
    steps: [],
    ...overrides,
  };
}

export function rollout(ready: number, desired: number): RolloutStatus {
  return {
    exists: true,
    observedGenerationCurrent: true,
    desired,
    updated: desired,
    ready,
    available: ready,
    unavailable: desired - ready,
    progressing: 'True' as const,
    progressReason: 'NewReplicaSetAvailable',
    complete: ready === desired,
    deadlineExceeded: false,
    message: `deployment "cart" successfully rolled out`,
    pods: Array.from({ length: desired }, (_, i) => ({
      name: `cart-${i}`,
      node: `node-${i + 1}`,
      ready: i < ready,
      phase: 'Running',
    })),
  };
}

export function release(version: string, minutes = 20): Release {
  return {
    id: `rel-${version}`,
    entityRef: 'component:default/cart',
    version,
    imageRef: `registry.local/cart:${version}`,
    channel: version.includes('-') ? 'feature-branch' : 'stable',
    ...(version.includes('-') && { branch: version.split('-')[1] }),
    createdAt: minutesAgo(minutes),
    createdBy: 'service:ci',
  };
}

/** Every method a jest.fn that fails loudly unless a test gives it an answer. */
export function mockApi(
  overrides: Partial<KubeDeliveryApi> = {},
): KubeDeliveryApi {
  const unexpected = (name: string) =>
    jest.fn().mockRejectedValue(new Error(`${name} was not expected`));
  return {
    listEnvironments: jest.fn().mockResolvedValue(environments),
    getDeliveries: unexpected('getDeliveries'),
    getStatus: jest.fn().mockResolvedValue([]),
    listReleases: jest.fn().mockResolvedValue([release('0.1.5')]),
    listDeployments: jest.fn().mockResolvedValue({ items: [] }),
    getDeployment: unexpected('getDeployment'),
    deploy: unexpected('deploy'),
    rollback: unexpected('rollback'),
    promote: unexpected('promote'),
    restart: unexpected('restart'),
    approveDeployment: unexpected('approveDeployment'),
    rejectDeployment: unexpected('rejectDeployment'),
    getHistory: jest.fn().mockResolvedValue({ items: [] }),
    getRelease: unexpected('getRelease'),
    getEnvironmentHealth: jest
      .fn()
      .mockImplementation(async (name: string) => ({
        environment: name,
        status: 'ok',
        checkedAt: minutesAgo(2),
        findings: [],
      })),
    checkEnvironmentHealth: unexpected('checkEnvironmentHealth'),
    listRoutes: jest.fn().mockResolvedValue([]),
    createRoute: unexpected('createRoute'),
    extendRoute: unexpected('extendRoute'),
    deleteRoute: unexpected('deleteRoute'),
    removeBranch: unexpected('removeBranch'),
    testRoute: unexpected('testRoute'),
    listCertificates: unexpected('listCertificates'),
    uploadCertificate: unexpected('uploadCertificate'),
    useCertManager: unexpected('useCertManager'),
    ...overrides,
  };
}

/**
 * Renders a tab of the entity `name` with the API and a permission policy.
 * usePermission caches decisions in SWR's cache; each render gets a cache of
 * its own, so no test sees another test's decisions.
 */
export function renderTab(
  tab: ReactNode,
  options: {
    api: KubeDeliveryApi;
    authorize?: Authorize;
    name?: string;
    /** The signed-in user; default `user:default/guest`. */
    user?: string;
    /** More annotations of the entity. */
    annotations?: Record<string, string>;
  },
) {
  const {
    api,
    authorize = AuthorizeResult.ALLOW,
    name = 'cart',
    user = 'user:default/guest',
  } = options;
  return renderInTestApp(
    <SWRConfig value={{ provider: () => new Map() }}>
      <TestApiProvider
        apis={[
          [kubeDeliveryApiRef, api],
          [permissionApiRef, mockApis.permission({ authorize })],
          [identityApiRef, mockApis.identity({ userEntityRef: user })],
        ]}
      >
        <EntityProvider
          entity={{
            ...entity,
            metadata: {
              ...entity.metadata,
              name,
              annotations: {
                ...entity.metadata.annotations,
                ...options.annotations,
              },
            },
          }}
        >
          {tab}
        </EntityProvider>
      </TestApiProvider>
    </SWRConfig>,
    { mountedRoutes: { '/catalog/:namespace/:kind/:name': entityRouteRef } },
  );
}

/** The error the client throws for a backend answer with this status and message. */
export async function backendError(
  status: number,
  name: string,
  message: string,
): Promise<ResponseError> {
  const body = JSON.stringify({
    error: { name, message },
    response: { statusCode: status },
  });
  return ResponseError.fromResponse({
    status,
    statusText: name,
    headers: { get: () => 'application/json; charset=utf-8' },
    text: async () => body,
  } as unknown as Response);
}
