import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import type { Entity } from '@backstage/catalog-model';
import { ResponseError } from '@backstage/errors';
import { EntityProvider } from '@backstage/plugin-catalog-react';
import { permissionApiRef } from '@backstage/plugin-permission-react';
import {
  mockApis,
  renderInTestApp,
  TestApiProvider,
} from '@backstage/test-utils';
import type {
  Deployment,
  EnvironmentStatusView,
  EnvironmentSummary,
  ReleaseView,
} from '@internal/plugin-kube-delivery-common';
import { kubeDeliveryApiRef, type KubeDeliveryApi } from '../../api';
import { EnvironmentsContent } from './EnvironmentsContent';

/** The mock permission API's fixed decisions (AuthorizeResult.ALLOW / DENY). */
type Decision = Exclude<
  NonNullable<
    NonNullable<Parameters<typeof mockApis.permission>[0]>['authorize']
  >,
  Function
>;
const AuthorizeResult = {
  ALLOW: 'ALLOW' as Decision,
  DENY: 'DENY' as Decision,
};

const entity: Entity = {
  apiVersion: 'backstage.io/v1alpha1',
  kind: 'Component',
  metadata: {
    name: 'cart',
    namespace: 'default',
    annotations: { 'kube-delivery.io/image': 'registry.local/cart' },
  },
  spec: { type: 'service', owner: 'team-a', lifecycle: 'production' },
};

const minutesAgo = (m: number) =>
  new Date(Date.now() - m * 60_000).toISOString();

const environments: EnvironmentSummary[] = [
  { name: 'dev', namespace: 'cart-dev' },
  { name: 'staging', namespace: 'cart-staging' },
  { name: 'production', namespace: 'cart-prod', protected: true },
];

