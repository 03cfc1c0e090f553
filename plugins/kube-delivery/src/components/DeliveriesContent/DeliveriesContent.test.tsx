import type { DeliveryMatrix } from '@internal/plugin-kube-delivery-common';
import { fireEvent, screen, within } from '@testing-library/react';
import { EntityProvider } from '@backstage/plugin-catalog-react';
import { renderInTestApp, TestApiProvider } from '@backstage/test-utils';
import { kubeDeliveryApiRef } from '../../api';
import { minutesAgo, mockApi, renderTab } from '../../__testUtils__/fixtures';
import { DeliveriesTable } from './DeliveriesContent';
import { EntityDeliveriesContent } from './DeliveriesPage';

jest.setTimeout(30_000);

const matrix: DeliveryMatrix = {
  environments: ['dev', 'test', 'production'],
  truncated: false,
  items: [
    {
      entityRef: 'component:default/cart',
      owner: 'group:default/team-a',
      system: 'system:default/shop',
      lifecycle: 'production',
      cells: [
        {
          environment: 'dev',
          version: '0.1.4',
          state: 'healthy',
          deployedBy: 'user:default/ada',
          deployedAt: minutesAgo(3),
          differsFromPrevious: false,
        },
        {
          environment: 'test',
          version: '0.1.3',
          state: 'degraded',
          message: '1 of 2 updated replicas are available',
          differsFromPrevious: true,
        },
        {
          environment: 'production',
          version: '0.1.3',
          state: 'waiting-approval',
          pendingVersion: '0.1.4',
          differsFromPrevious: false,
        },
      ],
    },
    {
      entityRef: 'component:default/ads',
      owner: 'group:default/team-b',
      system: 'system:default/marketing',
      lifecycle: 'experimental',
      cells: [
        {
          environment: 'dev',
          state: 'failed',
          message: '0.1.3: Smoke test failed',
          differsFromPrevious: false,
        },
        {
          environment: 'test',
          state: 'not-deployed',
          differsFromPrevious: false,
        },
        {
          environment: 'production',
          state: 'not-deployed',
          differsFromPrevious: false,
        },
      ],
    },
  ],
};

describe('DeliveriesTable', () => {
  it('draws every service × environment with version, state, who and when, and marks what a promotion changes', async () => {
    const api = mockApi({ getDeliveries: jest.fn().mockResolvedValue(matrix) });
    await renderTab(<DeliveriesTable />, { api });
    const table = await screen.findByRole('table', { name: 'Deliveries' });
    expect(
      within(table)
        .getAllByRole('columnheader')
        .map(h => h.textContent),
    ).toEqual(['Service', 'Owner', 'dev', 'test', 'production']);
    const dev = screen.getByTestId('cell-cart-dev');
    expect(dev).toHaveTextContent('0.1.4healthyada, 3 minutes ago');
    expect(within(dev).getByRole('link')).toHaveAttribute(
      'href',
      '/catalog/default/component/cart/kube-delivery/environments',
    );
    expect(screen.getByTestId('cell-cart-test')).toHaveTextContent(
      '0.1.3degradeddiffers from dev',
    );
    expect(screen.getByTestId('cell-cart-production')).toHaveTextContent(
      '0.1.3 → 0.1.4waiting for approval',
    );
    expect(screen.getByTestId('cell-ads-dev')).toHaveTextContent('—failed');
    expect(api.getDeliveries).toHaveBeenCalledWith({});
  });

  it('filters by owner, system and lifecycle', async () => {
    const api = mockApi({ getDeliveries: jest.fn().mockResolvedValue(matrix) });
    await renderTab(<DeliveriesTable />, { api });
    await screen.findByRole('table', { name: 'Deliveries' });
    fireEvent.mouseDown(screen.getByRole('button', { name: /Owner/ }));
    fireEvent.click(await screen.findByRole('option', { name: 'team-b' }));
    expect(screen.queryByTestId('cell-cart-dev')).toBeNull();
    expect(screen.getByTestId('cell-ads-dev')).toBeInTheDocument();
    fireEvent.mouseDown(screen.getByRole('button', { name: /Lifecycle/ }));
    fireEvent.click(await screen.findByRole('option', { name: 'production' }));
    expect(
      screen.getByText('No service matches these filters.'),
    ).toBeInTheDocument();
  });

  it('says how a service gets here when there is none', async () => {
    const api = mockApi({
      getDeliveries: jest
        .fn()
        .mockResolvedValue({
          environments: ['dev'],
          items: [],
          truncated: false,
        }),
    });
    await renderTab(<DeliveriesTable />, { api });
    expect(
      await screen.findByText('No services delivered here yet'),
    ).toBeInTheDocument();
  });

  it.each([
    ['System', 'shop', { system: 'system:default/shop' }],
    ['Group', 'team-a', { owner: 'group:default/team-a' }],
  ])(
    "on a %s's tab, asks for its services only",
    async (kind, name, filter) => {
      const api = mockApi({
        getDeliveries: jest.fn().mockResolvedValue(matrix),
      });
      await renderInTestApp(
        <TestApiProvider apis={[[kubeDeliveryApiRef, api]]}>
          <EntityProvider
            entity={{
              apiVersion: 'backstage.io/v1alpha1',
              kind,
              metadata: { name, namespace: 'default' },
            }}
          >
            <EntityDeliveriesContent />
          </EntityProvider>
        </TestApiProvider>,
      );
      await screen.findByRole('table', { name: 'Deliveries' });
      expect(api.getDeliveries).toHaveBeenCalledWith(filter);
      // The fixed filter's select is not offered again.
      expect(
        screen.queryByRole('button', {
          name: kind === 'System' ? /System/ : /Owner/,
        }),
      ).toBeNull();
    },
  );
});
