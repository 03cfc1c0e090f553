import fs from 'node:fs';
import path from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';
import {
  entityTabUrl,
  openTab,
  signedInPage,
  waitForEntity,
  waitForText,
} from './app';
import { REPO_ROOT, startE2eBackend, type E2eBackend } from './backend';
import { launchChromium } from './chromium';
import { createE2eService } from './service';

jest.setTimeout(600_000);

const SCREENSHOTS = path.join(REPO_ROOT, 'docs/screenshots');
const ENVIRONMENTS = ['dev', 'test', 'production'];

describe('Kube Delivery tabs in Chromium against the real app and backend', () => {
  const service = createE2eService();
  let backend: E2eBackend | undefined;
  let browser: Browser | undefined;
  let page: Page;

  const card = (environment: string): Locator =>
    page.getByRole('region', { name: `Environment ${environment}` });

  beforeAll(async () => {
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    browser = await launchChromium();
    backend = await startE2eBackend({ catalogFile: service.catalogFile });
    await waitForEntity(backend, service.name);
    // CI creates releases with its token; picking and deploying them is the UI's part.
    for (const version of ['0.1.0', '0.2.0']) {
      await backend.request('POST', `${service.apiPath}/releases`, { version });
    }
    page = await signedInPage(browser, backend);
  });

  afterAll(async () => {
    await browser?.close();
    await backend?.stop();
    await service.remove();
  });

  it('opens the service and shows one card per environment in lifecycle order', async () => {
    await page.goto(entityTabUrl(backend!, service.name));
    await openTab(page, 'Environments');
    for (const environment of ENVIRONMENTS) {
      await card(environment).waitFor();
      await card(environment).getByText('Not deployed yet').waitFor();
    }
    const order = await page
      .getByRole('region', { name: /^Environment / })
      .evaluateAll(sections => sections.map(s => s.getAttribute('aria-label')));
    expect(order).toEqual(ENVIRONMENTS.map(e => `Environment ${e}`));
  });

  it('deploys a release picked in the dialog and shows the rollout live', async () => {
    // A marker on window: it survives only if the page is never reloaded.
    await page.evaluate(() => {
      (window as any).kdE2eNoReload = true;
    });
    const dev = card('dev');
    await dev.getByRole('button', { name: 'Deploy to dev' }).click();
    const dialog = page.getByRole('dialog', { name: 'Deploy to dev' });
    await dialog.getByRole('button', { name: 'Release', exact: true }).click();
    await page
      .getByRole('listbox', { name: 'Release' })
      .getByRole('option', { name: /^0\.1\.0 / })
      .click();
    await dialog.getByRole('button', { name: 'Deploy 0.1.0 to dev' }).click();

    // The deployment's steps appear while it runs and progress: the rollout
    // runs once the dry run and the apply succeeded...
    const steps = dev.getByLabel('Steps of the deploy of 0.1.0');
    const during = await waitForText(steps, /Rollout\s+running/);
    expect(during).toMatch(/Dry run\s+succeeded[\s\S]*Apply\s+succeeded/);
    await page.screenshot({
      path: path.join(SCREENSHOTS, 'environments-rollout.png'),
    });
    // ...and when it is done, the card says what runs, who deployed it, and
    // where the two ready replicas landed.
    await steps.waitFor({ state: 'detached' });
    await dev.getByText('0.1.0', { exact: true }).waitFor();
    await dev.getByText('2 of 2 ready').waitFor();
    await dev.getByText(/^Deployed by user:development\/guest/).waitFor();
    const pods = await dev
      .getByRole('list', { name: 'Pods per node in dev' })
      .getByRole('listitem')
      .allInnerTexts();
    const readyPods = pods.map(p =>
      Number(/: (\d+)\/\d+ pods? ready/.exec(p)?.[1]),
    );
    expect(readyPods.reduce((a, b) => a + b, 0)).toBe(2);
    expect(await page.evaluate(() => (window as any).kdE2eNoReload)).toBe(true);
    await page.screenshot({
      path: path.join(SCREENSHOTS, 'environments.png'),
      fullPage: true,
    });
  });
});
