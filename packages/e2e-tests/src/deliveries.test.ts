import type { Browser, Page } from 'playwright-core';
import {
  entityTabUrl,
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

/**
 * The platform team's view in Chromium: the Deliveries page (in the
 * sidebar), the Deliveries tab of the owning Group, and the service's
 * Overview card, after a deploy to dev.
 */
describe('the Deliveries page and the Overview card in Chromium', () => {
  const service = createE2eService('e2e-deliv');
  let backend: E2eBackend | undefined;
  let browser: Browser | undefined;
  let page: Page;

  beforeAll(async () => {
    browser = await launchChromium();
    backend = await startE2eBackend({ catalogFile: service.catalogFile });
    await waitForEntity(backend, service.name);
    await backend.request('POST', `${service.apiPath}/releases`, {
      version: '0.1.0',
    });
    const queued = await backend.request<{ id: string }>(
      'POST',
      `${service.apiPath}/deployments`,
      { environment: 'dev', version: '0.1.0' },
    );
    await poll(
      () =>
        backend!.request<{ status: string }>(
          'GET',
          `${service.apiPath}/deployments/${queued.id}`,
        ),
      d => d.status === 'succeeded',
      {
        timeoutMs: UI_TIMEOUT_MS,
        describe: last => `The deploy did not succeed: ${JSON.stringify(last)}`,
      },
    );
    page = await signedInPage(browser, backend);
  });

  afterAll(async () => {
    await browser?.close();
    await backend?.stop();
    await service.remove();
  });

  it('lists the service with its version and state per environment, from the sidebar', async () => {
    // The sidebar's item of the page (its text shows when the sidebar is open).
    await page.locator('nav a[href$="/kube-delivery"]').first().click();
    const table = page.getByRole('table', { name: 'Deliveries' });
    await table.waitFor();
    const dev = page.getByTestId(`cell-${service.name}-dev`);
    // Version, state, then who deployed it and when.
    expect(await waitForText(dev, /0\.1\.0\s*healthy/)).toMatch(
      /0\.1\.0\s*healthy\s*\S.*, (now|.* ago)/,
    );
    expect(
      await page.getByTestId(`cell-${service.name}-test`).innerText(),
    ).toMatch(/not deployed\s*differs from dev/);
    await saveScreenshot(page, 'deliveries-page.png');

    // A cell opens the service's Environments tab.
    await dev.getByRole('link').click();
    await page.waitForURL(/\/kube-delivery\/environments$/);
    await page.getByRole('region', { name: 'Environment dev' }).waitFor();
  });

  it("shows the owning Group's services on its Deliveries tab", async () => {
    await page.goto(
      `${backend!.baseUrl}/catalog/default/group/e2e/kube-delivery/deliveries`,
    );
    const dev = page.getByTestId(`cell-${service.name}-dev`);
    await waitForText(dev, /0\.1\.0/);
    // The Owner filter is the Group itself: not offered again.
    expect(await page.getByRole('button', { name: /Owner/ }).count()).toBe(0);
  });

  it("shows each environment's version and health on the service's Overview", async () => {
    await page.goto(entityTabUrl(backend!, service.name));
    const card = page.getByRole('table', { name: 'Versions by environment' });
    expect(
      await waitForText(card, /dev\s+0\.1\.0[\s\S]*healthy · 2\/2 ready/),
    ).toMatch(/test\s+—[\s\S]*not deployed/);
    await saveScreenshot(page, 'overview-card.png');
  });
});
