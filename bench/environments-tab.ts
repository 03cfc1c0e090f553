/*
 * Environments tab benchmark: in Debian's Chromium, against the real backend
 * serving the built app on the running devcluster, the time from navigating to
 * a service's Environments tab until it shows its three environment cards,
 * alternated with a baseline measured in the same run: the same entity's
 * Overview tab until its About card shows. See bench/README.md.
 *
 *   yarn workspace app build   # once, the app the backend serves
 *   yarn bench:ui [--runs N]
 *
 * It measures and prints; it asserts nothing about timings.
 */
import type { Page } from 'playwright-core';
import {
  entityTabUrl,
  signedInPage,
  waitForEntity,
} from '../packages/e2e-tests/src/app';
import { startE2eBackend } from '../packages/e2e-tests/src/backend';
import { launchChromium } from '../packages/e2e-tests/src/chromium';
import { deployThroughApi } from '../packages/e2e-tests/src/seed';
import { createE2eService } from '../packages/e2e-tests/src/service';
import { intOption, loadNote, median } from './lib/stats';

const ENVIRONMENTS = ['dev', 'test', 'production'];

/** Milliseconds from `page.goto` until `ready` resolves, on a fresh load of the app. */
async function timeNavigation(
  page: Page,
  url: string,
  ready: () => Promise<unknown>,
) {
  // A blank page first, so every run loads the app as a user opening a link does.
  await page.goto('about:blank');
  const start = performance.now();
  await page.goto(url);
  await ready();
  return performance.now() - start;
}

async function main() {
  const runs = intOption(process.argv.slice(2), '--runs', 7);
  const service = createE2eService('bench-ui');
  const browser = await launchChromium();
  const backend = await startE2eBackend({ catalogFile: service.catalogFile });
  try {
    await waitForEntity(backend, service.name);
    // Something to show: a release running in dev and test, none in production.
    await backend.request('POST', `${service.apiPath}/releases`, {
      version: '0.1.0',
    });
    for (const environment of ['dev', 'test']) {
      await deployThroughApi(backend, service, environment, '0.1.0');
    }
    const page = await signedInPage(browser, backend);

    const environmentsTab = () =>
      timeNavigation(
        page,
        entityTabUrl(backend, service.name, '/kube-delivery/environments'),
        () =>
          Promise.all(
            ENVIRONMENTS.map(name =>
              page
                .getByRole('region', { name: `Environment ${name}` })
                .waitFor(),
            ),
          ),
      );
    const overviewTab = () =>
      timeNavigation(page, entityTabUrl(backend, service.name), () =>
        page.getByRole('heading', { name: 'About' }).waitFor(),
      );

    console.log(
      `Chromium ${browser.version()}, app from packages/app/dist, backend ${
        backend.baseUrl
      }`,
    );
    console.log(
      `service ${
        service.name
      }: 0.1.0 in dev and test; ${runs} runs after one warm-up each, alternating; ${loadNote()}\n`,
    );
    await environmentsTab();
    await overviewTab();
    const tab: number[] = [];
    const baseline: number[] = [];
    for (let run = 1; run <= runs; run++) {
      tab.push(await environmentsTab());
      baseline.push(await overviewTab());
      console.log(
        `run ${run}: Environments tab (3 cards) ${tab[run - 1].toFixed(
          0,
        )} ms, Overview tab (About card) ${baseline[run - 1].toFixed(0)} ms`,
      );
    }
    const tabMedian = median(tab);
    const baselineMedian = median(baseline);
    console.log(
      `\nmedian Environments tab, navigation to 3 environment cards: ${tabMedian.toFixed(
        0,
      )} ms`,
    );
    console.log(
      `median baseline, Overview tab to its About card:          ${baselineMedian.toFixed(
        0,
      )} ms`,
    );
    console.log(
      `ratio Environments / Overview: ${(tabMedian / baselineMedian).toFixed(
        2,
      )}`,
    );
    console.log(loadNote());
    console.log(
      JSON.stringify({
        bench: 'kube-delivery-ui-environments-tab',
        runs,
        environmentsTabMs: tab.map(Math.round),
        overviewTabMs: baseline.map(Math.round),
        environmentsTabMedianMs: Math.round(tabMedian),
        overviewTabMedianMs: Math.round(baselineMedian),
        ratio: Number((tabMedian / baselineMedian).toFixed(2)),
      }),
    );
  } finally {
    await browser.close();
    await backend.stop();
    await service.remove();
  }
}

main().catch(error => {
  console.error(error);
  process.exit(1);
});
