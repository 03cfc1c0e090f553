import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import {
  kubeDeliveryDeployPermission,
  kubeDeliveryRouteAdminPermission,
  kubeDeliveryRoutePermission,
  type RouteRule,
} from '@internal/plugin-kube-delivery-common';
import {
  AuthorizeResult,
  backendError,
  denyOnly,
  deployment,
  environments,
  minutesAgo,
  mockApi,
  renderTab,
} from '../../__testUtils__/fixtures';
import { FeatureBranchesContent } from './FeatureBranchesContent';
import { timeLeft } from './routingKey';

// Material UI dialogs on two shared cores take seconds.
jest.setTimeout(30_000);

const hoursFromNow = (h: number) =>
  new Date(Date.now() + h * 3_600_000).toISOString();

const rule: RouteRule = {
  id: 'rule-1',
  entityRef: 'component:default/cart',
  environment: 'dev',
  service: 'cart',
  branch: 'myfeature',
  kind: 'cookie',
  key: 'shop_session-id',
  value: 'joe-session',
  owner: 'user:default/joe',
  expiresAt: hoursFromNow(3),
};

const branchDeployments = {
  items: [
    deployment('dev', '0.2.0-myfeature', { status: 'succeeded' }),
    deployment('dev', '0.1.9-myfeature'),
    deployment('dev', '0.1.9'),
    deployment('staging', '0.2.0-other', { status: 'failed' }),
  ],
};

function branchesApi(overrides = {}) {
  return mockApi({
    listDeployments: jest.fn().mockResolvedValue(branchDeployments),
    listRoutes: jest.fn().mockResolvedValue([rule]),
    ...overrides,
  });
}

