import { randomUUID } from 'node:crypto';
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
import { createE2eGateway, type E2eGateway } from './gateway';
import { deployThroughApi } from './seed';
import { createE2eService } from './service';
import { selfSignedCertificate } from './certificates';

jest.setTimeout(600_000);

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

  it('restarts what runs in dev, operated from the keyboard', async () => {
    const dev = card('dev');
    await dev.getByRole('button', { name: 'Restart in dev' }).focus();
    await page.keyboard.press('Enter');
    // While the new pods roll out, the card shows the live replica counts
    // beside the running step.
    const during = await waitForText(
      dev,
      /\d of 2 ready[\s\S]*Rollout\s+running/,
    );
    expect(during).toMatch(/Restart: 0\.1\.0 \(rolling\) — running/);
    await saveScreenshot(
      page,
      'environments-rollout.png',
    );
    const steps = dev.getByLabel('Steps of the restart of 0.1.0');
    await steps.waitFor({ state: 'detached' });
    await dev.getByText(/^Restarted by user:development\/guest/).waitFor();
    await dev.getByText('2 of 2 ready').waitFor();
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
    await saveScreenshot(page, 'rollback-diff.png');
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
    const configMap = await readObject(
      'dev',
      'configmap',
      `${service.name}-settings`,
    );
    expect(configMap.data.GREETING).toBe('hello');
  });

  it('uploads a certificate for the gateway and shows its HTTPS state', async () => {
    const https = page.getByRole('region', { name: 'HTTPS of dev' });
    await https
      .getByText(/^No certificate yet: the gateway serves no HTTPS/)
      .waitFor();
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
    await saveScreenshot(page, 'environments.png');
  });

  it('routes yourself to a feature branch and checks it with the route tester', async () => {
    // CI builds the branch and deploys it to dev.
    await backend!.request('POST', `${service.apiPath}/releases`, {
      version: '0.3.0-myfeature',
    });
    await deployThroughApi(backend!, service, 'dev', '0.3.0-myfeature');

    await openTab(page, 'Feature branches');
    const branch = page.getByRole('region', {
      name: 'Branch myfeature in dev',
    });
    await branch.getByText('0.3.0-myfeature', { exact: true }).waitFor();
    await branch.getByText(/^No routing rules/).waitFor();

    await branch
      .getByRole('button', { name: 'Add rule for myfeature in dev' })
      .click();
    const dialog = page.getByRole('dialog', {
      name: 'Route yourself to myfeature in dev',
    });
    // Prefilled from the service's routing annotation, with a generated value.
    const value = await dialog
      .getByRole('textbox', { name: 'Value' })
      .inputValue();
    expect(value).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    expect(await dialog.getByLabel('Header to send').innerText()).toBe(
      `userid: ${value}`,
    );
    // An hour is enough for this; extending it comes later.
    await dialog.getByRole('button', { name: /^Expires after/ }).click();
    await page
      .getByRole('listbox', { name: 'Expires after' })
      .getByRole('option', { name: '1 hour', exact: true })
      .click();
    await dialog
      .getByRole('button', { name: 'Create the rule for myfeature in dev' })
      .click();
    await dialog.waitFor({ state: 'detached' });

    const row = branch
      .getByRole('table', { name: 'Routing rules of myfeature in dev' })
      .getByRole('row')
      .filter({ hasText: value });
    await row.waitFor();
    const cells = await row.getByRole('cell').allInnerTexts();
    expect(cells.slice(0, 5)).toEqual([
      'header',
      'userid',
      value,
      'user:development/guest',
      expect.stringMatching(/^(1h 00m|[1-5]?\dm) left$/),
    ]);

    // The live VirtualService sends that header to the branch, first.
    const virtualService = await readObject(
      'dev',
      'virtualservice',
      service.name,
    );
    expect(virtualService.spec.http[0]).toMatchObject({
      match: [{ headers: { userid: { exact: value } } }],
      route: [{ destination: { host: `${service.name}-myfeature` } }],
    });

    // The route tester answers from that live routing: my header goes to the branch...
    await page.getByRole('textbox', { name: 'Header 1 name' }).fill('userid');
    await page.getByRole('textbox', { name: 'Header 1 value' }).fill(value);
    await page.getByRole('button', { name: 'Test route' }).click();
    const destination = page.getByLabel('Route test destination');
    expect(await waitForText(destination, /^Goes to /)).toBe(
      `Goes to ${service.name}-myfeature`,
    );
    const matched = page.getByText(
      `Matched the header rule userid=${value} of user:development/guest for branch myfeature.`,
    );
    await matched.waitFor();
    await saveScreenshot(page, 'feature-branches.png');

    // ...and anyone else's to the mainline.
    await page
      .getByRole('textbox', { name: 'Header 1 value' })
      .fill(randomUUID());
    await page.getByRole('button', { name: 'Test route' }).click();
    await page.getByText(/^No rule matched: the mainline route/).waitFor();
    expect(await destination.innerText()).toBe(`Goes to ${service.name}`);

    // Extending the rule gives it 8 hours from now...
    await row
      .getByRole('button', { name: `Extend rule userid=${value} by 8 hours` })
      .click();
    await waitForText(row.getByRole('cell').nth(4), /^(7h 5\dm|8h 00m) left$/);
    await page.getByRole('textbox', { name: 'Header 1 value' }).fill(value);
    await page.getByRole('button', { name: 'Test route' }).click();
    await matched.waitFor();
    // ...and removing it takes it out of the live routing: my header goes to
    // the mainline again.
    await row
      .getByRole('button', { name: `Remove rule userid=${value}` })
      .click();
    await row.waitFor({ state: 'detached' });
    const routes = (await readObject('dev', 'virtualservice', service.name))
      .spec.http;
    expect(JSON.stringify(routes)).not.toContain(value);
    await page.getByRole('textbox', { name: 'Header 1 value' }).fill(value);
    await page.getByRole('button', { name: 'Test route' }).click();
    await page.getByText(/^No rule matched: the mainline route/).waitFor();
    expect(await destination.innerText()).toBe(`Goes to ${service.name}`);
  });

  it('shows the release history newest first, with steps, filters and a release diff', async () => {
    await openTab(page, 'Release history');
    const history = page.getByRole('list', { name: 'Release history' });
    await history
      .getByRole('listitem', { name: 'Rolled back to 0.1.0 in dev' })
      .waitFor();
    const entries = await history
      .getByRole('listitem')
      .evaluateAll(items => items.map(i => i.getAttribute('aria-label')));
    const deployments = entries.filter(
      e => !/^(Route|Certificate|Promotion refused)/.test(e!),
    );
    expect(deployments).toEqual([
      'Deployed 0.3.0-myfeature in dev',
      'Rolled back to 0.1.0 in dev',
      'Deployed 0.2.0 in dev',
      'Promoted 0.1.0 in test',
      'Restarted 0.1.0 in dev',
      'Deployed 0.1.0 in dev',
    ]);
    expect(entries).toContain('Route changed in dev');
    expect(entries).toContain('Certificate changed in dev');
    expect(entries).toContain('Promotion refused in production');

    // Each deployment with its steps and how long they took.
    await history
      .getByRole('button', {
        name: 'Show steps of Rolled back to 0.1.0 in dev',
      })
      .click();
    const rollback = history.getByRole('listitem', {
      name: 'Rolled back to 0.1.0 in dev',
    });
    expect(await waitForText(rollback, /Rollout/)).toMatch(
      /Rollout[\s\S]*succeeded/,
    );
    await saveScreenshot(page, 'release-history.png');

    // Filtered by environment...
    const choose = async (filter: string, option: string) => {
      await page.getByRole('button', { name: filter, exact: true }).click();
      await page
        .getByRole('listbox', { name: filter })
        .getByRole('option', { name: option, exact: true })
        .click();
    };
    const labels = () =>
      history
        .getByRole('listitem')
        .evaluateAll(items => items.map(i => i.getAttribute('aria-label')));
    await choose('Environment', 'test');
    await history
      .getByRole('listitem', { name: 'Deployed 0.1.0 in dev' })
      .waitFor({ state: 'detached' });
    await history
      .getByRole('listitem', { name: 'Promoted 0.1.0 in test' })
      .waitFor();
    expect(await labels()).toEqual(['Promoted 0.1.0 in test']);
    // ...and by kind.
    await choose('Environment', 'All');
    await choose('Kind', 'Rolled back');
    await history
      .getByRole('listitem', { name: 'Deployed 0.2.0 in dev' })
      .waitFor({ state: 'detached' });
    await history
      .getByRole('listitem', { name: 'Rolled back to 0.1.0 in dev' })
      .waitFor();
    expect(await labels()).toEqual(['Rolled back to 0.1.0 in dev']);

    // Any two releases compared.
    await choose('From release', '0.1.0');
    await choose('To release', '0.2.0');
    const diff = await waitForText(
      page.getByLabel('Changes from 0.1.0 to 0.2.0'),
      /GREETING/,
    );
    expect(diff).toMatch(/^- .*GREETING: hello$/m);
    expect(diff).toMatch(/^\+ .*GREETING: hello again$/m);
  });
});
