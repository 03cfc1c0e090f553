import type { Browser, Page } from 'playwright-core';
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
import { createE2eService } from './service';

jest.setTimeout(600_000);

/**
 * A deploy whose pods cannot pull their image: while it runs, the Environments
 * card says why, as the cluster reports it (the pods are made to fail by the
 * devcluster's kwok stage, with the status a kubelet writes).
 */
describe('a failing deploy in Chromium', () => {
  const service = createE2eService('e2e-failing', {
    failAs: 'ImagePullBackOff',
  });
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
    page = await signedInPage(browser, backend);
  });

  afterAll(async () => {
    await browser?.close();
    await backend?.stop();
    await service.remove();
  });

  it("shows why the rollout does not progress on the environment's card", async () => {
    await backend!.request('POST', `${service.apiPath}/deployments`, {
      environment: 'dev',
      version: '0.1.0',
    });
    await page.goto(entityTabUrl(backend!, service.name));
    await openTab(page, 'Environments');
    const dev = page.getByRole('region', { name: 'Environment dev' });
    const said = await waitForText(dev, /ImagePullBackOff/);
    expect(said).toMatch(
      /container [a-z0-9-]+ is waiting: ImagePullBackOff: Back-off pulling image "example\.test\/boutique\/e2e-failing-/,
    );
    await saveScreenshot(page, 'environments-failing-deploy.png');
  });
});
