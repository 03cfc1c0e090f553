import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import type { RouteRule } from '@internal/plugin-kube-delivery-common';
import { deployment, mockApi, renderTab } from '../../__testUtils__/fixtures';
import { FeatureBranchesContent } from './FeatureBranchesContent';

// Material UI dialogs on two shared cores take seconds.
jest.setTimeout(30_000);

const inHours = (h: number) =>
  new Date(Date.now() + h * 3_600_000).toISOString();

const joes: RouteRule = {
  id: 'rule-1',
  entityRef: 'component:default/cart',
  environment: 'dev',
  service: 'cart',
  branch: 'myfeature',
  kind: 'cookie',
  key: 'shop_session-id',
  value: 'joe-session',
  owner: 'user:default/joe',
  expiresAt: inHours(3),
};
/** Someone else's rule as the API lists it to a reader who may not route. */
const hidden = {
  ...joes,
  id: 'rule-2',
  owner: 'user:default/ann',
  value: null,
  valueHidden: true,
} as unknown as RouteRule;

describe('FeatureBranchesContent: rule values and branches not deployed yet', () => {
  it('shows a hidden value as hidden, never as "null"', async () => {
    await renderTab(<FeatureBranchesContent />, {
      api: mockApi({
        listDeployments: jest.fn().mockResolvedValue({
          items: [
            deployment('dev', '0.2.0-myfeature', { status: 'succeeded' }),
          ],
        }),
        listRoutes: jest.fn().mockResolvedValue([joes, hidden]),
      }),
    });
    const rules = await screen.findByRole('table', {
      name: 'Routing rules of myfeature in dev',
    });
    expect(within(rules).getByText('joe-session')).toBeInTheDocument();
    expect(within(rules).getByText('hidden')).toBeInTheDocument();
    expect(within(rules).queryByText('null')).not.toBeInTheDocument();
    expect(
      within(rules).getByRole('button', {
        name: 'Remove rule shop_session-id=(hidden)',
      }),
    ).toBeInTheDocument();
    // The branch is deployed: no notice.
    expect(
      screen.queryByText(/not deployed in dev yet/),
    ).not.toBeInTheDocument();
  });

  it('says when a branch with rules is not deployed in the environment yet', async () => {
    await renderTab(<FeatureBranchesContent />, {
      api: mockApi({
        listDeployments: jest.fn().mockResolvedValue({ items: [] }),
        listRoutes: jest
          .fn()
          .mockResolvedValue([{ ...joes, branch: 'notyet' }]),
      }),
    });
    const card = await screen.findByRole('region', {
      name: 'Branch notyet in dev',
    });
    expect(
      within(card).getByText(
        'notyet is not deployed in dev yet: the rules route once it is.',
      ),
    ).toBeInTheDocument();
  });

  it("shows the API's warning when a rule is added for a branch not deployed there", async () => {
    const warning =
      'cart-myfeature is not deployed in dev yet: the rule routes once it is';
    const createRoute = jest
      .fn()
      .mockResolvedValue({ ...joes, id: 'rule-3', warnings: [warning] });
    await renderTab(<FeatureBranchesContent />, {
      api: mockApi({
        listDeployments: jest.fn().mockResolvedValue({
          items: [deployment('dev', '0.2.0-myfeature', { status: 'failed' })],
        }),
        listRoutes: jest.fn().mockResolvedValue([]),
        createRoute,
      }),
    });
    await userEvent.click(
      await screen.findByRole('button', {
        name: 'Add rule for myfeature in dev',
      }),
    );
    const dialog = await screen.findByRole('dialog');
    await userEvent.click(
      within(dialog).getByRole('button', {
        name: 'Create the rule for myfeature in dev',
      }),
    );
    await waitFor(() => expect(createRoute).toHaveBeenCalled());
    expect(
      await screen.findByText(new RegExp(`but ${warning}\\.$`)),
    ).toBeInTheDocument();
  });
});