function deployment(
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

function rollout(ready: number, desired: number) {
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

const statuses: EnvironmentStatusView[] = [
  {
    environment: 'dev',
    namespace: 'cart-dev',
    current: deployment('dev', '0.1.4'),
    active: [
      deployment('dev', '0.1.5', {
        status: 'running',
        finishedAt: undefined,
        startedAt: minutesAgo(1),
        steps: [
          {
            name: 'Apply manifests',
            status: 'succeeded',
            startedAt: minutesAgo(1),
            finishedAt: minutesAgo(0.5),
          },
          {
            name: 'Wait for rollout',
            status: 'running',
            startedAt: minutesAgo(0.5),
            message: '1 of 2 updated replicas are available',
          },
        ],
      }),
    ],
    rollout: rollout(2, 2),
  },
  {
    environment: 'staging',
    namespace: 'cart-staging',
    current: deployment('staging', '0.1.3'),
    active: [],
    rollout: rollout(2, 2),
  },
  {
    environment: 'production',
    namespace: 'cart-prod',
    current: deployment('production', '0.1.2'),
    active: [],
    rollout: rollout(2, 2),
  },
];

const releases: ReleaseView[] = [
  {
    id: 'rel-0.1.5',
    entityRef: 'component:default/cart',
    version: '0.1.5',
    imageRef: 'registry.local/cart:0.1.5',
    channel: 'stable',
    createdAt: minutesAgo(20),
    createdBy: 'service:ci',
  },
];

function mockApi(overrides: Partial<KubeDeliveryApi> = {}): KubeDeliveryApi {
  return {
    listEnvironments: jest.fn().mockResolvedValue(environments),
    getStatus: jest.fn().mockResolvedValue(statuses),
    listReleases: jest.fn().mockResolvedValue(releases),
    listDeployments: jest.fn().mockResolvedValue({ items: [] }),
    getDeployment: jest.fn(),
    deploy: jest.fn(),
    rollback: jest.fn(),
    promote: jest.fn(),
    restart: jest.fn(),
    ...overrides,
  };
}

async function renderContent(
  api: KubeDeliveryApi,
  authorize: Decision = AuthorizeResult.ALLOW,
  // usePermission caches decisions per resource across renders: a denied
  // test uses its own entity so the cache cannot leak into the others.
  name = 'cart',
) {
  return renderInTestApp(
    <TestApiProvider
      apis={[
        [kubeDeliveryApiRef, api],
        [permissionApiRef, mockApis.permission({ authorize })],
      ]}
    >
      <EntityProvider
        entity={{ ...entity, metadata: { ...entity.metadata, name } }}
      >
        <EnvironmentsContent />
      </EntityProvider>
    </TestApiProvider>,
  );
}

async function conflict(message: string) {
  const body = JSON.stringify({
    error: { name: 'ConflictError', message },
    response: { statusCode: 409 },
  });
  return ResponseError.fromResponse({
    status: 409,
    statusText: 'Conflict',
    headers: { get: () => 'application/json; charset=utf-8' },
    text: async () => body,
  } as unknown as Response);
}

describe('EnvironmentsContent', () => {
  it('shows every environment in lifecycle order with its version and health', async () => {
    const api = mockApi();
    await renderContent(api);

    const cards = await screen.findAllByRole('region', {
      name: /^Environment /,
    });
    expect(cards.map(c => c.getAttribute('aria-label'))).toEqual([
      'Environment dev',
      'Environment staging',
      'Environment production',
    ]);
    expect(within(cards[0]).getByText('0.1.4')).toBeInTheDocument();
    expect(within(cards[1]).getByText('0.1.3')).toBeInTheDocument();
    expect(within(cards[2]).getByText('0.1.2')).toBeInTheDocument();
    expect(screen.getAllByText('2 of 2 ready')).toHaveLength(3);
    expect(
      within(cards[1]).getByText(/by user:default\/jane/),
    ).toBeInTheDocument();
    expect(
      within(cards[0]).getByText('node-1: 1/1 pod ready'),
    ).toBeInTheDocument();
    expect(api.getStatus).toHaveBeenCalledWith('component:default/cart');

    // Promote is offered from the previous environment only.
    expect(
      screen.queryByRole('button', { name: /Promote from .* to dev/ }),
    ).not.toBeInTheDocument();
    expect(
      screen.getByRole('button', { name: 'Promote from dev to staging' }),
    ).toBeInTheDocument();
  });

  it('renders the steps of the deployment in progress', async () => {
    await renderContent(mockApi());
    const steps = await screen.findByLabelText('Steps of the deploy of 0.1.5');
    expect(within(steps).getByText('Apply manifests')).toBeInTheDocument();
    expect(within(steps).getByText('Wait for rollout')).toBeInTheDocument();
    expect(
      within(steps).getByText('1 of 2 updated replicas are available'),
    ).toBeInTheDocument();
    expect(within(steps).getByLabelText('running')).toBeInTheDocument();
  });

  it('shows the error panel when the API fails', async () => {
    const api = mockApi({
      getStatus: jest.fn().mockRejectedValue(new Error('backend is down')),
    });
    await renderContent(api);
    expect(
      (await screen.findAllByText(/backend is down/)).length,
    ).toBeGreaterThan(0);
    expect(screen.queryByText('2 of 2 ready')).not.toBeInTheDocument();
  });

  it('shows the empty state for an environment with nothing deployed', async () => {
    const api = mockApi({
      getStatus: jest
        .fn()
        .mockResolvedValue([
          { environment: 'dev', namespace: 'cart-dev', active: [] },
        ]),
    });
    await renderContent(api);
    expect(
      await screen.findAllByText(
        'Not deployed yet — create a release in CI, then Deploy.',
      ),
    ).toHaveLength(3);
  });

  it("shows the backend's reason when a deploy is refused", async () => {
    const reason =
      'Release 0.1.5-myfeature is on channel feature, which production does not accept';
    const api = mockApi({
      deploy: jest.fn().mockImplementation(async () => {
        throw await conflict(reason);
      }),
    });
    await renderContent(api);

    await userEvent.click(
      await screen.findByRole('button', { name: 'Deploy to production' }),
    );
    const confirm = await screen.findByRole('button', {
      name: 'Deploy 0.1.5 to production',
    });
    await userEvent.click(confirm);

    expect(api.deploy).toHaveBeenCalledWith('component:default/cart', {
      environment: 'production',
      releaseId: 'rel-0.1.5',
    });
    // Wait for the dialog to close: until then the page is aria-hidden.
    await waitFor(() =>
      expect(screen.queryByRole('dialog')).not.toBeInTheDocument(),
    );
    const card = screen.getByRole('region', { name: 'Environment production' });
    await waitFor(() =>
      expect(
        within(card)
          .getAllByRole('alert')
          .some(alert => alert.textContent?.includes(reason)),
      ).toBe(true),
    );
  });

  it('hides the actions when the permission policy denies deploying', async () => {
    await renderContent(mockApi(), AuthorizeResult.DENY, 'cart-readonly');
    await screen.findAllByText('2 of 2 ready');
    expect(
      screen.queryByRole('button', { name: 'Deploy to dev' }),
    ).not.toBeInTheDocument();
    expect(
      screen.queryByRole('button', { name: /Restart/ }),
    ).not.toBeInTheDocument();
  });
});
