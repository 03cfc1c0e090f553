/* eslint jest/expect-expect: ["warn", { "assertFunctionNames": ["expect", "expectRefused"] }] */
import {
  mockCredentials,
  type TestBackend,
} from '@backstage/backend-test-utils';
import type { Entity } from '@backstage/catalog-model';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { getDevCluster, type DevCluster } from '@internal/devcluster';
import {
  kubeDeliveryDeployPermission,
  kubeDeliveryReadPermission,
  kubeDeliveryReleaseCreatePermission,
  kubeDeliveryRollbackPermission,
} from '@internal/plugin-kube-delivery-common';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { adserviceManifest } from './__testUtils__/boutiqueManifests';
import { startDeliveryBackend } from './__testUtils__/deliveryBackend';
import {
  entityWithManifest,
  kubectlJson,
  uniqueName,
} from './__testUtils__/deliveryHarness';
import { createTestDatabases } from './__testUtils__/testDatabases';

jest.setTimeout(180_000);

const API = '/api/kube-delivery';
const entityPath = (name: string) =>
  `${API}/entities/component/default/${name}`;
const entityRef = (name: string) => `component:default/${name}`;

const asUser = () => mockCredentials.user.header();
const asService = () => mockCredentials.service.header();

/**
 * The catalog of this file. The in-memory catalog copies its entities when the
 * backends start, so every test declares its service here, at collection
 * time, each under its own name.
 */
const catalog = new Map<string, { entity: Entity; hidden: boolean }>();

/** Declares a catalog service with its own name and manifest; returns the name. */
function service(
  options: { annotations?: Record<string, string>; hidden?: boolean } = {},
): string {
  const name = uniqueName('adservice');
  const { entity } = entityWithManifest({
    name,
    manifest: adserviceManifest(name),
    annotations: options.annotations,
  });
  catalog.set(name, { entity, hidden: options.hidden ?? false });
  return name;
}

/** What must exist for a request to succeed, had it been let through. */
type Given = 'release' | 'deployed';

/** A request to an entity endpoint. */
interface Call {
  method: 'get' | 'post';
  /** Path under the entity, query included, e.g. `/releases`. */
  route: string;
  /** A JSON body; `raw` sends the text as `application/json` instead. */
  body?: unknown;
  raw?: string;
  given?: Given;
}

const READ = kubeDeliveryReadPermission.name;
const DEPLOY = kubeDeliveryDeployPermission.name;
const ROLLBACK = kubeDeliveryRollbackPermission.name;
const RELEASE = kubeDeliveryReleaseCreatePermission.name;

/** Every entity endpoint with a valid request, the permission it checks and what it needs to succeed. */
// prettier-ignore
const ENTITY_ENDPOINTS: Array<Call & { title: string; permission: string }> = [
  { title: 'GET status', method: 'get', route: '/status', permission: READ },
  { title: 'GET releases', method: 'get', route: '/releases', permission: READ },
  { title: 'POST releases', method: 'post', route: '/releases', body: { version: '0.1.3' }, permission: RELEASE },
  { title: 'GET deployments', method: 'get', route: '/deployments', permission: READ },
  { title: 'GET deployments/:id', method: 'get', route: `/deployments/${randomUUID()}`, permission: READ },
  { title: 'POST deployments', method: 'post', route: '/deployments', body: { environment: 'dev', version: '0.1.3' }, permission: DEPLOY, given: 'release' },
  { title: 'POST rollbacks', method: 'post', route: '/rollbacks', body: { environment: 'dev', version: '0.1.3' }, permission: ROLLBACK, given: 'release' },
  { title: 'POST restarts', method: 'post', route: '/restarts', body: { environment: 'dev' }, permission: DEPLOY, given: 'deployed' },
];

/** Each entity endpoint with a service of its own: one test per row. */
function perEndpoint(options: { hidden?: boolean } = {}) {
  return ENTITY_ENDPOINTS.map(endpoint => ({
    ...endpoint,
    name: service(options),
  }));
}

const LONG = 'x'.repeat(10_000);
const SHA256 = `sha256:${'a'.repeat(64)}`;

/**
 * Hostile requests, by endpoint: [what, body, the 400 message naming the field].
 * Requests to deploy or roll back find release 0.1.3 in place, so only the
 * hostile part can refuse them.
 */
