/*
 * Seeds the local portal's demo state through Kube Delivery's own API with
 * the static CI token of app-config.yaml (packages/backend/src/demo/seedDemo.ts
 * says what it creates). scripts/dev.sh runs it once the backend answers; it
 * is idempotent, so it runs on every start and does nothing once the state
 * is there.
 *
 *   node -r @backstage/cli/config/nodeTransform.cjs scripts/demo-seed.ts
 *
 * KUBE_DELIVERY_URL (default http://localhost:7007) and KUBE_DELIVERY_CI_TOKEN
 * (scripts/dev.sh sets it to the checkout's random token) point it elsewhere.
 */
import { createKubeDeliveryClient } from '../plugins/scaffolder-backend-module-kube-delivery/src/client';
import { seedDemo, type SeedSummary } from '../packages/backend/src/demo';

const backendUrl = process.env.KUBE_DELIVERY_URL ?? 'http://localhost:7007';
const token = process.env.KUBE_DELIVERY_CI_TOKEN;
if (!token) {
  throw new Error(
    'KUBE_DELIVERY_CI_TOKEN is not set: run the demo with scripts/dev.sh, which makes one, or set the token the backend was started with',
  );
}
const appUrl = process.env.KUBE_DELIVERY_APP_URL ?? 'http://localhost:3000';

async function waitForBackend(): Promise<void> {
  const readiness = `${backendUrl}/.backstage/health/v1/readiness`;
  const deadline = Date.now() + 15 * 60_000;
  for (;;) {
    const ok = await fetch(readiness).then(
      r => r.ok,
      () => false,
    );
    if (ok) return;
    if (Date.now() > deadline) {
      throw new Error(
        `The backend did not answer ${readiness} within 15 minutes; see the output of yarn start`,
      );
    }
    await new Promise(resolve => setTimeout(resolve, 2000));
  }
}

/** A restarting backend: refused connections or 503 while it shuts down. */
function isInterruption(error: unknown): boolean {
  const e = error as {
    response?: { status?: number };
  };
  return (
    e?.response?.status === 503 ||
    (error instanceof TypeError &&
      String(error.message).includes('fetch failed'))
  );
}

async function main() {
  const log = (message: string) => console.log(`demo-seed: ${message}`);
  const client = createKubeDeliveryClient({
    baseUrl: async () => `${backendUrl}/api/kube-delivery`,
    token: async () => token,
  });
  const started = Date.now();
  let summary: SeedSummary | undefined;
  // `yarn start` restarts the backend when a source file changes; seeding is
  // idempotent, so after an interruption it simply starts over.
  for (let attempt = 1; !summary; attempt++) {
    await waitForBackend();
    try {
      summary = await seedDemo({ client, log });
    } catch (error) {
      if (attempt >= 5 || !isInterruption(error)) throw error;
      log(`the backend went away (${(error as Error).message}); seeding again`);
      await new Promise(resolve => setTimeout(resolve, 3000));
    }
  }
  log(
    `done in ${Math.round((Date.now() - started) / 1000)} s: ${
      summary.releasesCreated
    } releases, ` +
      `${summary.deploymentsRun} deployments, ${summary.routesCreated} routing rules, ` +
      `${summary.certificatesUploaded} certificates created`,
  );
  console.log(`
Kube Delivery demo is ready: open ${appUrl}
  1. Sign in as guest, open the catalog and pick "frontend" (system online-boutique).
  2. Environments: 0.1.4 in dev, 0.1.3 in test and production, pods per node,
     the dev gateway's HTTPS certificate; Deploy / Promote / Roll back buttons.
  3. Feature branches: 0.1.4-myfeature in dev and the cookie rule
     shop_session-id=demo-myfeature-session that routes to it (try the route tester).
  4. Release history: every deployment with its steps; diff 0.1.3 against 0.1.4.
  5. Kubernetes: the same pods, read by the Backstage Kubernetes plugin.
  adservice has a header rule (userid: demo-user); create a new service from
  Create… > "Microservice delivered by Kube Delivery".
`);
}

main().catch(error => {
  console.error(`demo-seed: ${error instanceof Error ? error.message : error}`);
  process.exit(1);
});
