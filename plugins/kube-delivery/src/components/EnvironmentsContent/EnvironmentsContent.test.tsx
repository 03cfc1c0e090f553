import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import type {
  EnvironmentStatus,
  ReleaseDetail,
} from '@internal/plugin-kube-delivery-common';
import {
  kubeDeliveryCertificatePermission,
  kubeDeliveryRollbackPermission,
} from '@internal/plugin-kube-delivery-common';
import type { KubeDeliveryApi } from '../../api';
import {
  certificate,
  certificatesApi,
  withGateway,
} from '../../__testUtils__/certificates';
import {
  AuthorizeResult,
  backendError,
  denyOnly,
  deployment,
  minutesAgo,
  mockApi as baseMockApi,
  release,
  renderTab,
  rollout,
} from '../../__testUtils__/fixtures';
import { EnvironmentsContent } from './EnvironmentsContent';

// Material UI dialogs on two shared cores take seconds, not milliseconds.
jest.setTimeout(30_000);

const statuses: EnvironmentStatus[] = [
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

function mockApi(overrides: Partial<KubeDeliveryApi> = {}): KubeDeliveryApi {
  return baseMockApi({
    getStatus: jest.fn().mockResolvedValue(statuses),
    ...overrides,
  });
}

function renderContent(
  api: KubeDeliveryApi,
  authorize: Parameters<
    typeof renderTab
  >[1]['authorize'] = AuthorizeResult.ALLOW,
  name = 'cart',
) {
  return renderTab(<EnvironmentsContent />, { api, authorize, name });
}

const conflict = (message: string) =>
  backendError(409, 'ConflictError', message);

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
      await screen.findByRole('button', {
        name: 'Promote from dev to staging',
      }),
    ).toBeInTheDocument();
    expect(
      screen.queryByRole('button', { name: /Promote from .* to dev/ }),
    ).not.toBeInTheDocument();
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

  it('says what a first deploy is deploying, not "Unknown version"', async () => {
    const first = deployment('staging', '0.1.3', {
      status: 'running',
      finishedAt: undefined,
      startedAt: minutesAgo(1),
    });
    await renderContent(
      mockApi({
        getStatus: jest.fn().mockResolvedValue(
          statuses.map(s =>
            s.environment === 'staging'
              ? { ...s, current: undefined, active: [first], rollout: rollout(0, 2) }
              : s,
          ),
        ),
      }),
    );
    const staging = await screen.findByRole('region', {
      name: 'Environment staging',
    });
    expect(within(staging).getByText('Deploying 0.1.3')).toBeInTheDocument();
    expect(
      within(staging).getByText(/First deployment to staging, started by user:default\/jane/),
    ).toBeInTheDocument();
    expect(within(staging).queryByText('Unknown version')).toBeNull();
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

  it('asks the policy per environment: deploys to dev, not to production', async () => {
    const asked: Array<string | undefined> = [];
    await renderContent(
      mockApi(),
      request => {
        asked.push(request.resourceRef);
        // A policy that lets the user act on the service in dev and staging only.
        return request.resourceRef?.startsWith('production:')
          ? AuthorizeResult.DENY
          : AuthorizeResult.ALLOW;
      },
      'cart-per-environment',
    );
    expect(
      await screen.findByRole('button', { name: 'Deploy to dev' }),
    ).toBeInTheDocument();
    expect(
      screen.getByRole('button', { name: 'Roll back staging' }),
    ).toBeInTheDocument();
    const production = screen.getByRole('region', {
      name: 'Environment production',
    });
    expect(
      within(production).queryAllByRole('button', {
        name: /^(Deploy|Promote|Roll back|Restart)/,
      }),
    ).toEqual([]);
    // The health check is anyone's.
    expect(
      within(production).getByRole('button', {
        name: 'Check the health of production now',
      }),
    ).toBeInTheDocument();
    expect(asked).toEqual(
      expect.arrayContaining([
        'dev:component:default/cart-per-environment',
        'production:component:default/cart-per-environment',
        // Certificates: the environment alone.
        'production',
      ]),
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

function detail(version: string, adsPerPage: string): ReleaseDetail {
  return {
    ...release(version),
    settings: {
      image: 'registry.local/cart',
      strategy: 'rolling',
      replicas: 2,
      antiAffinity: 'preferred',
    },
    manifest: `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cart\ndata:\n  ADS_PER_PAGE: "${adsPerPage}"\n`,
  };
}

describe('EnvironmentsContent: rollback, health and HTTPS', () => {
  it('rolls back to an earlier release after showing the manifest diff', async () => {
    const details: Record<string, ReleaseDetail> = {
      'rel-0.1.4': detail('0.1.4', '5'),
      'rel-0.1.3': detail('0.1.3', '2'),
    };
    const api = mockApi({
      listReleases: jest
        .fn()
        .mockResolvedValue([
          release('0.1.5', 5),
          release('0.1.4', 30),
          release('0.1.3', 60),
        ]),
      getRelease: jest.fn().mockImplementation(async (_ref, id) => details[id]),
      rollback: jest
        .fn()
        .mockResolvedValue(
          deployment('dev', '0.1.3', { kind: 'rollback', status: 'queued' }),
        ),
    });
    await renderContent(api);

    await userEvent.click(
      await screen.findByRole('button', { name: 'Roll back dev' }),
    );
    const diff = await screen.findByLabelText('Changes from 0.1.4 to 0.1.3');
    expect(diff).toHaveTextContent('- # release 0.1.4');
    expect(
      within(diff).getByText('- ADS_PER_PAGE: "5"', { exact: false }),
    ).toBeInTheDocument();
    expect(
      within(diff).getByText('+ ADS_PER_PAGE: "2"', { exact: false }),
    ).toBeInTheDocument();
    // Long lines wrap within the dialog instead of being cut at its edge.
    expect(diff).toHaveStyle({ maxWidth: '100%', overflow: 'auto' });
    expect(
      within(diff).getByText('+ ADS_PER_PAGE: "2"', { exact: false }),
    ).toHaveStyle({ whiteSpace: 'pre-wrap', overflowWrap: 'anywhere' });
    // The running release is not offered.
    expect(api.getRelease).toHaveBeenCalledWith(
      'component:default/cart',
      'rel-0.1.4',
    );

    await userEvent.click(
      screen.getByRole('button', { name: 'Roll back dev to 0.1.3' }),
    );
    expect(api.rollback).toHaveBeenCalledWith('component:default/cart', {
      environment: 'dev',
      releaseId: 'rel-0.1.3',
    });
    expect(
      await screen.findByText('Rollback of 0.1.3 to dev started.'),
    ).toBeInTheDocument();
  });

  it('offers no Roll back to users the policy does not allow to roll back', async () => {
    await renderContent(
      mockApi(),
      denyOnly(kubeDeliveryRollbackPermission.name),
      'cart-no-rollback',
    );
    expect(
      await screen.findByRole('button', { name: 'Deploy to dev' }),
    ).toBeInTheDocument();
    expect(
      screen.queryByRole('button', { name: /^Roll back/ }),
    ).not.toBeInTheDocument();
  });

  it('shows health findings with what to do about them', async () => {
    const api = mockApi({
      getEnvironmentHealth: jest
        .fn()
        .mockImplementation(async (name: string) => ({
          environment: name,
          status: name === 'staging' ? 'warning' : 'ok',
          checkedAt: minutesAgo(1),
          findings:
            name === 'staging'
              ? [
                  {
                    check: 'sidecar-injection',
                    status: 'warning',
                    message:
                      'Namespace cart-staging has no istio-injection label',
                    action:
                      'kubectl label namespace cart-staging istio-injection=enabled',
                  },
                ]
              : [
                  {
                    check: 'cluster',
                    status: 'ok',
                    message: 'answers',
                    action: '',
                  },
                ],
        })),
    });
    await renderContent(api);
    const staging = await screen.findByRole('region', {
      name: 'Environment staging',
    });
    expect(
      await within(staging).findByText(/has no istio-injection label/),
    ).toBeInTheDocument();
    expect(
      within(staging).getByText(
        'What to do: kubectl label namespace cart-staging istio-injection=enabled',
      ),
    ).toBeInTheDocument();
    const dev = screen.getByRole('region', { name: 'Environment dev' });
    expect(
      await within(dev).findByText(/Environment healthy/),
    ).toBeInTheDocument();

    // Fixed it: check again now instead of waiting for the schedule.
    (api.checkEnvironmentHealth as jest.Mock).mockResolvedValue({
      environment: 'staging',
      status: 'ok',
      checkedAt: new Date().toISOString(),
      findings: [
        { check: 'sidecar-injection', status: 'ok', message: 'on', action: '' },
      ],
    });
    await userEvent.click(
      within(staging).getByRole('button', {
        name: 'Check the health of staging now',
      }),
    );
    expect(
      await within(staging).findByText(/Environment healthy/),
    ).toBeInTheDocument();
    expect(
      within(staging).queryByText(/has no istio-injection label/),
    ).not.toBeInTheDocument();
    expect(api.checkEnvironmentHealth).toHaveBeenCalledWith('staging');
  });

  it("shows the gateway's certificate with a warning near expiry", async () => {
    const api = mockApi({
      listEnvironments: jest.fn().mockResolvedValue(withGateway),
      listCertificates: certificatesApi([certificate()]),
    });
    await renderContent(api);
    const https = await screen.findByRole('region', {
      name: 'HTTPS of production',
    });
    expect(
      await within(https).findByLabelText(
        'Certificate of production: 12 days to expiry',
      ),
    ).toBeInTheDocument();
    expect(within(https).getByText('CN=shop.example')).toBeInTheDocument();
    expect(
      within(https).getByText('shop.example, www.shop.example'),
    ).toBeInTheDocument();
    expect(within(https).getByText('CN=Boutique Test CA')).toBeInTheDocument();
    expect(within(https).getByText(/Expires soon/)).toBeInTheDocument();
    // Environments without a gateway show no HTTPS section.
    expect(
      screen.queryByRole('region', { name: 'HTTPS of dev' }),
    ).not.toBeInTheDocument();
  });

  it('shows a fresh gateway without a certificate as a neutral state with the next step, once', async () => {
    const api = mockApi({
      listEnvironments: jest.fn().mockResolvedValue(withGateway),
      listCertificates: certificatesApi([], {
        serving: false,
        servingMessage: 'No certificate yet: upload one.',
      }),
    });
    await renderContent(api);
    const https = await screen.findByRole('region', {
      name: 'HTTPS of production',
    });
    const state = await within(https).findByTestId('no-certificate');
    expect(state).toHaveTextContent(
      'No certificate yet: the gateway serves no HTTPS for these hosts. Upload one (PEM or PKCS#12).',
    );
    // A state, not an error: no red box, and the sentence only once.
    expect(state.className).toMatch(/standardInfo/);
    expect(https.querySelector('.MuiAlert-standardError')).toBeNull();
    expect(within(https).queryByText(/does not serve HTTPS/)).toBeNull();
    expect(within(https).getAllByText(/No certificate yet/)).toHaveLength(1);
  });

  it("uploads a PEM certificate and shows the backend's reason when it is refused", async () => {
    const reason =
      'The certificate does not cover shop.example; its SANs are other.example';
    const uploadCertificate = jest
      .fn()
      .mockImplementationOnce(async () => {
        throw await backendError(400, 'InputError', reason);
      })
      .mockResolvedValueOnce({
        certificate: certificate({ status: 'ok', daysToExpiry: 90 }),
        warnings: ['The certificate is self-signed.'],
      });
    const api = mockApi({
      listEnvironments: jest.fn().mockResolvedValue(withGateway),
      listCertificates: certificatesApi([]),
      uploadCertificate,
    });
    await renderContent(api);
    const https = await screen.findByRole('region', {
      name: 'HTTPS of production',
    });
    expect(
      await within(https).findByText(/No certificate yet/),
    ).toBeInTheDocument();

    await userEvent.click(
      await within(https).findByRole('button', {
        name: 'Upload certificate for production',
      }),
    );
    const dialog = await screen.findByRole('dialog');
    const upload = within(dialog).getByRole('button', {
      name: 'Upload the certificate to production',
    });
    expect(upload).toBeDisabled();
    await userEvent.click(
      within(dialog).getByLabelText('Certificate chain (PEM, leaf first)'),
    );
    await userEvent.paste('-----BEGIN CERTIFICATE-----');
    await userEvent.click(within(dialog).getByLabelText('Private key (PEM)'));
    await userEvent.paste('-----BEGIN PRIVATE KEY-----');
    await userEvent.click(upload);
    expect(uploadCertificate).toHaveBeenCalledWith('production', {
      format: 'pem',
      certificateChain: '-----BEGIN CERTIFICATE-----',
      privateKey: '-----BEGIN PRIVATE KEY-----',
    });
    expect(await within(dialog).findByText(reason)).toBeInTheDocument();

    await userEvent.click(upload);
    await waitFor(() =>
      expect(screen.queryByRole('dialog')).not.toBeInTheDocument(),
    );
    expect(
      await screen.findByText(
        /installed on the gateway\. The certificate is self-signed\./,
      ),
    ).toBeInTheDocument();
  });

  it('switches the gateway to the configured cert-manager issuer', async () => {
    const reason = 'cert-manager is not installed in the cluster of production';
    const useCertManager = jest
      .fn()
      .mockImplementationOnce(async () => {
        throw await backendError(409, 'ConflictError', reason);
      })
      .mockResolvedValueOnce({
        certificate: certificate({ source: 'cert-manager', status: 'pending' }),
        warnings: [],
      });
    const api = mockApi({
      listEnvironments: jest.fn().mockResolvedValue(withGateway),
      listCertificates: certificatesApi([], {
        certManagerIssuer: {
          kind: 'ClusterIssuer',
          name: 'letsencrypt',
          group: 'cert-manager.io',
        },
      }),
      useCertManager,
    });
    await renderContent(api);
    const https = await screen.findByRole('region', {
      name: 'HTTPS of production',
    });
    const button = await within(https).findByRole('button', {
      name: 'Use cert-manager for production',
    });
    expect(button).toHaveTextContent('ClusterIssuer/letsencrypt');
    await userEvent.click(button);
    expect(await within(https).findByText(reason)).toBeInTheDocument();
    await userEvent.click(button);
    expect(
      await within(https).findByText(
        'cert-manager now issues the certificate for shop.example.',
      ),
    ).toBeInTheDocument();
    expect(useCertManager).toHaveBeenCalledWith('production');
  });

  it('offers cert-manager only where an issuer is configured, and not while it is in use', async () => {
    const letsencrypt = {
      kind: 'ClusterIssuer',
      name: 'letsencrypt',
      group: 'cert-manager.io',
    };
    const cases = [
      // No issuer configured for the environment.
      { items: [], gateway: {}, offered: false },
      { items: [], gateway: { certManagerIssuer: letsencrypt }, offered: true },
      // cert-manager already issues the certificate.
      {
        items: [certificate({ source: 'cert-manager', status: 'ok', daysToExpiry: 60 })],
        gateway: { certManagerIssuer: letsencrypt },
        offered: false,
      },
      // An uploaded certificate may be replaced by cert-manager.
      {
        items: [certificate({ status: 'ok', daysToExpiry: 60 })],
        gateway: { certManagerIssuer: letsencrypt },
        offered: true,
      },
    ];
    for (const { items, gateway, offered } of cases) {
      const api = mockApi({
        listEnvironments: jest.fn().mockResolvedValue(withGateway),
        listCertificates: certificatesApi(items, gateway),
      });
      const { unmount } = await renderContent(api);
      const https = await screen.findByRole('region', {
        name: 'HTTPS of production',
      });
      // Loaded: the certificate, or the state without one.
      await within(https).findByText(
        items.length ? 'CN=shop.example' : /No certificate yet/,
      );
      await within(https).findByRole('button', {
        name: 'Upload certificate for production',
      });
      expect(
        within(https).queryAllByRole('button', { name: /Use cert-manager/ }),
      ).toHaveLength(offered ? 1 : 0);
      // The next step without a certificate names cert-manager only when offered.
      expect(
        within(https).queryAllByText(/let cert-manager issue it/),
      ).toHaveLength(offered && items.length === 0 ? 1 : 0);
      unmount();
    }
  });

  it('hides the upload from users the policy does not allow to change certificates', async () => {
    const api = mockApi({
      listEnvironments: jest.fn().mockResolvedValue(withGateway),
      listCertificates: certificatesApi([
        certificate({ status: 'ok', daysToExpiry: 80 }),
      ]),
    });
    await renderTab(<EnvironmentsContent />, {
      api,
      authorize: denyOnly(kubeDeliveryCertificatePermission.name),
    });
    const https = await screen.findByRole('region', {
      name: 'HTTPS of production',
    });
    expect(
      await within(https).findByText('CN=shop.example'),
    ).toBeInTheDocument();
    expect(
      within(https).queryByRole('button', { name: /Upload certificate/ }),
    ).not.toBeInTheDocument();
    expect(
      within(https).queryByRole('button', { name: /Use cert-manager/ }),
    ).not.toBeInTheDocument();
  });
});

describe('a rollout that does not progress', () => {
  const problem =
    'Pod cart-7d9-x: container cart is waiting: ImagePullBackOff: Back-off pulling image "registry.local/cart:0.1.5"';
  const stuck: EnvironmentStatus[] = [
    {
      ...statuses[0],
      rollout: {
        ...rollout(1, 2),
        complete: false,
        message: `1 of 2 updated replicas are available. ${problem}`,
        problems: [problem],
      },
    },
  ];

  it('says why on the card and links to the Kubernetes tab of the same entity', async () => {
    await renderTab(<EnvironmentsContent />, {
      api: mockApi({ getStatus: jest.fn().mockResolvedValue(stuck) }),
      annotations: { 'backstage.io/kubernetes-id': 'cart' },
    });
    const dev = await screen.findByRole('region', { name: 'Environment dev' });
    expect(
      within(dev).getByText(/ImagePullBackOff: Back-off pulling image/),
    ).toBeInTheDocument();
    expect(
      within(dev).getByRole('link', { name: 'Kubernetes tab' }),
    ).toHaveAttribute('href', '/catalog/default/component/cart/kubernetes');
  });

  it('offers no Kubernetes tab for an entity the Kubernetes plugin does not show', async () => {
    await renderTab(<EnvironmentsContent />, {
      api: mockApi({ getStatus: jest.fn().mockResolvedValue(stuck) }),
    });
    const dev = await screen.findByRole('region', { name: 'Environment dev' });
    expect(within(dev).getByText(/ImagePullBackOff/)).toBeInTheDocument();
    expect(
      within(dev).queryByRole('link', { name: 'Kubernetes tab' }),
    ).toBeNull();
  });

  it('says since when a cluster is unreachable, on its card only', async () => {
    const since = minutesAgo(4);
    const message =
      'The Kubernetes API server of environment "production" at https://prod.example:6443 did not answer: GET /apis/apps/v1/namespaces/cart-prod/deployments/cart did not answer within 5000 ms';
    await renderContent(
      mockApi({
        getStatus: jest.fn().mockResolvedValue(
          statuses.map(s =>
            s.environment === 'production'
              ? { ...s, rollout: undefined, rolloutError: message, unreachable: { since, message } }
              : s,
          ),
        ),
      }),
    );
    const production = await screen.findByRole('region', {
      name: 'Environment production',
    });
    const alert = within(production).getByTestId('cluster-unreachable');
    expect(alert).toHaveTextContent(
      `The cluster of production is unreachable since ${new Date(since).toLocaleString()} (4 minutes ago): ${message}`,
    );
    // Said once, not again as "Live state unavailable".
    expect(within(production).queryByText(/Live state unavailable/)).toBeNull();
    const dev = screen.getByRole('region', { name: 'Environment dev' });
    expect(within(dev).queryByTestId('cluster-unreachable')).toBeNull();
  });
});
