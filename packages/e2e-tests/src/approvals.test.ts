import type { Browser, Locator, Page } from 'playwright-core';
import {
  entityTabUrl,
  openTab,
  saveScreenshot,
  signedInPage,
  waitForEntity,
  waitForText,
} from './app';
import { startE2eBackend, type E2eBackend } from './backend';
import { launchChromium } from './chromium';
import { readObject } from './cluster';
import { poll } from './poll';
import { deployThroughApi } from './seed';
import { createE2eService } from './service';

jest.setTimeout(600_000);

/** The demo's platform admin (packages/backend's policy): may approve, never their own request. */
const ADMIN = 'user:default/admin';
/** How long a request waits for approval in this run. */
const EXPIRY_SECONDS = 30;

interface DeploymentAnswer {
  id: string;
  status: string;
  kind: string;
  version: string;
  createdBy: string;
  message?: string;
}

interface HistoryAnswer {
  items: Array<{
    kind: string;
    actor: string;
    createdAt: string;
    message?: string;
    details?: Record<string, unknown>;
  }>;
}

/**
 * Approvals for protected environments in Chromium against the real app and
 * backend (packages/backend with its demo policy): the user signed in is the
 * demo's admin; CI (the static token, granted production here) requests
 * deploys into production, as a pipeline would.
 */
