import type { Browser, Page } from 'playwright-core';
import {
  saveScreenshot,
  signedInPage,
  UI_TIMEOUT_MS,
  waitForEntity,
  waitForText,
} from './app';
import { startE2eBackend, type E2eBackend } from './backend';
import { launchChromium } from './chromium';
import { poll } from './poll';
import { createE2eService } from './service';

jest.setTimeout(600_000);

const MEMBER = 'e2e-dev';

/**
 * A member of the owning team, signed in, hears of a failed deploy of the
 * team's service through Backstage's notifications (the real notifications
 * backend of packages/backend), with a link to the Release history.
 */
describe('a notification after a failed deploy, in Chromium', () => {
  const service = createE2eService('e2e-notify', {
    failAs: 'CrashLoopBackOff',
    progressDeadlineSeconds: 10,
    member: MEMBER,
  });
  let backend: E2eBackend | undefined;
  let browser: Browser | undefined;
  let page: Page;

  beforeAll(async () => {
    browser = await launchChromium();
    backend = await startE2eBackend({
      catalogFile: service.catalogFile,
      signInAs: `user:default/${MEMBER}`,
    });
    await waitForEntity(backend, service.name);
    page = await signedInPage(browser, backend);
  });

  afterAll(async () => {
    await browser?.close();
    await backend?.stop();
    await service.remove();
  });

  it("tells the owner's member, with the reason and a link to the Release history", async () => {
    await backend!.request('POST', `${service.apiPath}/releases`, {
      version: '0.1.0',
    });
    const queued = await backend!.request<{ id: string }>(
      'POST',
      `${service.apiPath}/deployments`,
      { environment: 'dev', version: '0.1.0' },
    );
    const failed = await poll(
      () =>
        backend!.request<{ status: string; message?: string }>(
          'GET',
          `${service.apiPath}/deployments/${queued.id}`,
        ),
      d => !['queued', 'running'].includes(d.status),
      {
        timeoutMs: UI_TIMEOUT_MS,
        describe: last => `The deploy did not end: ${JSON.stringify(last)}`,
      },
    );
    expect(failed.status).toBe('failed');

    await page.goto(`${backend!.baseUrl}/notifications`);
    const title = `${service.name} 0.1.0 failed to deploy to dev`;
    const text = await waitForText(page.locator('body'), new RegExp(title));
    // The reason, as the deployment's message begins.
    expect(text).toMatch(/exceeded its progress deadline/);
    await saveScreenshot(page, 'notification-failed-deploy.png');
    await page.getByText(title).click();
    await page.waitForURL(/\/kube-delivery\/release-history$/);
  });
});
