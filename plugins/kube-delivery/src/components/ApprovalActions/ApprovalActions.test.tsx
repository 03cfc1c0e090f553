import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import {
  kubeDeliveryApprovePermission,
  type Deployment,
  type HistoryEntry,
} from '@internal/plugin-kube-delivery-common';
import {
  AuthorizeResult,
  backendError,
  deployment,
  environments,
  minutesAgo,
  mockApi,
  renderTab,
  type PermissionRequest,
} from '../../__testUtils__/fixtures';
import { EnvironmentsContent } from '../EnvironmentsContent';
import { ReleaseHistoryContent } from '../ReleaseHistoryContent';
import { ApprovalActions } from './ApprovalActions';

// Material UI dialogs on two shared cores take seconds.
jest.setTimeout(30_000);

const REQUESTER = 'user:default/jane';
const APPROVER = 'user:default/sre';
const inTwoHours = new Date(Date.now() + 120 * 60_000).toISOString();

const waiting: Deployment = deployment('production', '0.1.5', {
  id: '5f0c1f5e-0000-4000-8000-000000000001',
  status: 'waiting-approval',
  createdBy: REQUESTER,
  createdAt: minutesAgo(5),
  finishedAt: undefined,
  message: 'Deployment of 0.1.5 to production waits for approval',
  approval: { state: 'waiting', expiresAt: inTwoHours },
});

/** The policy: the approve permission is granted on production only to the listed users' sessions. */
function approvers(allowed: boolean) {
  const asked: PermissionRequest[] = [];
  const authorize = (request: PermissionRequest) => {
    asked.push(request);
    if (request.permission.name !== kubeDeliveryApprovePermission.name) {
      return AuthorizeResult.ALLOW;
    }
    return allowed ? AuthorizeResult.ALLOW : AuthorizeResult.DENY;
  };
  return { asked, authorize };
}

function renderActions(options: {
  user: string;
  allowed: boolean;
  api?: ReturnType<typeof mockApi>;
}) {
  const api = options.api ?? mockApi();
  const onDecided = jest.fn();
  const policy = approvers(options.allowed);
  const rendered = renderTab(
    <ApprovalActions
      entityRef="component:default/cart"
      deployment={waiting}
      onDecided={onDecided}
    />,
    { api, authorize: policy.authorize, user: options.user },
  );
  return { api, onDecided, asked: policy.asked, rendered };
}

const group = () =>
  screen.findByRole('group', {
    name: 'Approval of the Deployment of 0.1.5 to production',
  });

