import {
  bodyOf,
  entityPathOf,
  type KubeDeliveryApiClient,
  type RoutingKind,
} from '@internal/plugin-kube-delivery-common';
import { waitForDeployment } from '@internal/plugin-scaffolder-backend-module-kube-delivery';
import { generateDemoCertificate } from './demoCertificate';

/** What the demo seeds: Online Boutique of examples/online-boutique. */
export const BOUTIQUE_SERVICES = [
  'adservice',
  'cartservice',
  'checkoutservice',
  'currencyservice',
  'emailservice',
  'frontend',
  'loadgenerator',
  'paymentservice',
  'productcatalogservice',
  'recommendationservice',
  'shippingservice',
].map(name => `component:default/${name}`);
export const REDIS_CART = 'resource:default/redis-cart';
/** redis-cart runs Redis' own versions, not the shop's. */
export const REDIS_RELEASE = { version: '7.4.2', tag: '7.4.2-alpine' };
export const MAINLINE = '0.1.3';
export const NEXT = '0.1.4';
export const BRANCH = '0.1.4-myfeature';
/** The branch deployments and the requests routed to them. */
export const BRANCH_ROUTES: Array<{
  entityRef: string;
  kind: RoutingKind;
  key: string;
  value: string;
}> = [
  {
    entityRef: 'component:default/frontend',
    kind: 'cookie',
    key: 'shop_session-id',
    value: 'demo-myfeature-session',
  },
  {
    entityRef: 'component:default/adservice',
    kind: 'header',
    key: 'userid',
    value: 'demo-user',
  },
];

export interface SeedSummary {
  releasesCreated: number;
  deploymentsRun: number;
  /** Deployments into a protected environment left waiting for a user's approval (a token never approves). */
  deploymentsWaitingApproval: number;
  routesCreated: number;
  certificatesUploaded: number;
}

/** The environment whose gateway gets a demo certificate. */
export const CERTIFICATE_ENVIRONMENT = 'dev';

type Log = (message: string) => void;

/**
 * Seeds the demo state through the plugin's own API, as CI would: releases,
 * deployments in lifecycle order, feature-branch deployments and routing
 * rules. Idempotent: what is already there is left alone, so it runs on
 * every start of `scripts/dev.sh` and does nothing once the state is reached.
 */