// prettier-ignore
const HOSTILE_RELEASES: Array<[string, unknown, RegExp]> = [
  ['an unknown field', { version: '0.1.3', registry: 'evil.example' }, /^Unknown field "registry"/],
  [
    'an image repository the entity does not allow',
    { version: '0.1.3', image: 'evil/image' },
    /^Image repository "evil\/image" is not the entity's/,
  ],
  ['an unknown field named like an Object method', { version: '0.1.3', constructor: 'x' }, /^Unknown field "constructor"/],
  ['no version', {}, /^Field "version" is required/],
  ['a number as version', { version: 1 }, /^Field "version" must be a string/],
  ['an array as version', { version: ['0.1.3'] }, /^Field "version" must be a string/],
  ['an object as version', { version: { major: 0 } }, /^Field "version" must be a string/],
  ['null as version', { version: null }, /^Field "version" must be a string/],
  ['a boolean as tag', { version: '0.1.3', tag: true }, /^Field "tag" must be a string/],
  ['a newline in version', { version: '0.1.3\n' }, /^Field "version" contains control characters/],
  ['a NUL in tag', { version: '0.1.3', tag: 'v1\u0000' }, /^Field "tag" contains control characters/],
  ['an escape sequence in digest', { version: '0.1.3', digest: `${SHA256}\u001b[2J` }, /^Field "digest" contains control characters/],
  ['a 10 kB version', { version: LONG }, /^Field "version" must NOT have more than 128 characters/],
  ['a 10 kB tag', { version: '0.1.3', tag: LONG }, /^Field "tag" must NOT have more than 128 characters/],
  ...['1.0', 'v1.0.0', '1.0.0-', '01.0.0', '1.0.0+', '1.0.0-01', ' 1.0.0'].map(
    (version): [string, unknown, RegExp] => [`version ${JSON.stringify(version)}`, { version }, /^Version ".*" is not SemVer 2\.0\.0/],
  ),
  ['a digest that is not sha256', { version: '0.1.3', digest: `md5:${'a'.repeat(32)}` }, /^Image digest must look like sha256:/],
  ['a sha256 digest in uppercase', { version: '0.1.3', digest: `sha256:${'A'.repeat(64)}` }, /^Image digest must look like sha256:/],
  ['a tag with "/"', { version: '0.1.3', tag: 'feature/x' }, /^Image tag must be/],
  ['a tag starting with "-"', { version: '0.1.3', tag: '-x' }, /^Image tag must be/],
  ['an empty JSON array', [], /^The request body must be a JSON object/],
  ['a JSON array of a valid body', [{ version: '0.1.3' }], /^The request body must be a JSON object/],
];

// prettier-ignore
const HOSTILE_DEPLOYMENTS: Array<[string, unknown, RegExp]> = [
  ['an unknown field', { environment: 'dev', version: '0.1.3', namespace: 'kube-system' }, /^Unknown field "namespace"/],
  ['an unknown environment', { environment: 'staging', version: '0.1.3' }, /^Unknown environment "staging"; configured: dev, test, production/],
  ['a namespace as environment', { environment: 'kube-system', version: '0.1.3' }, /^Unknown environment "kube-system"/],
  ['a newline in environment', { environment: 'dev\n', version: '0.1.3' }, /^Field "environment" contains control characters/],
  ['a 10 kB environment', { environment: LONG, version: '0.1.3' }, /^Field "environment" must NOT have more than 63 characters/],
  ['a number as releaseId', { environment: 'dev', releaseId: 7 }, /^Field "releaseId" must be a string/],
  ['neither version nor releaseId', { environment: 'dev' }, /^Give either releaseId or version/],
  ['version "v0.1.3"', { environment: 'dev', version: 'v0.1.3' }, /^Version "v0\.1\.3" is not SemVer 2\.0\.0/],
  ['a JSON array', [{ environment: 'dev', version: '0.1.3' }], /^The request body must be a JSON object/],
];

// prettier-ignore
const HOSTILE_ROLLBACKS: Array<[string, unknown, RegExp]> = [
  ['an unknown field', { environment: 'dev', version: '0.1.3', force: true }, /^Unknown field "force"/],
  ['an unknown environment', { environment: 'staging', version: '0.1.3' }, /^Unknown environment "staging"/],
];

