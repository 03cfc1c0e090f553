import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import {
  kubeDeliveryRollbackPermission,
  type HistoryEntry,
  type ReleaseDetail,
} from '@internal/plugin-kube-delivery-common';
import {
  AuthorizeResult,
  backendError,
  denyOnly,
  deployment,
  minutesAgo,
  mockApi,
  release,
  renderTab,
} from '../../__testUtils__/fixtures';
import {
  HISTORY_POLL_INTERVAL_MS,
  ReleaseHistoryContent,
} from './ReleaseHistoryContent';

// Material UI selects and dialogs on two shared cores take seconds.
jest.setTimeout(30_000);

function deployEntry(
  environment: string,
  version: string,
  overrides: Partial<HistoryEntry> = {},
): HistoryEntry {
  const d = deployment(environment, version, {
    startedAt: minutesAgo(10),
    finishedAt: minutesAgo(8.5),
    steps: [
      {
        name: 'Apply manifests',
        status: 'succeeded',
        startedAt: minutesAgo(10),
        finishedAt: minutesAgo(9.5),
      },
      {
        name: 'Wait for rollout',
        status: 'succeeded',
        startedAt: minutesAgo(9.5),
        finishedAt: minutesAgo(8.5),
      },
    ],
  });
  return {
    id: d.id,
    kind: 'deploy',
    environment,
    createdAt: d.createdAt,
    actor: d.createdBy,
    deployment: d,
    ...overrides,
  } as HistoryEntry;
}

const routeEvent = {
  id: 'event-1',
  kind: 'route-changed',
  environment: 'dev',
  createdAt: minutesAgo(5),
  actor: 'user:default/joe',
  message: 'Rule shop_session-id=abc added for myfeature',
  details: {
    branch: 'myfeature',
    hosts: ['a.example', 'b.example'],
    ruleId: 'rule-1',
    entityRef: 'component:default/cart',
    rule: { id: 'rule-1', value: 'abc' },
  },
} as unknown as HistoryEntry;

function detail(version: string, replicas: number): ReleaseDetail {
  return {
    ...release(version),
    settings: {
      image: 'registry.local/cart',
      strategy: 'rolling',
      replicas,
      antiAffinity: 'preferred',
    },
    manifest: 'kind: Deployment\n',
  };
}

