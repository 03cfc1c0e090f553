import type { EnvironmentStatus } from '@internal/plugin-kube-delivery-common';
import { screen, within } from '@testing-library/react';
import {
  deployment,
  minutesAgo,
  mockApi,
  renderTab,
  rollout,
} from '../../__testUtils__/fixtures';
import { DeliveryOverviewCard } from './DeliveryOverviewCard';

jest.setTimeout(30_000);

const statuses: EnvironmentStatus[] = [
  {
    environment: 'dev',
    namespace: 'dev',
    current: deployment('dev', '0.1.4'),
    active: [
      deployment('dev', '0.1.5', {
        status: 'running',
        finishedAt: undefined,
        startedAt: minutesAgo(1),
        steps: [
          { name: 'Dry run', status: 'succeeded', startedAt: minutesAgo(1) },
          { name: 'Apply', status: 'succeeded', startedAt: minutesAgo(1) },
          {
            name: 'Rollout',
            status: 'running',
            startedAt: minutesAgo(0.5),
            message: '1 of 2 updated replicas are available',
          },
          { name: 'Clean up', status: 'running', startedAt: minutesAgo(0) },
        ],
      }),
    ],
    rollout: rollout(2, 2),
  },
  {
    environment: 'production',
    namespace: 'production',
    current: deployment('production', '0.1.3'),
    active: [],
    rollout: rollout(1, 2),
  },
  { environment: 'test', namespace: 'test', active: [] },
];

describe('DeliveryOverviewCard', () => {
  it("shows each environment's version and health, a running deploy's progress, and links to the tabs", async () => {
    const api = mockApi({ getStatus: jest.fn().mockResolvedValue(statuses) });
    await renderTab(<DeliveryOverviewCard />, { api });
    const table = await screen.findByRole('table', {
      name: 'Versions by environment',
    });
    const [dev, production, test] = within(table).getAllByRole('row');
    expect(dev).toHaveTextContent('dev0.1.4 → 0.1.5');
    expect(dev).toHaveTextContent(
      'Rollout (step 3 of 4): 1 of 2 updated replicas are available',
    );
    expect(dev).toHaveTextContent('healthy · 2/2 ready');
    expect(production).toHaveTextContent('production0.1.3');
    expect(production).toHaveTextContent('degraded · 1/2 ready');
    expect(test).toHaveTextContent('test—');
    expect(test).toHaveTextContent('not deployed');
    expect(
      screen.getByRole('link', { name: 'Release history' }),
    ).toHaveAttribute(
      'href',
      '/catalog/default/component/cart/kube-delivery/release-history',
    );
    expect(
      screen.getByRole('link', { name: 'Feature branches' }),
    ).toHaveAttribute(
      'href',
      '/catalog/default/component/cart/kube-delivery/feature-branches',
    );
  });
});
