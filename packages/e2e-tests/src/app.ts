import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';
import { REPO_ROOT, type E2eBackend } from './backend';
import { poll } from './poll';

/** Time the app and backend get for what a user waits for (page loads, live updates). */
export const UI_TIMEOUT_MS = 120_000;

/**
 * A page signed in as the guest user: the sign-in page's guest provider is
 * the "Enter" button, as a developer on a local portal sees it.
 */
export async function signedInPage(
  browser: Browser,
  backend: E2eBackend,
): Promise<Page> {
  const context = await browser.newContext({
    viewport: { width: 1440, height: 1000 },
  });
  const page = await context.newPage();
  page.setDefaultTimeout(UI_TIMEOUT_MS);
  await page.goto(backend.baseUrl);
  const enter = page.getByRole('button', { name: 'Enter' });
  await enter.click();
  await enter.waitFor({ state: 'detached' });
  return page;
}

/** The URL of a tab of a component's entity page (new frontend system routes). */
export function entityTabUrl(backend: E2eBackend, name: string, tabPath = '') {
  return `${backend.baseUrl}/catalog/default/component/${name}${tabPath}`;
}

/**
 * Waits until the catalog has processed the entity (the file location is
 * read after start), asking Kube Delivery as CI does: the CI token is
 * restricted to the kube-delivery plugin, which answers 404 for an entity
 * the catalog does not have yet.
 */
export async function waitForEntity(backend: E2eBackend, name: string) {
  await poll(
    () =>
      backend.request(
        'GET',
        `/api/kube-delivery/entities/component/default/${name}/releases`,
      ),
    () => true,
    {
      timeoutMs: UI_TIMEOUT_MS,
      describe: (_, error) =>
        `The catalog did not list component ${name}: ${error}`,
    },
  );
}

/** The group Kube Delivery's tabs are in on the entity page (new frontend system). */
const TAB_GROUP = 'Deployment';

/**
 * Opens a tab of the entity page by its title, as a user clicks it: a tab of
 * its own, or one in the Deployment group's menu.
 */
export async function openTab(page: Page, title: string) {
  const navigation = page.getByRole('navigation', {
    name: 'Content navigation',
  });
  const link = navigation.getByRole('link', { name: title, exact: true });
  const group = navigation.getByRole('button', { name: TAB_GROUP });
  await link.or(group).first().waitFor();
  if (await link.isVisible()) {
    await link.click();
    return;
  }
  await group.click();
  await page.getByRole('menuitemradio', { name: title, exact: true }).click();
}

/**
 * Waits until a locator's rendered text matches, and returns that text: for
 * live content that changes while the user watches (steps, replica counts).
 */
export async function waitForText(
  locator: Locator,
  pattern: RegExp,
): Promise<string> {
  return poll(
    () => locator.innerText().catch(() => ''),
    text => pattern.test(text),
    {
      timeoutMs: UI_TIMEOUT_MS,
      intervalMs: 100,
      describe: last => `Text never matched ${pattern}; last seen:\n${last}`,
    },
  );
}

let screenshotDir: string | undefined;

/**
 * Where the screenshots go: docs/screenshots (the README's) only when asked
 * with KD_UPDATE_SCREENSHOTS=1, otherwise a fresh temporary directory, so a
 * test run never changes the working tree.
 */
export function screenshotDirectory(): string {
  if (!screenshotDir) {
    if (process.env.KD_UPDATE_SCREENSHOTS === '1') {
      screenshotDir = path.join(REPO_ROOT, 'docs/screenshots');
      fs.mkdirSync(screenshotDir, { recursive: true });
    } else {
      screenshotDir = fs.mkdtempSync(
        path.join(os.tmpdir(), 'kd-e2e-screenshots-'),
      );
    }
    // eslint-disable-next-line no-console
    console.log(`Screenshots are written to ${screenshotDir}`);
  }
  return screenshotDir;
}

/**
 * Saves what the user sees as a PNG (named `name` in screenshotDirectory()), the window made as tall as the page so
 * the whole tab is in it (a full-page capture would misplace the fixed sidebar).
 */
export async function saveScreenshot(page: Page, name: string) {
  const file = path.join(screenshotDirectory(), name);
  const viewport = page.viewportSize()!;
  const height = await page.evaluate(
    () => document.documentElement.scrollHeight,
  );
  await page.setViewportSize({
    width: viewport.width,
    height: Math.max(viewport.height, height),
  });
  await page.screenshot({ path: file });
  await page.setViewportSize(viewport);
}