describe('approvals for production in Chromium', () => {
  const service = createE2eService('e2e-appr');
  let backend: E2eBackend;
  let browser: Browser | undefined;
  let page: Page;

  const card = (environment: string): Locator =>
    page.getByRole('region', { name: `Environment ${environment}` });
  const approval = (what: string) =>
    page.getByRole('group', { name: `Approval of the ${what}` });
  /** What CI asks for, with its token. */
  const ci = <T>(method: string, apiPath: string, body?: unknown) =>
    backend.request<T>(method, `${service.apiPath}${apiPath}`, body);
  const productionDeployment = () =>
    readObject('production', 'deployment', service.name);

  beforeAll(async () => {
    browser = await launchChromium();
    backend = await startE2eBackend({
      catalogFile: service.catalogFile,
      signInAs: ADMIN,
      // Kube Delivery reads the entity from the catalog with the caller's
      // credentials, which the shipped CI token's restriction to
      // kube-delivery refuses (403 "Access to target plugin 'catalog'…").
      ciTokenPlugins: ['kube-delivery', 'catalog'],
      kubeDelivery: {
        approvals: { expiryMinutes: EXPIRY_SECONDS / 60 },
        servicePrincipals: [
          {
            subject: 'ci',
            permissions: [
              'kube-delivery.read',
              'kube-delivery.release.create',
              'kube-delivery.deployment.create',
            ],
          },
        ],
      },
    });
    await waitForEntity(backend, service.name);
    // 0.1.0 and then 0.2.0 succeeded in dev and test, so either may enter production.
    await ci('POST', '/releases', { version: '0.1.0' });
    service.setGreeting('hello again');
    await ci('POST', '/releases', { version: '0.2.0' });
    for (const version of ['0.1.0', '0.2.0']) {
      await deployThroughApi(backend, service, 'dev', version);
      await deployThroughApi(backend, service, 'test', version);
    }
    page = await signedInPage(browser, backend);
    await page.goto(entityTabUrl(backend, service.name));
    await openTab(page, 'Environments');
    await card('production').getByText('Not deployed yet').waitFor();
  });

  afterAll(async () => {
    await browser?.close();
    await backend?.stop();
    await service.remove();
  });

  it("waits for approval of CI's production deploy, with nothing in the cluster, and runs it once the admin approves", async () => {
    const requested = await ci<DeploymentAnswer>('POST', '/deployments', {
      environment: 'production',
      version: '0.1.0',
    });
    expect(requested).toMatchObject({
      status: 'waiting-approval',
      createdBy: 'service:ci',
    });

    // The open tab shows it without a reload, with who asked and until when.
    const waiting = approval('Deployment of 0.1.0 to production');
    const text = await waitForText(waiting, /Waiting for approval/);
    expect(text).toMatch(
      /Deployment of 0\.1\.0 to production, requested by service:ci (now|.* ago)\. It expires in \d+ seconds/,
    );
    await card('production').getByText('Not deployed yet').waitFor();
    expect(await productionDeployment()).toBeUndefined();
    await saveScreenshot(
      page,
      'environments-approval.png',
    );

    await waiting
      .getByRole('button', {
        name: 'Approve the Deployment of 0.1.0 to production',
      })
      .click();
    const production = card('production');
    await production.getByLabel('Steps of the deploy of 0.1.0').waitFor();
    await production
      .getByLabel('Steps of the deploy of 0.1.0')
      .waitFor({ state: 'detached' });
    await production.getByText('0.1.0', { exact: true }).waitFor();
    await production.getByText('2 of 2 ready').waitFor();
    await production.getByText(/^Deployed by service:ci/).waitFor();
    const live = await productionDeployment();
    expect(live.spec.template.spec.containers[0].image).toBe(
      `example.test/boutique/${service.name}:0.1.0`,
    );
  });

  it('does not let the admin approve their own promotion, which expires when nobody approves it', async () => {
    const production = card('production');
    await production
      .getByRole('button', { name: 'Promote from test to production' })
      .click();
    await production
      .getByText(
        'Promotion of 0.2.0 to production requested: it waits for approval by another user.',
      )
      .waitFor();
    const waiting = approval('Promotion of 0.2.0 to production');
    await waiting
      .getByText(
        'You requested it: another approver must approve it. You may reject it.',
      )
      .waitFor();
    expect(
      await waiting
        .getByRole('button', {
          name: 'Approve the Promotion of 0.2.0 to production',
        })
        .isDisabled(),
    ).toBe(true);
    // The backend would refuse it too (the API test proves it): the request
    // stays waiting until it expires; production keeps 0.1.0.
    await waiting.waitFor({
      state: 'detached',
      timeout: (EXPIRY_SECONDS + 30) * 1000,
    });
    await production.getByText('0.1.0', { exact: true }).waitFor();
    const { items } = await ci<{ items: DeploymentAnswer[] }>(
      'GET',
      '/deployments?environment=production&limit=5',
    );
    expect(items[0]).toMatchObject({
      kind: 'promote',
      version: '0.2.0',
      status: 'expired',
      createdBy: ADMIN,
    });
    expect(items[0].message).toBe(
      `Expired: nobody approved it within ${EXPIRY_SECONDS} seconds (requested by ${ADMIN}); request it again`,
    );
  });

  it('rejects a request with a reason', async () => {
    const requested = await ci<DeploymentAnswer>('POST', '/deployments', {
      environment: 'production',
      version: '0.2.0',
    });
    expect(requested.status).toBe('waiting-approval');
    const waiting = approval('Deployment of 0.2.0 to production');
    await waiting
      .getByRole('button', {
        name: 'Reject the Deployment of 0.2.0 to production',
      })
      .click();
    const dialog = page.getByRole('dialog', {
      name: 'Reject the Deployment of 0.2.0 to production',
    });
    await dialog
      .getByRole('textbox', { name: /Reason/ })
      .fill('Release notes are missing');
    await dialog.getByRole('button', { name: 'Reject' }).click();
    await card('production')
      .getByText('Deployment of 0.2.0 to production rejected.')
      .waitFor();
    const rejected = await poll(
      () => ci<DeploymentAnswer>('GET', `/deployments/${requested.id}`),
      d => d.status !== 'waiting-approval',
      { timeoutMs: 10_000, describe: last => `Still ${last?.status}` },
    );
    expect(rejected).toMatchObject({
      status: 'rejected',
      message: `Rejected by ${ADMIN}: Release notes are missing`,
    });
    await card('production').getByText('0.1.0', { exact: true }).waitFor();
  });

  it('shows every request, approval, expiry and rejection in the Release history, with who and when', async () => {
    await openTab(page, 'Release history');
    const timeline = page.getByRole('list', { name: 'Release history' });
    const entry = (name: string, text: RegExp) =>
      timeline.getByRole('listitem', { name }).filter({ hasText: text });
    await entry(
      'Approval requested in production',
      /Deployment of 0\.1\.0 to production waits for approval/,
    ).waitFor();
    const approved = await entry(
      'Approved in production',
      /approved by user:default\/admin \(requested by service:ci\)/,
    ).innerText();
    expect(approved).toMatch(/by user:default\/admin (now|.* ago) \(/);
    const expired = await entry(
      'Approval expired in production',
      /Promotion of 0\.2\.0 to production expired: nobody approved it within 30 seconds/,
    ).innerText();
    expect(expired).toMatch(/by kube-delivery:approval-expiry /);
    const rejected = await entry(
      'Rejected in production',
      /rejected by user:default\/admin: Release notes are missing/,
    ).innerText();
    expect(rejected).toMatch(/reason: Release notes are missing/);
    // The deployments themselves, with their outcome.
    await timeline
      .getByRole('listitem', { name: 'Promoted 0.2.0 in production' })
      .filter({ hasText: 'expired' })
      .waitFor();
    await timeline
      .getByRole('listitem', { name: 'Deployed 0.2.0 in production' })
      .filter({ hasText: 'rejected' })
      .waitFor();
    await saveScreenshot(
      page,
      'release-history-approvals.png',
    );

    // The same events through the API, oldest first, with actor and time.
    const history = await ci<HistoryAnswer>(
      'GET',
      '/history?environment=production&limit=100',
    );
    const approvals = history.items
      .filter(e => e.kind.startsWith('approval-'))
      .reverse()
      .map(e => [e.kind, e.actor]);
    expect(approvals).toEqual([
      ['approval-requested', 'service:ci'],
      ['approval-granted', ADMIN],
      ['approval-requested', ADMIN],
      ['approval-expired', 'kube-delivery:approval-expiry'],
      ['approval-requested', 'service:ci'],
      ['approval-rejected', ADMIN],
    ]);
    expect(
      history.items.every(e => !Number.isNaN(Date.parse(e.createdAt))),
    ).toBe(true);
  });
});