describe('FeatureBranchesContent', () => {
  it('lists branch deployments per environment with their state and rules', async () => {
    await renderTab(<FeatureBranchesContent />, { api: branchesApi() });
    const dev = await screen.findByRole('region', {
      name: 'Branch myfeature in dev',
    });
    expect(within(dev).getByText('0.2.0-myfeature')).toBeInTheDocument();
    expect(within(dev).getByText('succeeded')).toBeInTheDocument();
    const rules = within(dev).getByRole('table', {
      name: 'Routing rules of myfeature in dev',
    });
    expect(within(rules).getByText('shop_session-id')).toBeInTheDocument();
    expect(within(rules).getByText('joe-session')).toBeInTheDocument();
    expect(within(rules).getByText('user:default/joe')).toBeInTheDocument();
    expect(within(rules).getByText(/^[23]h \d\dm left$/)).toBeInTheDocument();

    const staging = screen.getByRole('region', {
      name: 'Branch other in staging',
    });
    expect(within(staging).getByText('failed')).toBeInTheDocument();
    // The mainline is not a branch; production takes no branches.
    expect(
      screen.queryByRole('region', { name: /Branch .* in production/ }),
    ).not.toBeInTheDocument();
    expect(
      screen.queryByText('Feature branches in production'),
    ).not.toBeInTheDocument();
  });

  it('shows an owner such as service:ci whole, never broken inside the word', async () => {
    await renderTab(<FeatureBranchesContent />, {
      api: branchesApi({
        listRoutes: jest
          .fn()
          .mockResolvedValue([{ ...rule, owner: 'service:ci' }]),
      }),
    });
    const rules = await screen.findByRole('table', {
      name: 'Routing rules of myfeature in dev',
    });
    const owner = within(rules).getByText('service:ci');
    expect(owner.tagName).toBe('TD');
    expect(owner).toHaveStyle({ whiteSpace: 'nowrap' });
  });

  it('shows a deployed branch without a routing rule as deployed, no one routed to it', async () => {
    await renderTab(<FeatureBranchesContent />, {
      api: branchesApi({ listRoutes: jest.fn().mockResolvedValue([]) }),
    });
    const dev = await screen.findByRole('region', {
      name: 'Branch myfeature in dev',
    });
    expect(
      within(dev).getByText('deployed, no one routed to it'),
    ).toBeInTheDocument();
    expect(within(dev).queryByText('succeeded')).toBeNull();
    expect(within(dev).getByText(/No routing rules/)).toBeInTheDocument();
  });

  it('adds a rule for yourself with a generated value and shows the cookie to send', async () => {
    const createRoute = jest.fn().mockResolvedValue({ ...rule, id: 'rule-2' });
    const api = branchesApi({ createRoute });
    await renderTab(<FeatureBranchesContent />, { api });
    await userEvent.click(
      await screen.findByRole('button', {
        name: 'Add rule for myfeature in dev',
      }),
    );
    const dialog = await screen.findByRole('dialog');
    const value = within(dialog).getByLabelText('Value') as HTMLInputElement;
    expect(value.value).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    expect(within(dialog).getByLabelText('Cookie name')).toHaveValue(
      'shop_session-id',
    );
    expect(within(dialog).getByLabelText('Header to send')).toHaveTextContent(
      `Cookie: shop_session-id=${value.value}`,
    );

    await userEvent.click(
      within(dialog).getByRole('button', {
        name: 'Create the rule for myfeature in dev',
      }),
    );
    expect(createRoute).toHaveBeenCalledWith('component:default/cart', {
      environment: 'dev',
      branch: 'myfeature',
      kind: 'cookie',
      key: 'shop_session-id',
      value: value.value,
      ttlMinutes: 480,
    });
    await waitFor(() =>
      expect(screen.queryByRole('dialog')).not.toBeInTheDocument(),
    );
    expect(await screen.findByText(/Rule added/)).toBeInTheDocument();
  });

  it('refuses a value the backend would refuse, before sending it', async () => {
    const api = branchesApi();
    await renderTab(<FeatureBranchesContent />, { api });
    await userEvent.click(
      await screen.findByRole('button', {
        name: 'Add rule for myfeature in dev',
      }),
    );
    const dialog = await screen.findByRole('dialog');
    const value = within(dialog).getByLabelText('Value');
    await userEvent.clear(value);
    await userEvent.type(value, 'a;b');
    expect(
      within(dialog).getByText(/Routing value must be/),
    ).toBeInTheDocument();
    expect(
      within(dialog).getByRole('button', {
        name: 'Create the rule for myfeature in dev',
      }),
    ).toBeDisabled();
  });

  it("extends and removes rules, and shows the backend's reason when refused", async () => {
    const reason = 'Rule rule-1 expired and was removed; add a new one';
    const api = branchesApi({
      extendRoute: jest.fn().mockImplementation(async () => {
        throw await backendError(409, 'ConflictError', reason);
      }),
      deleteRoute: jest.fn().mockResolvedValue(undefined),
    });
    await renderTab(<FeatureBranchesContent />, { api });
    await userEvent.click(
      await screen.findByRole('button', {
        name: 'Extend rule shop_session-id=joe-session by 8 hours',
      }),
    );
    expect(api.extendRoute).toHaveBeenCalledWith(
      'component:default/cart',
      'rule-1',
      480,
    );
    expect(await screen.findByText(reason)).toBeInTheDocument();

    await userEvent.click(
      screen.getByRole('button', {
        name: 'Remove rule shop_session-id=joe-session',
      }),
    );
    expect(api.deleteRoute).toHaveBeenCalledWith(
      'component:default/cart',
      'rule-1',
    );
    expect(
      await screen.findByText('Rule shop_session-id=joe-session removed.'),
    ).toBeInTheDocument();
  });

  it('removes a branch after confirmation', async () => {
    const api = branchesApi({
      removeBranch: jest.fn().mockResolvedValue({
        environment: 'dev',
        branch: 'myfeature',
        rules: [rule],
        objects: ['Deployment/cart-myfeature', 'Service/cart-myfeature'],
      }),
    });
    await renderTab(<FeatureBranchesContent />, { api });
    await userEvent.click(
      await screen.findByRole('button', {
        name: 'Remove branch myfeature from dev',
      }),
    );
    const dialog = await screen.findByRole('dialog');
    expect(api.removeBranch).not.toHaveBeenCalled();
    await userEvent.click(
      within(dialog).getByRole('button', { name: 'Remove branch' }),
    );
    expect(api.removeBranch).toHaveBeenCalledWith(
      'component:default/cart',
      'dev',
      'myfeature',
    );
    expect(
      await screen.findByText(
        'Branch myfeature removed from dev: Deployment/cart-myfeature, Service/cart-myfeature, 1 rule.',
      ),
    ).toBeInTheDocument();
  });

  it('tests a route with cookies and headers and names the matching rule', async () => {
    const testRoute = jest.fn().mockResolvedValue({
      destination: { host: 'cart-myfeature' },
      routeName: 'rule-rule-1',
      rule,
      virtualService: true,
    });
    await renderTab(<FeatureBranchesContent />, {
      api: branchesApi({ testRoute }),
    });
    await userEvent.type(
      await screen.findByLabelText('Cookie 1 value'),
      'joe-session',
    );
    await userEvent.click(screen.getByRole('button', { name: 'Add header' }));
    await userEvent.type(screen.getByLabelText('Header 1 name'), 'UserID');
    await userEvent.type(screen.getByLabelText('Header 1 value'), 'joe');
    await userEvent.click(screen.getByRole('button', { name: 'Test route' }));

    expect(testRoute).toHaveBeenCalledWith('component:default/cart', {
      environment: 'dev',
      headers: { userid: 'joe', cookie: 'shop_session-id=joe-session' },
    });
    expect(
      await screen.findByLabelText('Route test destination'),
    ).toHaveTextContent('Goes to cart-myfeature');
    expect(
      screen.getByText(
        /Matched the cookie rule shop_session-id=joe-session of user:default\/joe for branch myfeature/,
      ),
    ).toBeInTheDocument();
  });

  it('hides rule and branch actions from users the policy does not allow', async () => {
    await renderTab(<FeatureBranchesContent />, {
      api: branchesApi(),
      authorize: denyOnly(
        kubeDeliveryRoutePermission.name,
        kubeDeliveryDeployPermission.name,
      ),
      name: 'cart-branches-readonly',
    });
    expect(
      await screen.findByRole('region', { name: 'Branch myfeature in dev' }),
    ).toBeInTheDocument();
    expect(
      screen.queryByRole('button', { name: /Add rule/ }),
    ).not.toBeInTheDocument();
    expect(
      screen.queryByRole('button', { name: /Extend rule/ }),
    ).not.toBeInTheDocument();
    expect(
      screen.queryByRole('button', { name: /^Remove (rule|branch)/ }),
    ).not.toBeInTheDocument();
    // The route tester only reads.
    expect(
      screen.getByRole('button', { name: 'Test route' }),
    ).toBeInTheDocument();
  });

  it('asks the policy per environment: rules in dev only, removal where it may also deploy', async () => {
    const asked: Array<string | undefined> = [];
    await renderTab(<FeatureBranchesContent />, {
      api: branchesApi(),
      authorize: request => {
        asked.push(`${request.permission.name} ${request.resourceRef}`);
        return request.resourceRef?.startsWith('dev:')
          ? AuthorizeResult.ALLOW
          : AuthorizeResult.DENY;
      },
      name: 'cart-branches-dev-only',
    });
    expect(
      await screen.findByRole('button', {
        name: 'Add rule for myfeature in dev',
      }),
    ).toBeInTheDocument();
    expect(
      screen.getByRole('button', { name: 'Remove branch myfeature from dev' }),
    ).toBeInTheDocument();
    expect(
      screen.getByRole('region', { name: 'Branch other in staging' }),
    ).toBeInTheDocument();
    expect(
      screen.queryByRole('button', { name: /in staging$|from staging$/ }),
    ).not.toBeInTheDocument();
    expect(asked).toEqual(
      expect.arrayContaining([
        `${kubeDeliveryRoutePermission.name} dev:component:default/cart-branches-dev-only`,
        `${kubeDeliveryDeployPermission.name} staging:component:default/cart-branches-dev-only`,
      ]),
    );
  });

  it("offers Extend and Remove on others' rules only to route admins, on one's own to oneself", async () => {
    const withoutRouteAdmin = denyOnly(kubeDeliveryRouteAdminPermission.name);
    const { unmount } = await renderTab(<FeatureBranchesContent />, {
      api: branchesApi(),
      authorize: withoutRouteAdmin,
      name: 'cart-not-admin',
    });
    expect(
      await screen.findByRole('button', {
        name: 'Add rule for myfeature in dev',
      }),
    ).toBeInTheDocument();
    expect(
      screen.queryByRole('button', { name: /^(Extend|Remove) rule/ }),
    ).not.toBeInTheDocument();
    unmount();

    // joe's own rule.
    await renderTab(<FeatureBranchesContent />, {
      api: branchesApi(),
      authorize: withoutRouteAdmin,
      name: 'cart-own-rule',
      user: 'user:default/joe',
    });
    expect(
      await screen.findByRole('button', {
        name: 'Extend rule shop_session-id=joe-session by 8 hours',
      }),
    ).toBeInTheDocument();
  });

  it('says what to do when no environment takes feature branches, or reading fails', async () => {
    const { unmount } = await renderTab(<FeatureBranchesContent />, {
      api: branchesApi({
        listEnvironments: jest
          .fn()
          .mockResolvedValue(
            environments.map(e => ({ ...e, featureBranches: false })),
          ),
      }),
      authorize: AuthorizeResult.ALLOW,
    });
    expect(
      await screen.findByText('No environment takes feature branches'),
    ).toBeInTheDocument();
    unmount();

    await renderTab(<FeatureBranchesContent />, {
      api: branchesApi({
        listRoutes: jest
          .fn()
          .mockRejectedValue(new Error('routing store is down')),
      }),
    });
    expect(
      (await screen.findAllByText(/routing store is down/)).length,
    ).toBeGreaterThan(0);
  });
});