describe('ApprovalActions', () => {
  it('lets another approver approve: the request, its requester and expiry are shown', async () => {
    const approveDeployment = jest
      .fn()
      .mockResolvedValue({ ...waiting, status: 'queued' });
    const { onDecided, asked } = renderActions({
      user: APPROVER,
      allowed: true,
      api: mockApi({ approveDeployment }),
    });
    const box = await group();
    expect(within(box).getByText('Waiting for approval')).toBeInTheDocument();
    expect(
      within(box).getByText(
        new RegExp(
          `Deployment of 0.1.5 to production, requested by ${REQUESTER} 5 minutes ago. It expires in 2 hours`,
        ),
      ),
    ).toBeInTheDocument();
    const approve = await within(box).findByRole('button', {
      name: 'Approve the Deployment of 0.1.5 to production',
    });
    await waitFor(() => expect(approve).toBeEnabled());
    await userEvent.click(approve);

    expect(approveDeployment).toHaveBeenCalledWith(
      'component:default/cart',
      waiting.id,
    );
    await waitFor(() =>
      expect(onDecided).toHaveBeenCalledWith(
        'Deployment of 0.1.5 to production approved: it runs now.',
      ),
    );
    // The permission is asked of the target: the service in production.
    expect(asked).toContainEqual(
      expect.objectContaining({
        permission: expect.objectContaining({
          name: 'kube-delivery.deployment.approve',
        }),
        resourceRef: 'production:component:default/cart',
      }),
    );
  });

  it("disables the requester's own Approve and lets them reject with a reason", async () => {
    const rejectDeployment = jest
      .fn()
      .mockResolvedValue({ ...waiting, status: 'rejected' });
    const { onDecided } = renderActions({
      user: REQUESTER,
      allowed: true,
      api: mockApi({ rejectDeployment }),
    });
    const box = await group();
    expect(
      await within(box).findByText(
        'You requested it: another approver must approve it. You may reject it.',
      ),
    ).toBeInTheDocument();
    expect(
      within(box).getByRole('button', {
        name: 'Approve the Deployment of 0.1.5 to production',
      }),
    ).toBeDisabled();

    await userEvent.click(
      within(box).getByRole('button', {
        name: 'Reject the Deployment of 0.1.5 to production',
      }),
    );
    const dialog = await screen.findByRole('dialog', {
      name: 'Reject the Deployment of 0.1.5 to production',
    });
    const confirm = within(dialog).getByRole('button', { name: 'Reject' });
    expect(confirm).toBeDisabled();
    await userEvent.type(
      within(dialog).getByRole('textbox', { name: /Reason/ }),
      'Wrong version',
    );
    await userEvent.click(confirm);
    expect(rejectDeployment).toHaveBeenCalledWith(
      'component:default/cart',
      waiting.id,
      'Wrong version',
    );
    await waitFor(() =>
      expect(onDecided).toHaveBeenCalledWith(
        'Deployment of 0.1.5 to production rejected.',
      ),
    );
  });

  it('shows no buttons to users who may not approve', async () => {
    renderActions({ user: APPROVER, allowed: false });
    const box = await group();
    expect(
      await within(box).findByText(
        'An approver of production must approve it.',
      ),
    ).toBeInTheDocument();
    expect(within(box).queryByRole('button')).not.toBeInTheDocument();
  });

  it("shows the backend's reason when it refuses", async () => {
    const approveDeployment = jest
      .fn()
      .mockRejectedValue(
        await backendError(
          409,
          'ConflictError',
          'Deployment of 0.1.5 to production expired at 2026-01-01T00:00:00.000Z: nobody approved it in time; request it again',
        ),
      );
    const { onDecided } = renderActions({
      user: APPROVER,
      allowed: true,
      api: mockApi({ approveDeployment }),
    });
    const box = await group();
    const approve = within(box).getByRole('button', {
      name: 'Approve the Deployment of 0.1.5 to production',
    });
    await waitFor(() => expect(approve).toBeEnabled());
    await userEvent.click(approve);
    expect(
      await within(box).findByText(/expired at .*: nobody approved it in time/),
    ).toBeInTheDocument();
    expect(onDecided).not.toHaveBeenCalled();
  });

  it('appears on the Environments tab in the protected environment the deployment waits for', async () => {
    const approveDeployment = jest
      .fn()
      .mockResolvedValue({ ...waiting, status: 'queued' });
    const getStatus = jest.fn().mockResolvedValue(
      environments.map(e => ({
        environment: e.name,
        namespace: e.namespace,
        active: e.name === 'production' ? [waiting] : [],
      })),
    );
    const api = mockApi({ getStatus, approveDeployment });
    await renderTab(<EnvironmentsContent />, {
      api,
      authorize: AuthorizeResult.ALLOW,
      user: APPROVER,
    });
    const production = await screen.findByRole('region', {
      name: 'Environment production',
    });
    // Waiting changes nothing yet: production is still not deployed.
    expect(
      within(production).getByText(/Not deployed yet/),
    ).toBeInTheDocument();
    const approve = await within(production).findByRole('button', {
      name: 'Approve the Deployment of 0.1.5 to production',
    });
    await waitFor(() => expect(approve).toBeEnabled());
    await userEvent.click(approve);
    expect(approveDeployment).toHaveBeenCalledWith(
      'component:default/cart',
      waiting.id,
    );
    // The card says what happened and reads the status again.
    expect(
      await within(production).findByText(
        'Deployment of 0.1.5 to production approved: it runs now.',
      ),
    ).toBeInTheDocument();
    await waitFor(() => expect(getStatus).toHaveBeenCalledTimes(2));
  });

  it('appears on the Release history tab beside the approval events', async () => {
    const entry = (
      kind: HistoryEntry['kind'],
      actor: string,
      message: string,
      minutes: number,
    ): HistoryEntry => ({
      id: `${kind}-${minutes}`,
      kind,
      environment: 'production',
      createdAt: minutesAgo(minutes),
      actor,
      message,
      details: { deploymentId: waiting.id, version: '0.1.5' },
    }) as HistoryEntry;
    const getHistory = jest.fn().mockResolvedValue({
      items: [
        {
          id: waiting.id,
          kind: 'deploy',
          environment: 'production',
          createdAt: waiting.createdAt,
          actor: REQUESTER,
          message: waiting.message,
          deployment: waiting,
        },
        entry(
          'approval-requested',
          REQUESTER,
          'Deployment of 0.1.5 to production waits for approval',
          5,
        ),
        entry(
          'approval-rejected',
          APPROVER,
          'Deployment of 0.1.4 to production rejected by user:default/sre: freeze',
          50,
        ),
      ],
    });
    await renderTab(<ReleaseHistoryContent />, {
      api: mockApi({ getHistory }),
      user: APPROVER,
    });
    const timeline = await screen.findByRole('list', {
      name: 'Release history',
    });
    const deployed = within(timeline).getByRole('listitem', {
      name: 'Deployed 0.1.5 in production',
    });
    expect(within(deployed).getByText('waiting-approval')).toBeInTheDocument();
    expect(
      await within(deployed).findByRole('button', {
        name: 'Approve the Deployment of 0.1.5 to production',
      }),
    ).toBeInTheDocument();
    const requested = within(timeline).getByRole('listitem', {
      name: 'Approval requested in production',
    });
    expect(
      within(requested).getByText(new RegExp(`by ${REQUESTER}`)),
    ).toBeInTheDocument();
    const rejected = within(timeline).getByRole('listitem', {
      name: 'Rejected in production',
    });
    expect(
      within(rejected).getByText(/rejected by user:default\/sre: freeze/),
    ).toBeInTheDocument();
    expect(within(rejected).getByText('version: 0.1.5')).toBeInTheDocument();
  });
});