export async function seedDemo(options: {
  /** The API with a token that may do all of this (createKubeDeliveryClient). */
  client: KubeDeliveryApiClient;
  log?: Log;
  pollIntervalMs?: number;
  catalogWaitMs?: number;
}): Promise<SeedSummary> {
  const {
    client,
    log = () => {},
    pollIntervalMs = 1000,
    catalogWaitMs = 300_000,
  } = options;
  const summary: SeedSummary = {
    releasesCreated: 0,
    deploymentsRun: 0,
    deploymentsWaitingApproval: 0,
    routesCreated: 0,
    certificatesUploaded: 0,
  };

  async function ensureRelease(
    entityRef: string,
    release: { version: string; tag?: string },
  ) {
    const path = entityPathOf(entityRef);
    const existing = await bodyOf(client.listReleases({ path }));
    if (existing.items.some(r => r.version === release.version)) return;
    await bodyOf(client.createRelease({ path, body: release }));
    summary.releasesCreated += 1;
  }

  /**
   * Deploys unless this version already succeeded here (or is being
   * deployed, or waits for approval). Into a protected environment the
   * deployment waits for a user's approval: it is left waiting, for the
   * demo's approver to approve on the Environments tab.
   */
  async function ensureDeployed(
    entityRef: string,
    environment: string,
    version: string,
  ) {
    const path = entityPathOf(entityRef);
    const history = (
      await bodyOf(
        client.listDeployments({ path, query: { environment, limit: 100 } }),
      )
    ).items.filter(d => d.version === version);
    if (history.some(d => d.status === 'succeeded')) return;
    let deployment = history.find(
      d =>
        d.status === 'queued' ||
        d.status === 'running' ||
        d.status === 'waiting-approval',
    );
    if (!deployment) {
      deployment = await bodyOf(
        client.deploy({ path, body: { environment, version } }),
      );
      summary.deploymentsRun += 1;
    }
    const finished = await waitForDeployment(client, entityRef, deployment.id, {
      pollIntervalMs,
    });
    if (finished.status === 'waiting-approval') {
      summary.deploymentsWaitingApproval += 1;
      log(
        `${entityRef} ${version} waits for approval in ${environment}: approve it on the Environments tab as a user holding kube-delivery.deployment.approve`,
      );
      return;
    }
    if (finished.status !== 'succeeded') {
      throw new Error(
        `Deploying ${entityRef} ${version} to ${environment} ended ${finished.status}` +
          `${
            finished.message ? `: ${finished.message}` : ''
          }; see its steps on the Environments tab`,
      );
    }
    log(`${entityRef} ${version} runs in ${environment}`);
  }

  async function ensureRoute(route: (typeof BRANCH_ROUTES)[number]) {
    const path = entityPathOf(route.entityRef);
    const rules = await bodyOf(
      client.listRoutes({ path, query: { environment: 'dev' } }),
    );
    if (
      rules.items.some(r => r.branch === 'myfeature' && r.value === route.value)
    ) {
      return;
    }
    await bodyOf(
      client.createRoute({
        path,
        body: {
          environment: 'dev',
          branch: 'myfeature',
          kind: route.kind,
          key: route.key,
          value: route.value,
        },
      }),
    );
    summary.routesCreated += 1;
    log(
      `${route.entityRef}: ${route.kind} ${route.key}=${route.value} goes to myfeature in dev`,
    );
  }

  /** A certificate on the dev gateway, unless one is active and usable there. */
  async function ensureCertificate() {
    const path = { name: CERTIFICATE_ENVIRONMENT };
    const list = await bodyOf(client.listCertificates({ path }));
    const usable = list.items.some(
      c => c.active && (c.status === 'ok' || c.status === 'expiring'),
    );
    if (usable) return;
    let pem: { certificateChain: string; privateKey: string };
    try {
      pem = await generateDemoCertificate(list.gateway.hosts);
    } catch (error) {
      // Everything else of the demo works without it.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      log(
        'openssl is not installed: no demo certificate on the dev gateway (install openssl and start again)',
      );
      return;
    }
    const { certificate } = await bodyOf(
      client.uploadCertificate({ path, body: { format: 'pem', ...pem } }),
    );
    summary.certificatesUploaded += 1;
    log(
      `${CERTIFICATE_ENVIRONMENT} gateway serves ${
        certificate.subject
      } (${certificate.sans.join(', ')}) until ${certificate.notAfter}`,
    );
  }

  const everything = [...BOUTIQUE_SERVICES, REDIS_CART];

  // On a first start the catalog reads examples/online-boutique in the
  // background; Kube Delivery answers 404 for an entity until then.
  const deadline = Date.now() + catalogWaitMs;
  for (let waiting = everything; waiting.length > 0; ) {
    const found = await Promise.all(
      waiting.map(ref =>
        bodyOf(client.listReleases({ path: entityPathOf(ref) })).then(
          () => true,
          error => {
            if (error?.response?.status === 404 && Date.now() < deadline)
              return false;
            throw error;
          },
        ),
      ),
    );
    waiting = waiting.filter((_, i) => !found[i]);
    if (waiting.length > 0) {
      log(
        `waiting for the catalog to read ${waiting.length} Online Boutique entities`,
      );
      await new Promise(resolve => setTimeout(resolve, 2000));
    }
  }
  const releaseOf = (entityRef: string, version: string) =>
    entityRef === REDIS_CART ? REDIS_RELEASE : { version };

  // Releases are cheap and independent; deployments go in lifecycle order.
  await Promise.all([
    ensureCertificate(),
    ...everything.map(ref => ensureRelease(ref, releaseOf(ref, MAINLINE))),
  ]);
  for (const environment of ['dev', 'test', 'production']) {
    await Promise.all(
      everything.map(ref =>
        ensureDeployed(ref, environment, releaseOf(ref, MAINLINE).version),
      ),
    );
  }
  await Promise.all(
    BOUTIQUE_SERVICES.map(async ref => {
      await ensureRelease(ref, { version: NEXT });
      await ensureDeployed(ref, 'dev', NEXT);
    }),
  );
  await Promise.all(
    BRANCH_ROUTES.map(async route => {
      await ensureRelease(route.entityRef, { version: BRANCH });
      await ensureDeployed(route.entityRef, 'dev', BRANCH);
      await ensureRoute(route);
    }),
  );
  return summary;
}