describe('FeatureBranchesContent after a branch removal', () => {
  it('no longer shows a branch removed since its latest deployment', async () => {
    const removal = (environment: string, branch: string, minutes: number) => ({
      id: `removed-${branch}`,
      kind: 'route-changed' as const,
      environment,
      createdAt: minutesAgo(minutes),
      actor: 'user:default/joe',
      details: { action: 'branch-removed', branch },
    });
    const api = branchesApi({
      listRoutes: jest.fn().mockResolvedValue([]),
      getHistory: jest.fn().mockResolvedValue({
        // The deployments were made 10 minutes ago: "other" was removed
        // after that, "myfeature" before it was deployed again.
        items: [
          removal('staging', 'other', 2),
          removal('dev', 'myfeature', 30),
        ],
      }),
    });
    await renderTab(<FeatureBranchesContent />, { api });
    expect(
      await screen.findByRole('region', { name: 'Branch myfeature in dev' }),
    ).toBeInTheDocument();
    expect(
      screen.queryByRole('region', { name: 'Branch other in staging' }),
    ).not.toBeInTheDocument();
    expect(
      screen.getByText(/No branch deployed in staging/),
    ).toBeInTheDocument();
    expect(api.getHistory).toHaveBeenCalledWith('component:default/cart', {
      kind: 'route-changed',
      limit: 100,
    });
  });
});

describe('timeLeft', () => {
  it('says how long a rule has left in words', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(timeLeft('2026-01-01T07:59:30Z', now)).toBe('8h 00m left');
    expect(timeLeft('2026-01-01T00:12:00Z', now)).toBe('12m left');
    expect(timeLeft('2026-01-03T03:00:00Z', now)).toBe('2d 3h left');
    expect(timeLeft('2025-12-31T23:59:00Z', now)).toBe('expired');
  });
});
