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
import { getDevCluster } from '@internal/devcluster';
import { REPO_ROOT, startE2eBackend, type E2eBackend } from './backend';
import { launchChromium } from './chromium';
import { createE2eGateway, type E2eGateway } from './gateway';
import { deployThroughApi } from './seed';
import { createE2eService } from './service';
import { selfSignedCertificate } from './certificates';

jest.setTimeout(600_000);

const SCREENSHOTS = path.join(REPO_ROOT, 'docs/screenshots');
const ENVIRONMENTS = ['dev', 'test', 'production'];
/** The devcluster environments' gateway hosts (packages/devcluster appConfig.ts). */
const HOSTS = [
  'dev.boutique.example',
  'test.boutique.example',
  'boutique.example',
];

describe('Kube Delivery tabs in Chromium against the real app and backend', () => {
  const service = createE2eService();
  let gateway: E2eGateway | undefined;
  let backend: E2eBackend | undefined;
  let browser: Browser | undefined;
  let page: Page;

  const card = (environment: string): Locator =>
    page.getByRole('region', { name: `Environment ${environment}` });

  beforeAll(async () => {
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    browser = await launchChromium();
    gateway = await createE2eGateway(HOSTS);
    backend = await startE2eBackend({
      catalogFile: service.catalogFile,
      gateway,
    });
    await waitForEntity(backend, service.name);
    // CI creates releases with its token; picking and deploying them is the
    // UI's part. 0.2.0 changes a ConfigMap value, so a rollback has a diff.
    await backend.request('POST', `${service.apiPath}/releases`, {
      version: '0.1.0',
    });
    service.setGreeting('hello again');
    await backend.request('POST', `${service.apiPath}/releases`, {
      version: '0.2.0',
    });
    page = await signedInPage(browser, backend);
  });

  afterAll(async () => {
    await browser?.close();
    await backend?.stop();
    await service.remove();
    await gateway?.remove();
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
  });

  it("shows the backend's reason when it refuses a promotion", async () => {
    const production = card('production');
    await production
      .getByRole('button', { name: 'Promote from test to production' })
      .click();
    await production
      .getByText(
        /nothing has succeeded in test yet, so there is nothing to promote to production/,
      )
      .waitFor();
    await production.getByText('Not deployed yet', { exact: false }).waitFor();
  });

  it('promotes what succeeded in dev to test', async () => {
    const test = card('test');
    await test
      .getByRole('button', { name: 'Promote from dev to test' })
      .click();
    await test.getByLabel('Steps of the promote of 0.1.0').waitFor();
    await test
      .getByLabel('Steps of the promote of 0.1.0')
      .waitFor({ state: 'detached' });
    await test.getByText('0.1.0', { exact: true }).waitFor();
    await test.getByText(/^Promoted by user:development\/guest/).waitFor();
    await test.getByText('2 of 2 ready').waitFor();
  });

  it('rolls back to an earlier release after showing the manifest diff', async () => {
    // CI deploys 0.2.0 to dev; the open page picks it up without a reload.
    await deployThroughApi(backend!, service, 'dev', '0.2.0');
    const dev = card('dev');
    await dev.getByText('0.2.0', { exact: true }).waitFor();

    await dev.getByRole('button', { name: 'Roll back dev' }).click();
    const dialog = page.getByRole('dialog', { name: 'Roll back dev' });
    // The release before the running one is offered first, with what changes.
    const diff = await waitForText(
      dialog.getByLabel('Changes from 0.2.0 to 0.1.0'),
      /GREETING/,
    );
    expect(diff).toMatch(/^- .*GREETING: hello again$/m);
    expect(diff).toMatch(/^\+ .*GREETING: hello$/m);
    await page.screenshot({
      path: path.join(SCREENSHOTS, 'rollback-diff.png'),
    });
    await dialog
      .getByRole('button', { name: 'Roll back dev to 0.1.0' })
      .click();

    await dev.getByLabel('Steps of the rollback of 0.1.0').waitFor();
    await dev
      .getByLabel('Steps of the rollback of 0.1.0')
      .waitFor({ state: 'detached' });
    await dev.getByText('0.1.0', { exact: true }).waitFor();
    await dev.getByText(/^Rolled back by user:development\/guest/).waitFor();
    // The rollback brought 0.1.0's configuration back, not only its image.
    const cluster = await getDevCluster();
    const configMap = await cluster.kubectl([
      '-n',
      'dev',
      'get',
      'configmap',
      `${service.name}-settings`,
      '-o',
      'jsonpath={.data.GREETING}',
    ]);
    expect(configMap.stdout).toBe('hello');
  });

  it('uploads a certificate for the gateway and shows its HTTPS state', async () => {
    const https = page.getByRole('region', { name: 'HTTPS of dev' });
    await https.getByText(/No certificate yet/).waitFor();
    const wrongHost = await selfSignedCertificate('shop.elsewhere.example');
    const right = await selfSignedCertificate('dev.boutique.example');
    try {
      await https
        .getByRole('button', { name: 'Upload certificate for dev' })
        .click();
      const dialog = page.getByRole('dialog', {
        name: 'Upload certificate for dev',
      });
      const upload = async (files: {
        certificatePath: string;
        keyPath: string;
      }) => {
        await dialog
          .getByLabel('Choose certificate file')
          .setInputFiles(files.certificatePath);
        await dialog.getByLabel('Choose key file').setInputFiles(files.keyPath);
        await dialog
          .getByRole('button', { name: 'Upload the certificate to dev' })
          .click();
      };

      // A certificate for other hosts is refused, with the backend's reason.
      await upload(wrongHost);
      await dialog
        .getByRole('alert')
        .filter({ hasText: 'dev.boutique.example' })
        .waitFor();
      expect(
        await gateway!.readSecret(gateway!.secretName('dev')),
      ).toBeUndefined();

      await upload(right);
      await dialog.waitFor({ state: 'detached' });
      await https
        .getByText(
          'Certificate for dev.boutique.example installed on the gateway.',
          {
            exact: false,
          },
        )
        .waitFor();
      await https
        .getByText('CN=dev.boutique.example', { exact: true })
        .first()
        .waitFor();
      await https.getByLabel(/^Certificate of dev: /).waitFor();
    } finally {
      wrongHost.remove();
      right.remove();
    }

    // In the cluster: a TLS Secret, and the gateway's HTTPS server reading it.
    const secret = await gateway!.readSecret(gateway!.secretName('dev'));
    expect(secret.type).toBe('kubernetes.io/tls');
    const servers = (await gateway!.read()).spec.servers;
    expect(servers).toContainEqual(
      expect.objectContaining({
        hosts: ['dev.boutique.example'],
        tls: expect.objectContaining({
          mode: 'SIMPLE',
          credentialName: gateway!.secretName('dev'),
        }),
      }),
    );
    // The README's picture: the tab as it opens, without this session's notices.
    await page.reload();
    await page
      .getByRole('region', { name: 'HTTPS of dev' })
      .getByText('CN=dev.boutique.example', { exact: true })
      .first()
      .waitFor();
    await page.screenshot({
      path: path.join(SCREENSHOTS, 'environments.png'),
      fullPage: true,
    });
  });
});