// prettier-ignore
const HOSTILE_RESTARTS: Array<[string, unknown, RegExp]> = [
  ['an unknown field', { environment: 'dev', version: '0.1.3' }, /^Unknown field "version"/],
  ['an unknown environment', { environment: 'staging' }, /^Unknown environment "staging"/],
  ['an object as environment', { environment: { name: 'dev' } }, /^Field "environment" must be a string/],
];

/** Hostile queries of the deployment history: [query, message]. */
// prettier-ignore
const HOSTILE_HISTORY_QUERIES: Array<[string, RegExp]> = [
  ['limit=0', /^Query parameter "limit" must be >= 1/],
  ['limit=101', /^Query parameter "limit" must be <= 100/],
  ['limit=ten', /^Query parameter "limit" must be an integer/],
  ['environment=dev&environment=test', /^Query parameter "environment" must be a string/],
  ['offset=5', /^Unknown query parameter 'offset'/],
];

/** Requests that do not get as far as a JSON object: [what, raw body or object, status, message]. */
// prettier-ignore
const UNREADABLE_RELEASE_BODIES: Array<[string, Pick<Call, 'raw' | 'body'>, number, RegExp]> = [
  ['a __proto__ field', { raw: '{"version":"0.1.3","__proto__":{"tag":"evil"}}' }, 400, /^Unknown field "__proto__"/],
  ['a JSON string', { raw: '"0.1.3"' }, 400, /^The request body is not valid JSON$/],
  // The parser's own message quotes the body, which may hold a secret: never echoed.
  ['malformed JSON', { raw: '{"version": "0.1.3", "tag": "s3cr3t-token' }, 400, /^The request body is not valid JSON$/],
  ['a 100 kB body', { body: { version: '0.1.3', tag: 'x'.repeat(100_000) } }, 413, /too large/],
];

/** Entities whose annotations are hostile: [annotation, value, message naming it]. */
// prettier-ignore
const HOSTILE_ANNOTATIONS: Array<[string, string, RegExp]> = [
  ['kube-delivery.io/replicas', 'abc', /^Annotation kube-delivery\.io\/replicas must be an integer from 1 to 50, got "abc"/],
  ['kube-delivery.io/strategy', 'canary', /^Annotation kube-delivery\.io\/strategy must be one of rolling, recreate, blue-green, got "canary"/],
  ['kube-delivery.io/image', 'Example.test/Boutique/AdService', /^Annotation kube-delivery\.io\/image must be a lowercase image repository/],
  ['kube-delivery.io/manifest', '../../etc/passwd', /^Annotation kube-delivery\.io\/manifest must be a relative path inside/],
];

interface HostileCase {
  title: string;
  call: Call;
  status: number;
  message: RegExp;
  annotations?: Record<string, string>;
}

const HOSTILE_CASES: HostileCase[] = [
  ...HOSTILE_RELEASES.map(([what, body, message]) => ({
    title: `POST releases with ${what}`,
    call: { method: 'post' as const, route: '/releases', body },
    status: 400,
    message,
  })),
  ...UNREADABLE_RELEASE_BODIES.map(([what, payload, status, message]) => ({
    title: `POST releases with ${what}`,
    call: { method: 'post' as const, route: '/releases', ...payload },
    status,
    message,
  })),
  ...(
    [
      ['deployments', HOSTILE_DEPLOYMENTS],
      ['rollbacks', HOSTILE_ROLLBACKS],
      ['restarts', HOSTILE_RESTARTS],
    ] as const
  ).flatMap(([route, rows]) =>
    rows.map(([what, body, message]) => ({
      title: `POST ${route} with ${what}`,
      call: {
        method: 'post' as const,
        route: `/${route}`,
        body,
        given: route === 'restarts' ? undefined : ('release' as const),
      },
      status: 400,
      message,
    })),
  ),
  ...HOSTILE_HISTORY_QUERIES.map(([query, message]) => ({
    title: `GET deployments?${query}`,
    call: { method: 'get' as const, route: `/deployments?${query}` },
    status: 400,
    message,
  })),
  ...HOSTILE_ANNOTATIONS.map(([annotation, value, message]) => ({
    title: `POST releases for an entity with ${annotation}: ${JSON.stringify(
      value,
    )}`,
    call: {
      method: 'post' as const,
      route: '/releases',
      body: { version: '0.1.3' },
    },
    status: 400,
    message,
    annotations: { [annotation]: value },
  })),
];

