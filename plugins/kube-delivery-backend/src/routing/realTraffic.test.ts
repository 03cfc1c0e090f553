import {
  mockCredentials,
  type TestBackend,
} from '@backstage/backend-test-utils';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import type { Knex } from 'knex';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { frontendManifest } from '../__testUtils__/boutiqueManifests';
import { startDeliveryBackend } from '../__testUtils__/deliveryBackend';
import { getDevCluster, type DevCluster } from '@internal/devcluster';
import {
  entityWithManifest,
  uniqueName,
} from '../__testUtils__/deliveryHarness';
import { printFigures } from '../__testUtils__/figures';
import {
  GatewayClient,
  servedManifest,
  startLoad,
  TRAEFIK_DEV_GATEWAY,
  waitUntil,
  type GatewayAnswer,
} from '../__testUtils__/gatewayTraffic';
import {
  deployThroughApi,
  removeRoutedServices,
  withDevGateway,
} from '../__testUtils__/routingScenario';
import { createTestDatabases } from '../__testUtils__/testDatabases';

jest.setTimeout(600_000);

const USERS = 10_000;
const MAINLINE = '0.1.3';
const BRANCH = '0.1.4-myfeature';

/**
 * Feature-branch routing proven with real requests: Traefik serves the dev Gateway
 * (Gateway API) and routes by the HTTPRoute Kube Delivery writes; the pod runner
 * answers from the mainline's or the branch's pod, naming its version.
 */