describe('ReleaseHistoryContent', () => {
  it('shows the timeline with steps and durations, and pages to older entries', async () => {
    const getHistory = jest
      .fn()
      .mockResolvedValueOnce({
        items: [routeEvent, deployEntry('dev', '0.1.5')],
        nextCursor: '1700000000000:abc',
      })
      .mockResolvedValueOnce({ items: [deployEntry('dev', '0.1.4')] });
    const api = mockApi({ getHistory });
    await renderTab(<ReleaseHistoryContent />, { api });

    const timeline = await screen.findByRole('list', {
      name: 'Release history',
    });
    expect(within(timeline).getByText('Route changed')).toBeInTheDocument();
    expect(within(timeline).getByText('branch: myfeature')).toBeInTheDocument();
    expect(
      within(timeline).getByText('hosts: a.example, b.example'),
    ).toBeInTheDocument();
    // Ids and nested records stay out of the chips.
    expect(
      within(timeline).queryByText(/^(rule|ruleId|entityRef):/),
    ).not.toBeInTheDocument();
    const deployed = within(timeline).getByRole('listitem', {
      name: 'Deployed 0.1.5 in dev',
    });
    expect(within(deployed).getByText(/took 1m 30s/)).toBeInTheDocument();

    await userEvent.click(
      within(deployed).getByRole('button', {
        name: 'Show steps of Deployed 0.1.5 in dev',
      }),
    );
    const steps = within(deployed).getByLabelText(
      'Steps of the deploy of 0.1.5',
    );
    expect(within(steps).getByText('Apply manifests')).toBeInTheDocument();
    expect(within(steps).getByText('succeeded · 30s')).toBeInTheDocument();
    expect(within(steps).getByText('succeeded · 1m 00s')).toBeInTheDocument();

    await userEvent.click(
      screen.getByRole('button', { name: 'Load older entries' }),
    );
    expect(
      await screen.findByRole('listitem', { name: 'Deployed 0.1.4 in dev' }),
    ).toBeInTheDocument();
    expect(getHistory).toHaveBeenLastCalledWith('component:default/cart', {
      environment: undefined,
      kind: undefined,
      limit: 20,
      before: '1700000000000:abc',
    });
    // Entries of the first page stay; the last page offers no more.
    expect(
      screen.getByRole('listitem', { name: 'Deployed 0.1.5 in dev' }),
    ).toBeInTheDocument();
    expect(
      screen.queryByRole('button', { name: 'Load older entries' }),
    ).not.toBeInTheDocument();
  });

  it('filters by environment and kind', async () => {
    const api = mockApi();
    await renderTab(<ReleaseHistoryContent />, { api });
    expect(await screen.findByText('No history yet')).toBeInTheDocument();

    expect(
      screen.getByRole('button', { name: 'Environment' }),
    ).toHaveTextContent('All');
    await userEvent.click(screen.getByRole('button', { name: 'Environment' }));
    await userEvent.click(
      await screen.findByRole('option', { name: 'staging' }),
    );
    await userEvent.click(screen.getByRole('button', { name: 'Kind' }));
    await userEvent.click(
      await screen.findByRole('option', { name: 'Rolled back' }),
    );

    await waitFor(() =>
      expect(api.getHistory).toHaveBeenLastCalledWith(
        'component:default/cart',
        {
          environment: 'staging',
          kind: 'rollback',
          limit: 20,
          before: undefined,
        },
      ),
    );
    expect(
      await screen.findByText('Nothing matches these filters'),
    ).toBeInTheDocument();
  });

  it('compares two releases', async () => {
    const api = mockApi({
      listReleases: jest
        .fn()
        .mockResolvedValue([release('0.1.5', 5), release('0.1.4', 30)]),
      getRelease: jest
        .fn()
        .mockImplementation(async (_ref: string, id: string) =>
          id === 'rel-0.1.5' ? detail('0.1.5', 3) : detail('0.1.4', 2),
        ),
    });
    await renderTab(<ReleaseHistoryContent />, { api });
    const diff = await screen.findByLabelText('Changes from 0.1.4 to 0.1.5');
    expect(
      within(diff).getByText('- replicas: 2', { exact: false }),
    ).toBeInTheDocument();
    expect(
      within(diff).getByText('+ replicas: 3', { exact: false }),
    ).toBeInTheDocument();
    // Long lines wrap and the panel scrolls: nothing is cut at its edge.
    expect(diff).toHaveStyle({ maxWidth: '100%', overflow: 'auto' });
    expect(
      within(diff).getByText('+ replicas: 3', { exact: false }),
    ).toHaveStyle({ whiteSpace: 'pre-wrap', overflowWrap: 'anywhere' });
  });

  it('redeploys an earlier release as a rollback, after showing the diff', async () => {
    const api = mockApi({
      getHistory: jest
        .fn()
        .mockResolvedValue({ items: [deployEntry('dev', '0.1.4')] }),
      listReleases: jest
        .fn()
        .mockResolvedValue([release('0.1.5', 5), release('0.1.4', 30)]),
      getStatus: jest.fn().mockResolvedValue([
        {
          environment: 'dev',
          namespace: 'cart-dev',
          current: deployment('dev', '0.1.5'),
          active: [],
        },
      ]),
      getRelease: jest
        .fn()
        .mockImplementation(async (_ref: string, id: string) =>
          id === 'rel-0.1.5' ? detail('0.1.5', 3) : detail('0.1.4', 2),
        ),
      rollback: jest
        .fn()
        .mockResolvedValue(
          deployment('dev', '0.1.4', { kind: 'rollback', status: 'queued' }),
        ),
    });
    await renderTab(<ReleaseHistoryContent />, { api });
    await userEvent.click(
      await screen.findByRole('button', { name: 'Redeploy 0.1.4 to dev' }),
    );
    const dialog = await screen.findByRole('dialog');
    expect(
      await within(dialog).findByLabelText('Changes from 0.1.5 to 0.1.4'),
    ).toBeInTheDocument();
    await userEvent.click(
      within(dialog).getByRole('button', { name: 'Roll back dev to 0.1.4' }),
    );
    expect(api.rollback).toHaveBeenCalledWith('component:default/cart', {
      environment: 'dev',
      releaseId: 'rel-0.1.4',
    });
    expect(
      await screen.findByText(/Redeploy of 0.1.4 to dev started/),
    ).toBeInTheDocument();
  });

  it('follows a running deployment: reads the newest page again until it has finished, then stops', async () => {
    const runningDeploy = deployEntry('dev', '0.1.6', {
      deployment: deployment('dev', '0.1.6', {
        status: 'running',
        finishedAt: undefined,
      }),
    });
    const finishedDeploy = deployEntry('dev', '0.1.6');
    const older = deployEntry('dev', '0.1.5');
    const getHistory = jest
      .fn()
      .mockResolvedValueOnce({ items: [runningDeploy, older] })
      .mockResolvedValue({ items: [routeEvent, finishedDeploy, older] });
    await renderTab(<ReleaseHistoryContent />, {
      api: mockApi({ getHistory }),
    });

    const item = await screen.findByRole('listitem', {
      name: 'Deployed 0.1.6 in dev',
    });
    expect(within(item).getByText('running')).toBeInTheDocument();
    // One poll later: the deployment has finished and a newer event is on top.
    expect(
      await screen.findByText('Route changed', undefined, { timeout: 10_000 }),
    ).toBeInTheDocument();
    const timeline = screen.getByRole('list', { name: 'Release history' });
    expect(
      within(timeline)
        .getAllByRole('listitem')
        .map(li => li.getAttribute('aria-label')),
    ).toEqual([
      'Route changed in dev',
      'Deployed 0.1.6 in dev',
      'Deployed 0.1.5 in dev',
    ]);
    expect(
      within(
        screen.getByRole('listitem', { name: 'Deployed 0.1.6 in dev' }),
      ).getByText('succeeded'),
    ).toBeInTheDocument();
    // Nothing runs any more: no further reads.
    const reads = getHistory.mock.calls.length;
    await new Promise(resolve =>
      setTimeout(resolve, HISTORY_POLL_INTERVAL_MS + 500),
    );
    expect(getHistory.mock.calls.length).toBe(reads);
  });

  it('offers no Redeploy to users the policy does not allow to roll back', async () => {
    const api = mockApi({
      getHistory: jest
        .fn()
        .mockResolvedValue({ items: [deployEntry('dev', '0.1.4')] }),
    });
    await renderTab(<ReleaseHistoryContent />, {
      api,
      authorize: denyOnly(kubeDeliveryRollbackPermission.name),
      name: 'cart-history-readonly',
    });
    expect(
      await screen.findByRole('listitem', { name: 'Deployed 0.1.4 in dev' }),
    ).toBeInTheDocument();
    expect(
      screen.queryByRole('button', { name: /Redeploy/ }),
    ).not.toBeInTheDocument();
  });

  it('offers Redeploy only in the environments where the policy allows rolling back', async () => {
    const api = mockApi({
      getHistory: jest.fn().mockResolvedValue({
        items: [
          deployEntry('production', '0.1.4'),
          deployEntry('dev', '0.1.4'),
        ],
      }),
    });
    await renderTab(<ReleaseHistoryContent />, {
      api,
      authorize: request =>
        request.resourceRef === 'dev:component:default/cart-history-dev-only'
          ? AuthorizeResult.ALLOW
          : AuthorizeResult.DENY,
      name: 'cart-history-dev-only',
    });
    const dev = await screen.findByRole('listitem', {
      name: 'Deployed 0.1.4 in dev',
    });
    expect(
      await within(dev).findByRole('button', { name: /Redeploy/ }),
    ).toBeInTheDocument();
    const production = screen.getByRole('listitem', {
      name: 'Deployed 0.1.4 in production',
    });
    expect(
      within(production).queryByRole('button', { name: /Redeploy/ }),
    ).not.toBeInTheDocument();
  });

  it("shows the backend's reason when reading is refused, and tries again", async () => {
    const reason =
      "You may not kube-delivery.read on component:default/cart; ask the entity's owners or your platform team";
    const getHistory = jest
      .fn()
      .mockImplementationOnce(async () => {
        throw await backendError(403, 'NotAllowedError', reason);
      })
      .mockResolvedValueOnce({ items: [routeEvent] });
    await renderTab(<ReleaseHistoryContent />, {
      api: mockApi({ getHistory }),
    });
    expect(
      (await screen.findAllByText(new RegExp(reason.slice(0, 40)))).length,
    ).toBeGreaterThan(0);
    await userEvent.click(screen.getByRole('button', { name: 'Try again' }));
    expect(await screen.findByText('Route changed')).toBeInTheDocument();
  });
});