function send(
  backend: TestBackend,
  name: string,
  call: Call,
  authorization?: string,
) {
  let req = request(backend.server)[call.method](
    `${entityPath(name)}${call.route}`,
  );
  if (authorization) req = req.set('Authorization', authorization);
  if (call.raw !== undefined) {
    return req.set('Content-Type', 'application/json').send(call.raw);
  }
  return call.body === undefined ? req : req.send(call.body as object);
}

describe('kube-delivery router', () => {
  const databases = createTestDatabases();
  let cluster: DevCluster;
  /** Permission policy ALLOW; the catalog shows every service. */
  let allowed: TestBackend;
  /** Permission policy DENY; same catalog and database. */
  let denied: TestBackend;
  /** Permission policy ALLOW, but the catalog does not show the `hidden` services. */
  let blind: TestBackend;
  const rolledOut = new Set<string>();

  beforeAll(async () => {
    cluster = await getDevCluster();
    const knex = await databases.init('SQLITE_3');
    const services = [...catalog.values()];
    const start = (
      permission: AuthorizeResult.ALLOW | AuthorizeResult.DENY,
      entities: Entity[],
    ) =>
      startDeliveryBackend({
        cluster,
        knex,
        permission,
        entities,
        // The mock service token's subject, granted what CI does.
        configure: config => {
          config.kubeDelivery.servicePrincipals = [
            {
              subject: 'external:test-service',
              permissions: [
                'kube-delivery.read',
                'kube-delivery.release.create',
                'kube-delivery.deployment.create',
                'kube-delivery.rollback.create',
              ],
              environments: ['dev', 'test'],
            },
          ];
        },
      });
    // One after the other: each runs the migrations on the shared database.
    allowed = await start(
      AuthorizeResult.ALLOW,
      services.map(s => s.entity),
    );
    denied = await start(
      AuthorizeResult.DENY,
      services.map(s => s.entity),
    );
    blind = await start(
      AuthorizeResult.ALLOW,
      services.filter(s => !s.hidden).map(s => s.entity),
    );
  });

  afterAll(async () => {
    // startTestBackend stops the backends; remove what the tests rolled out.
    for (const name of rolledOut) {
      await cluster?.kubectl([
        'delete',
        'deployments,services,configmaps,poddisruptionbudgets',
        '--all-namespaces',
        '--ignore-not-found',
        '--wait=false',
        '-l',
        `app.kubernetes.io/name=${name}`,
      ]);
    }
  });

  /** Polls a deployment as an allowed user until it is no longer queued or running. */
  async function settle(name: string, id: string, timeoutMs = 120_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const res = await send(
        allowed,
        name,
        { method: 'get', route: `/deployments/${id}` },
        asUser(),
      );
      expect(res.status).toBe(200);
      if (!['queued', 'running'].includes(res.body.status)) return res.body;
      if (Date.now() > deadline) {
        throw new Error(
          `Deployment ${id} still ${res.body.status} after ${timeoutMs} ms`,
        );
      }
      await new Promise(resolve => setTimeout(resolve, 200));
    }
  }

  /** Brings a service to the state a request needs, as an allowed user. */
  async function arrange(name: string, given: Given | undefined) {
    if (!given) return;
    const release = await send(
      allowed,
      name,
      { method: 'post', route: '/releases', body: { version: '0.1.3' } },
      asUser(),
    );
    expect(release.status).toBe(201);
    if (given === 'deployed') {
      rolledOut.add(name);
      const queued = await send(
        allowed,
        name,
        {
          method: 'post',
          route: '/deployments',
          body: { environment: 'dev', releaseId: release.body.id },
        },
        asUser(),
      );
      expect(queued.status).toBe(202);
      expect((await settle(name, queued.body.id)).status).toBe('succeeded');
    }
  }

  /**
   * What has been delivered of a service: its releases and deployments as an
   * allowed user reads them over the API, and its Deployments in the cluster
   * (by name, feature-branch copies included) with their generation, which
   * every change of their spec increments.
   */
  async function delivered(name: string) {
    const read = (route: string) =>
      send(allowed, name, { method: 'get', route }, asUser());
    const [releases, deployments] = await Promise.all([
      read('/releases'),
      read('/deployments'),
    ]);
    expect([releases.status, deployments.status]).toEqual([200, 200]);
    const workloads = await kubectlJson(cluster, [
      'get',
      'deployments',
      '--all-namespaces',
    ]);
    return {
      releases: releases.body.items.map((r: any) => r.version),
      deployments: deployments.body.items.map(
        (d: any) => `${d.kind} ${d.version} ${d.status}`,
      ),
      workloads: workloads.items
        .map((d: any) => d.metadata)
        .filter((m: any) => m.name === name || m.name.startsWith(`${name}-`))
        .map((m: any) => `${m.namespace}/${m.name} generation ${m.generation}`),
    };
  }

  /**
   * Sends a request that must be refused with `status` and `message`, and
   * checks that it changed nothing: with nothing `given`, that nothing at all
   * was delivered of the service.
   */
  async function expectRefused(
    backend: TestBackend,
    name: string,
    call: Call,
    authorization: string | undefined,
    expected: { status: number; message: RegExp },
  ) {
    await arrange(name, call.given);
    const before = await delivered(name);
    if (!call.given) {
      expect(before).toEqual({ releases: [], deployments: [], workloads: [] });
    }
    const res = await send(backend, name, call, authorization);
    expect({ status: res.status, body: res.body }).toMatchObject({
      status: expected.status,
      body: { error: { message: expect.stringMatching(expected.message) } },
    });
    expect(await delivered(name)).toEqual(before);
    return res;
  }

  describe('without valid credentials', () => {
    it.each([
      { title: 'no Authorization header', authorization: undefined },
      { title: 'a none token', authorization: mockCredentials.none.header() },
      {
        title: 'an invalid user token',
        authorization: mockCredentials.user.invalidHeader(),
      },
      {
        title: 'an invalid service token',
        authorization: mockCredentials.service.invalidHeader(),
      },
    ])('GET environments answers 401 to $title', async ({ authorization }) => {
      let req = request(allowed.server).get(`${API}/environments`);
      if (authorization) req = req.set('Authorization', authorization);
      const res = await req;
      expect(res.status).toBe(401);
      expect(res.body.error.name).toBe('AuthenticationError');
      expect(res.body.items).toBeUndefined();
    });

    it.each(perEndpoint())(
      '$title answers 401 and changes nothing',
      async ({ name, permission: _, ...call }) => {
        await expectRefused(allowed, name, call, undefined, {
          status: 401,
          message: /credentials/i,
        });
      },
    );
  });

  describe('when the permission policy denies', () => {
    it.each(perEndpoint())(
      '$title answers 403 naming $permission and changes nothing',
      async ({ name, permission, ...call }) => {
        // What is done in an environment names the target <environment>:<entity ref>.
        const environment = (call.body as { environment?: string } | undefined)
          ?.environment;
        const target = environment
          ? `${environment}:${entityRef(name)}`
          : entityRef(name);
        const res = await expectRefused(denied, name, call, asUser(), {
          status: 403,
          message: new RegExp(
            `^You may not ${permission.replace(/\./g, '\\.')} on ${target}`,
          ),
        });
        expect(res.body.error.name).toBe('NotAllowedError');
      },
    );
  });

  describe('when the catalog does not show the entity to the caller', () => {
    it.each(perEndpoint({ hidden: true }))(
      '$title answers 404 and changes nothing',
      async ({ name, permission: _, ...call }) => {
        const res = await expectRefused(blind, name, call, asUser(), {
          status: 404,
          message: new RegExp(`^No entity ${entityRef(name)}$`),
        });
        expect(res.body.error.name).toBe('NotFoundError');
      },
    );
  });

  describe('hostile input', () => {
    it.each(
      HOSTILE_CASES.map(c => ({
        ...c,
        name: service({ annotations: c.annotations }),
      })),
    )(
      '$title answers $status naming the field and changes nothing',
      async ({ name, call, status, message }) => {
        await expectRefused(allowed, name, call, asUser(), { status, message });
      },
    );
  });

  it('lists the environments in lifecycle order without their cluster credentials', async () => {
    const res = await request(allowed.server)
      .get(`${API}/environments`)
      .set('Authorization', asService());
    expect(res.status).toBe(200);
    expect(res.body.items).toEqual([
      {
        name: 'dev',
        namespace: 'dev',
        protected: false,
        featureBranches: true,
      },
      {
        name: 'test',
        namespace: 'test',
        protected: false,
        featureBranches: true,
      },
      {
        name: 'production',
        namespace: 'production',
        protected: true,
        featureBranches: false,
        minReplicas: 2,
      },
    ]);
    for (const secret of [
      cluster.tokens.dev,
      cluster.tokens.production,
      cluster.caData,
    ]) {
      expect(res.text).not.toContain(secret);
    }
  });

  describe('with a service token and the permission policy allowing', () => {
    const name = service();
    const otherName = service();
    const call = (c: Call) => send(allowed, name, c, asService());

    it('releases, deploys, reports status and history, and refuses a second release of a version', async () => {
      rolledOut.add(name);
      const release = await call({
        method: 'post',
        route: '/releases',
        body: { version: '0.1.3' },
      });
      expect(release.status).toBe(201);
      expect(release.body).toMatchObject({
        entityRef: entityRef(name),
        version: '0.1.3',
        imageRef: `example.test/boutique/${name}:0.1.3`,
        channel: 'default',
        createdBy: 'service:external:test-service',
      });
      // The manifest snapshot stays in the database.
      expect(release.body).not.toHaveProperty('snapshot');
      expect(release.text).not.toMatch(/apiVersion|ADS_PER_PAGE|deploy\.yaml/);

      const queued = await call({
        method: 'post',
        route: '/deployments',
        body: { environment: 'dev', version: '0.1.3' },
      });
      expect(queued.status).toBe(202);
      expect(queued.body).toMatchObject({
        entityRef: entityRef(name),
        environment: 'dev',
        releaseId: release.body.id,
        version: '0.1.3',
        kind: 'deploy',
        strategy: 'rolling',
        status: 'queued',
        createdBy: 'service:external:test-service',
      });

      const done = await settle(name, queued.body.id);
      expect(`${done.status}: ${done.message}`).toMatch(/^succeeded: /);

      const status = await call({ method: 'get', route: '/status' });
      expect(status.status).toBe(200);
      const byEnvironment = Object.fromEntries(
        status.body.items.map((s: any) => [s.environment, s]),
      );
      expect(Object.keys(byEnvironment)).toEqual(['dev', 'test', 'production']);
      const dev = byEnvironment.dev;
      expect(dev).toMatchObject({
        namespace: 'dev',
        current: { id: queued.body.id, version: '0.1.3', status: 'succeeded' },
        active: [],
        rollout: { exists: true, complete: true, desired: 1, ready: 1 },
      });
      expect(dev.rolloutError).toBeUndefined();
      expect(dev.rollout.pods).toEqual([
        expect.objectContaining({
          ready: true,
          phase: 'Running',
          node: expect.stringMatching(/\S/),
        }),
      ]);
      expect(byEnvironment.test.current).toBeUndefined();
      expect(byEnvironment.production.current).toBeUndefined();

      const history = await call({ method: 'get', route: '/deployments' });
      expect(history.status).toBe(200);
      expect(history.body.items.map((d: any) => `${d.id} ${d.status}`)).toEqual(
        [`${queued.body.id} succeeded`],
      );

      const workload = await kubectlJson(cluster, [
        '-n',
        'dev',
        'get',
        'deployment',
        name,
      ]);
      expect(workload.spec.template.spec.containers[0].image).toBe(
        `example.test/boutique/${name}:0.1.3`,
      );

      // A deployment is found only under its own entity.
      const elsewhere = await send(
        allowed,
        otherName,
        { method: 'get', route: `/deployments/${queued.body.id}` },
        asService(),
      );
      expect(elsewhere.status).toBe(404);

      const again = await call({
        method: 'post',
        route: '/releases',
        body: { version: '0.1.3' },
      });
      expect(again.status).toBe(409);
      expect(again.body.error.message).toMatch(
        /^Release 0\.1\.3 of component:default\/\S+ already exists/,
      );
      const releases = await call({ method: 'get', route: '/releases' });
      expect(releases.body.items).toEqual([release.body]);
    });
  });
});