describe('feature-branch routing with real HTTP traffic through Traefik (routingApi gateway-api)', () => {
  const databases = createTestDatabases();
  const name = uniqueName('frontend');
  const host = `${name}.dev.boutique.example`;
  const { entity } = entityWithManifest({
    name,
    manifest: servedManifest(frontendManifest(name)),
    annotations: {
      'kube-delivery.io/routing': 'cookie:shop_session-id',
      'kube-delivery.io/ingress': `${TRAEFIK_DEV_GATEWAY.namespace}/${TRAEFIK_DEV_GATEWAY.name}`,
      'kube-delivery.io/hosts': host,
    },
  });
  const routes = `/api/kube-delivery/entities/component/default/${name}/routes`;
  const auth = () => mockCredentials.user.header();
  let knex: Knex;
  let cluster: DevCluster;
  let backend: TestBackend;
  let client: GatewayClient;

  // The chosen users: three by cookie, three by header, three by baggage.
  const chosen = {
    cookie: [randomUUID(), randomUUID(), randomUUID()],
    header: [randomUUID(), randomUUID(), randomUUID()],
    baggage: [randomUUID(), randomUUID(), randomUUID()],
  };

  beforeAll(async () => {
    knex = await databases.init('SQLITE_3');
    cluster = await getDevCluster();
    client = new GatewayClient(cluster);
    backend = await startDeliveryBackend({
      cluster,
      knex,
      entities: [entity],
      permission: AuthorizeResult.ALLOW,
      configure: withDevGateway('gateway-api', TRAEFIK_DEV_GATEWAY),
    });
    // Through the API, so the environment's config (its shutdown delay) applies.
    for (const version of [MAINLINE, BRANCH]) {
      const deployed = await deployThroughApi(backend, entity, version);
      if (deployed.status !== 'succeeded') {
        throw new Error(`Deploying ${version}: ${deployed.message}`);
      }
    }
    for (const [kind, key] of [
      ['cookie', 'shop_session-id'],
      ['header', 'userid'],
      ['baggage', 'kd-branch'],
    ] as const) {
      for (const value of chosen[kind]) {
        const res = await request(backend.server)
          .post(routes)
          .set('Authorization', auth())
          .send({ environment: 'dev', branch: 'myfeature', kind, key, value });
        if (res.status !== 201) {
          throw new Error(
            `Rule by ${kind}: ${res.status} ${JSON.stringify(res.body)}`,
          );
        }
      }
    }
  });

  afterAll(async () => {
    client?.close();
    await backend?.stop();
    if (cluster) {
      await removeRoutedServices(
        cluster,
        [name],
        'httproutes.gateway.networking.k8s.io',
      );
    }
  });

  /** The headers of user `i` of the sweep, and whether a rule chose them. */
  function user(i: number): {
    headers: Record<string, string>;
    chosen: boolean;
  } {
    // Every user sends all three keys; a chosen one sends its chosen value in one.
    const slot = i % 1000 === 7 ? Math.floor(i / 1000) : -1;
    const pick = (kind: keyof typeof chosen) => {
      const index = slot - ['cookie', 'header', 'baggage'].indexOf(kind) * 3;
      return index >= 0 && index < 3 ? chosen[kind][index] : undefined;
    };
    const cookie = pick('cookie');
    const header = pick('header');
    const baggage = pick('baggage');
    return {
      chosen: Boolean(cookie || header || baggage),
      headers: {
        cookie: `currency=EUR; shop_session-id=${cookie ?? randomUUID()}`,
        userid: header ?? randomUUID(),
        baggage: `tenant=boutique,kd-branch=${baggage ?? randomUUID()}`,
      },
    };
  }

  it(`answers ${USERS} users: the chosen ones from the branch pod, everyone else from the mainline, as the route tester says`, async () => {
    const first = user(7);
    expect(first.chosen).toBe(true);
    // Traefik acts on the HTTPRoute a moment after it is written.
    await waitUntil(
      'Traefik to route a chosen user to the branch',
      async () => {
        const answer = await client.get(host, first.headers);
        return answer.version === BRANCH;
      },
    );

    let misrouted = 0;
    let errors = 0;
    let testerDisagrees = 0;
    let chosenCount = 0;
    const answeredBy = new Set<string>();
    const examples: string[] = [];
    const started = Date.now();
    const describeAnswer = (i: number, answer: GatewayAnswer) =>
      `user ${i}: ${answer.status} ${
        answer.version ?? answer.error ?? answer.body
      }`;
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < USERS; i = next++) {
        const { headers, chosen: isChosen } = user(i);
        if (isChosen) chosenCount++;
        const [answer, tester] = await Promise.all([
          client.get(host, headers),
          request(backend.server)
            .post(`${routes}/test`)
            .set('Authorization', auth())
            .send({ environment: 'dev', headers }),
        ]);
        const expected = isChosen ? BRANCH : MAINLINE;
        if (answer.status !== 200 || !answer.pod) {
          errors++;
          if (examples.length < 5) examples.push(describeAnswer(i, answer));
          continue;
        }
        answeredBy.add(answer.pod);
        if (answer.version !== expected) {
          misrouted++;
          if (examples.length < 5) examples.push(describeAnswer(i, answer));
        }
        const testerHosts: Record<string, string> = {
          [`${name}-myfeature`]: BRANCH,
          [name]: MAINLINE,
        };
        const testerVersion =
          testerHosts[tester.body?.destination?.host] ??
          `tester said ${JSON.stringify(tester.body)}`;
        if (testerVersion !== answer.version) testerDisagrees++;
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    const seconds = (Date.now() - started) / 1000;
    printFigures('routing through Traefik (gateway-api)', {
      users: USERS,
      chosen: chosenCount,
      misrouted,
      errors,
      routeTesterDisagrees: testerDisagrees,
      podsAnswering: answeredBy.size,
      seconds: seconds.toFixed(1),
      requestsPerSecond: Math.round(USERS / seconds),
    });
    expect(examples).toEqual([]);
    expect({ chosenCount, misrouted, errors, testerDisagrees }).toEqual({
      chosenCount: 9,
      misrouted: 0,
      errors: 0,
      testerDisagrees: 0,
    });
  });

  it('removing the branch under traffic moves its users to the mainline with no failed request', async () => {
    const branchUser = user(7).headers;
    const before = await client.get(host, branchUser);
    expect(before.version).toBe(BRANCH);
    const branchLoad = startLoad({
      client,
      host,
      headers: branchUser,
      rps: 50,
    });
    const mainlineLoad = startLoad({
      client,
      host,
      headers: user(1).headers,
      rps: 20,
    });
    await new Promise(resolve => setTimeout(resolve, 2000));
    const removal = await request(backend.server)
      .delete(
        `/api/kube-delivery/entities/component/default/${name}/branches/dev/myfeature`,
      )
      .set('Authorization', auth());
    expect(removal.status).toBe(200);
    // Until the branch's pods are gone, and a moment after.
    await waitUntil(
      'the branch pods to be gone',
      async () => {
        const pods = await cluster.kubectl([
          '-n',
          'dev',
          'get',
          'pods',
          '-l',
          `app.kubernetes.io/name=${name}`,
          '-o',
          'jsonpath={.items[*].metadata.labels.version}',
        ]);
        return !pods.stdout.includes('myfeature');
      },
      90_000,
    );
    await new Promise(resolve => setTimeout(resolve, 2000));
    const branchFigures = await branchLoad.stop();
    const mainlineFigures = await mainlineLoad.stop();
    printFigures('branch removal under traffic (Traefik)', {
      branchUserRequests: branchFigures.sent,
      branchUserFailed: branchFigures.failed,
      branchUserVersions: JSON.stringify(branchFigures.versions),
      mainlineUserRequests: mainlineFigures.sent,
      mainlineUserFailed: mainlineFigures.failed,
      seconds: branchFigures.seconds,
    });
    expect(branchFigures.failures.slice(0, 5)).toEqual([]);
    expect(mainlineFigures.failures.slice(0, 5)).toEqual([]);
    expect(branchFigures.versions[BRANCH]).toBeGreaterThan(0);
    expect(branchFigures.versions[MAINLINE]).toBeGreaterThan(0);
    expect((await client.get(host, branchUser)).version).toBe(MAINLINE);
  });
});
