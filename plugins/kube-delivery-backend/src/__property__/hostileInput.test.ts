/* eslint jest/expect-expect: ["warn", { "assertFunctionNames": ["expect", "expectAnswer"] }] */
import {
  mockCredentials,
  type TestBackend,
} from '@backstage/backend-test-utils';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { getDevCluster, type DevCluster } from '@internal/devcluster';
import fc from 'fast-check';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { adserviceManifest } from '../__testUtils__/boutiqueManifests';
import { startDeliveryBackend } from '../__testUtils__/deliveryBackend';
import { startFaultProxy, type FaultProxy } from '../__testUtils__/faultProxy';
import { printFigures } from '../__testUtils__/figures';
import { MutableCatalog } from '../__testUtils__/mutableCatalog';
import { manualScheduler } from '../__testUtils__/routingScenario';
import {
  createSharedDatabase,
  type SharedDatabase,
} from '../__testUtils__/sharedDatabase';

jest.setTimeout(600_000);

/**
 * Generated hostile input through the real HTTP router of the plugin in a
 * test backend: catalog annotation sets, manifests (alias bombs, huge
 * documents, deep nesting, custom tags, forbidden objects), versions, route
 * rule and route-tester values, history queries. 10,000 requests in all.
 *
 * Every answer must be a success or a 4xx with a reason, never a 5xx; a
 * refused request must not have sent a single request to the cluster (the
 * backend reaches the devcluster through a proxy that counts them); and in
 * the end the database holds exactly the releases that were answered 201.
 */
const RUNS = {
  annotations: 2500,
  manifests: 2000,
  versions: 2500,
  routes: 1000,
  queries: 2000,
};

const API = '/api/kube-delivery';
const asUser = mockCredentials.user.header();
const database = process.env.KD_TEST_POSTGRES_URL
  ? 'PostgreSQL'
  : 'SQLite file';

/** The official SemVer 2.0.0 regex (semver.org), as the oracle of valid versions. */
const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

// The Kubernetes API paths a refused request could have reached; the status
// cache's own lists and watches of whole collections are background traffic.
const isBackground = (url: string) =>
  /[?&]watch=(true|1)/.test(url) ||
  /^\/(api|apis\/[^/]+)\/[^/]+\/namespaces\/[^/]+\/[a-z]+(\?|$)/.test(url);

/** encodeURIComponent, or for a lone surrogate (not encodable) bytes that are not UTF-8 at all. */
function encodeSegment(segment: string): string {
  try {
    return encodeURIComponent(segment);
  } catch {
    return '%ED%A0%80%FF';
  }
}

const HOSTILE_STRINGS = [
  '',
  ' ',
  '\n',
  '\r\n',
  '\u0000',
  '\u202e',
  '\ud800',
  '../../etc/passwd',
  '/etc/passwd',
  'file:///etc/passwd',
  'http://169.254.169.254/latest/meta-data',
  '${jndi:ldap://x/a}',
  '#{Namespace}',
  '{{ .Values }}',
  '<script>alert(1)</script>',
  "' OR 1=1 --",
  '-1',
  '0',
  '51',
  '1e3',
  '0x10',
  'NaN',
  'Infinity',
  '1.5',
  ' 2',
  'ROLLING',
  'rolling ',
  'cookie:',
  'header:',
  'header:User ID',
  'baggage:a=b',
  'istio-system/',
  '/ingressgateway',
  'kube-system/x',
  'a/b/c',
  '*',
  '.*',
  '^(a+)+$',
  '__proto__',
  'constructor',
  'x'.repeat(300),
  'é'.repeat(70),
  '😀'.repeat(40),
];
const hostileString = fc.oneof(
  fc.constantFrom(...HOSTILE_STRINGS),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ maxLength: 2000, unit: 'grapheme-ascii' }),
);

describe(`hostile input through the HTTP router, property-based (${database})`, () => {
  let cluster: DevCluster;
  let db: SharedDatabase;
  let proxy: FaultProxy;
  let backend: TestBackend;
  const catalog = new MutableCatalog();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kd-hostile-'));
  let serial = 0;
  const figures = {
    requests: 0,
    accepted: 0,
    refused: 0,
    serverErrors: 0,
    clusterRequestsFromRefused: 0,
    clusterRequestsFromAccepted: 0,
    backgroundClusterRequests: 0,
    releasesCreated: 0,
  };
  const byStatus = new Map<number, number>();
  const routeServices = new Set<string>();

  beforeAll(async () => {
    cluster = await getDevCluster();
    db = await createSharedDatabase();
    proxy = await startFaultProxy(cluster);
    backend = await startDeliveryBackend({
      cluster: proxy.cluster,
      knex: db.knex,
      entities: [],
      catalog,
      permission: AuthorizeResult.ALLOW,
      // Scheduled tasks (health checks, expiry) never run: only requests act.
      features: [manualScheduler().factory],
    });
  });

  afterAll(async () => {
    printFigures('hostile input', {
      ...figures,
      statuses: [...byStatus.entries()]
        .sort(([a], [b]) => a - b)
        .map(([status, count]) => `${status}:${count}`)
        .join(' '),
    });
    // The proxy first: it cuts the status cache's watches, which the backend
    // would otherwise wait for; the backend before the database it polls.
    await proxy?.close();
    await backend?.stop();
    // The VirtualServices the accepted rules made (named after the service).
    for (const namespace of ['dev', 'test']) {
      if (routeServices.size === 0) break;
      await cluster?.kubectl([
        'delete',
        'virtualservices.networking.istio.io',
        '-n',
        namespace,
        '--ignore-not-found',
        '--wait=false',
        ...routeServices,
      ]);
    }
    await db?.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** A catalog service; with `manifest`, a manifest file of its own that the annotation points at. */
  function addService(
    annotations: Record<string, string>,
    manifest?: (name: string) => string,
  ): string {
    const name = `hostile-${(serial++).toString(36)}`;
    const all: Record<string, string> = {
      'backstage.io/managed-by-location': `file:${path.join(
        dir,
        'catalog-info.yaml',
      )}`,
      ...annotations,
    };
    if (manifest) {
      fs.writeFileSync(path.join(dir, `${name}.yaml`), manifest(name));
      all['kube-delivery.io/manifest'] = `./${name}.yaml`;
    }
    catalog.set({
      apiVersion: 'backstage.io/v1alpha1',
      kind: 'Component',
      metadata: { name, namespace: 'default', annotations: all },
      spec: {
        type: 'service',
        lifecycle: 'production',
        owner: 'group:default/boutique',
      },
    });
    return name;
  }

  /**
   * Sends one request and checks what every answer must satisfy; returns it.
   * Cluster requests are counted between sending and the answer, minus the
   * status cache's background lists and watches.
   */
  async function send(
    method: 'get' | 'post' | 'delete',
    url: string,
    body?: unknown,
  ) {
    const before = proxy.requests.length;
    let req = request(backend.server)[method](url).set('Authorization', asUser);
    if (body !== undefined) req = req.send(body as object);
    const res = await req;
    const reached = proxy.requests.slice(before);
    const own = reached.filter(r => !isBackground(r.url)).length;
    figures.backgroundClusterRequests += reached.length - own;
    figures.requests++;
    byStatus.set(res.status, (byStatus.get(res.status) ?? 0) + 1);
    if (res.status >= 500) {
      figures.serverErrors++;
      throw new Error(
        `${method.toUpperCase()} ${url} answered ${
          res.status
        }: ${res.text.slice(0, 500)}`,
      );
    }
    if (res.status >= 400) {
      figures.refused++;
      figures.clusterRequestsFromRefused += own;
      // A path with an empty segment matches no route: the framework answers
      // an empty 404. Every other refusal is an error object with a message.
      const unrouted = res.status === 404 && /\/\//.test(url.split('?')[0]);
      const reason = res.body?.error?.message;
      if (!unrouted && (typeof reason !== 'string' || !/\S/.test(reason))) {
        throw new Error(
          `${method.toUpperCase()} ${url} answered ${
            res.status
          } without a reason: ${res.text.slice(0, 300)}`,
        );
      }
      if (own > 0) {
        throw new Error(
          `${method.toUpperCase()} ${url} was refused (${
            res.status
          }) but reached the cluster: ${reached
            .map(r => `${r.method} ${r.url}`)
            .join(', ')}`,
        );
      }
    } else {
      figures.accepted++;
      figures.clusterRequestsFromAccepted += own;
    }
    return res;
  }

  /** Fails the property unless the answer is one of `allowed`, a refusal's message matching `refusal`. */
  function expectAnswer(
    res: request.Response,
    allowed: number[],
    refusal?: RegExp,
  ) {
    const message = res.body?.error?.message;
    const ok =
      allowed.includes(res.status) &&
      (res.status < 400 || !refusal || refusal.test(message));
    expect(
      ok ? 'as expected' : `${res.status}: ${res.text.slice(0, 300)}`,
    ).toBe('as expected');
  }

  const entityUrl = (name: string) =>
    `${API}/entities/component/default/${name}`;

  // --- annotation sets -------------------------------------------------------

  const VALID = {
    'kube-delivery.io/image': fc.constantFrom(
      'example.test/boutique/adservice',
      'octopussamples/microservicedemo-adservice',
      'registry.example:5000/team/app',
    ),
    'kube-delivery.io/strategy': fc.constantFrom(
      'rolling',
      'recreate',
      'blue-green',
    ),
    'kube-delivery.io/replicas': fc.integer({ min: 1, max: 50 }).map(String),
    'kube-delivery.io/anti-affinity': fc.constantFrom(
      'preferred',
      'required',
      'none',
    ),
    'kube-delivery.io/routing': fc.constantFrom(
      'cookie:shop_session-id',
      'header:userid',
      'baggage:feature',
    ),
    'kube-delivery.io/ingress': fc.constant('istio-system/ingressgateway'),
  } as const;
  type Choice =
    | { valid: true; value: string }
    | { valid: false; value: string }
    | undefined;
  const choice = (valid: fc.Arbitrary<string>): fc.Arbitrary<Choice> =>
    fc.option(
      fc.oneof(
        valid.map(value => ({ valid: true as const, value })),
        hostileString.map(value => ({ valid: false as const, value })),
      ),
      { nil: undefined },
    );

  it(`${RUNS.annotations} annotation sets: a release is created when every annotation is valid, otherwise refused naming an annotation`, async () => {
    const annotationSet = fc.record({
      ...(Object.fromEntries(
        Object.entries(VALID).map(([key, valid]) => [key, choice(valid)]),
      ) as Record<keyof typeof VALID, fc.Arbitrary<Choice>>),
      manifest: fc.option(
        fc.oneof(
          fc.constant({ valid: true as const, value: '' }),
          hostileString.map(value => ({ valid: false as const, value })),
        ),
        { nil: undefined },
      ),
      unknown: fc.dictionary(
        fc
          .string({ minLength: 1, maxLength: 20 })
          .map(k => `kube-delivery.io/${k}`),
        hostileString,
        { maxKeys: 2 },
      ),
    });
    await fc.assert(
      fc.asyncProperty(annotationSet, async set => {
        const annotations: Record<string, string> = { ...set.unknown };
        let allValid = set['kube-delivery.io/image']?.valid === true;
        for (const key of Object.keys(VALID) as Array<keyof typeof VALID>) {
          const c = set[key];
          if (!c) continue;
          annotations[key] = c.value;
          allValid &&= c.valid;
        }
        if (set.manifest) allValid &&= set.manifest.valid;
        if (Object.keys(set.unknown).length > 0) allValid = false;
        if (set.manifest && !set.manifest.valid) {
          annotations['kube-delivery.io/manifest'] = set.manifest.value;
        }
        const name = addService(
          annotations,
          set.manifest?.valid ? adserviceManifest : undefined,
        );
        const res = await send('post', `${entityUrl(name)}/releases`, {
          version: '0.1.3',
        });
        if (res.status === 201) figures.releasesCreated++;
        expectAnswer(
          res,
          allValid ? [201] : [201, 400],
          /^Annotation kube-delivery\.io\/|^Manifest |manifest|^The entity /,
        );
      }),
      { numRuns: RUNS.annotations },
    );
  });

  // --- manifests -------------------------------------------------------------

  const base = (name: string) => adserviceManifest(name);
  const aliasBomb = fc.integer({ min: 4, max: 12 }).map(levels => {
    const lines = [
      'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
    ];
    for (let i = 1; i <= levels; i++) {
      lines.push(
        `a${i}: &a${i} [${Array(9)
          .fill(`*a${i - 1}`)
          .join(',')}]`,
      );
    }
    return {
      text: () => lines.join('\n'),
      mustRefuse: true,
      what: 'alias bomb',
    };
  });
  const deepNesting = fc.integer({ min: 65, max: 3000 }).chain(depth =>
    fc.constantFrom(
      {
        text: () => `${'['.repeat(depth)}1${']'.repeat(depth)}`,
        mustRefuse: true,
        what: 'deep flow nesting',
      },
      {
        text: () =>
          `${Array.from(
            { length: Math.min(depth, 400) },
            (_, i) => `${'  '.repeat(i)}k${i}:`,
          ).join('\n')} v`,
        mustRefuse: true,
        what: 'deep block nesting',
      },
    ),
  );
  const huge = fc.integer({ min: 257 * 1024, max: 600 * 1024 }).map(size => ({
    text: (name: string) => `${base(name)}\n# ${'x'.repeat(size)}\n`,
    mustRefuse: true,
    what: 'huge document',
  }));
  const customTag = fc
    .constantFrom(
      '!!js/function "function(){}"',
      '!custom x',
      '!!python/object/apply:os.system ["id"]',
      '!<tag:evil.example,2024:x> y',
      '!!binary aGVsbG8=',
    )
    .map(tagged => ({
      text: (name: string) =>
        base(name).replace('value: "9555"', `value: ${tagged}`),
      mustRefuse: true,
      what: 'custom tag',
    }));
  const forbidden = fc
    .constantFrom(
      'apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\nspec:\n  containers: [{name: x, image: x}]',
      'apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: x\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}\nsubjects: [{kind: User, name: x}]',
      'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x',
    )
    .map(extra => ({
      text: (name: string) => `${base(name)}\n---\n${extra}\n`,
      mustRefuse: true,
      what: 'forbidden kind',
    }));
  const dangerous = fc
    .constantFrom(
      ['    spec:\n', '    spec:\n      hostNetwork: true\n'],
      ['    spec:\n', '    spec:\n      hostPID: true\n'],
      [
        '          image: placeholder\n',
        '          image: placeholder\n          securityContext: {privileged: true}\n',
      ],
      [
        '    spec:\n',
        '    spec:\n      volumes: [{name: h, hostPath: {path: /}}]\n',
      ],
    )
    .map(([from, to]) => ({
      text: (name: string) => base(name).replace(from, to),
      mustRefuse: true,
      what: 'host access',
    }));
  const tooManyDocuments = fc.integer({ min: 21, max: 150 }).map(count => ({
    text: (name: string) =>
      `${base(name)}\n${Array.from(
        { length: count },
        (_, i) =>
          `---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}-c${i}\n`,
      ).join('')}`,
    mustRefuse: true,
    what: 'too many documents',
  }));
  const mutated = fc.tuple(fc.nat(), hostileString).map(([at, junk]) => ({
    text: (name: string) => {
      const lines = base(name).split('\n');
      lines[at % lines.length] = junk;
      return lines.join('\n');
    },
    mustRefuse: false,
    what: 'mutated line',
  }));
  const randomYaml = fc
    .oneof(
      fc.jsonValue({ maxDepth: 6 }).map(v => JSON.stringify(v)),
      fc.string({ unit: 'binary', maxLength: 500 }),
      fc.constantFrom(
        '%TAG ! tag:evil.example,2024:\n---\n!x a',
        'a: &a 1\nb: *a\n<<: {c: 1}',
        'a: 1\na: 2',
        '.inf',
        '__proto__: {x: 1}',
        '\ufeffkind: Deployment',
        '\t- a',
      ),
    )
    .map(text => ({
      text: () => text,
      mustRefuse: false,
      what: 'random text',
    }));
  const validManifest = fc.constant({
    text: base,
    mustRefuse: false,
    what: 'valid',
    valid: true,
  });

  it(`${RUNS.manifests} manifests: alias bombs, huge documents, deep nesting, custom tags, forbidden kinds and host access are refused; a valid one is accepted`, async () => {
    const manifest = fc.oneof(
      { arbitrary: validManifest, weight: 2 },
      { arbitrary: aliasBomb, weight: 2 },
      { arbitrary: deepNesting, weight: 2 },
      { arbitrary: huge, weight: 1 },
      { arbitrary: customTag, weight: 2 },
      { arbitrary: forbidden, weight: 2 },
      { arbitrary: dangerous, weight: 2 },
      { arbitrary: tooManyDocuments, weight: 1 },
      { arbitrary: mutated, weight: 3 },
      { arbitrary: randomYaml, weight: 3 },
    );
    await fc.assert(
      fc.asyncProperty(manifest, async m => {
        const name = addService(
          { 'kube-delivery.io/image': 'example.test/boutique/adservice' },
          m.text,
        );
        const res = await send('post', `${entityUrl(name)}/releases`, {
          version: '0.1.3',
        });
        if (res.status === 201) figures.releasesCreated++;
        let allowed = [201, 400];
        if ('valid' in m) allowed = [201];
        if (m.mustRefuse) allowed = [400];
        expectAnswer(res, allowed, /manifest|Manifest|document/);
      }),
      { numRuns: RUNS.manifests },
    );
  });

  // --- versions --------------------------------------------------------------

  const identifier = fc.oneof(
    fc.nat({ max: 10_000 }).map(String),
    fc.stringMatching(/^[0-9A-Za-z-]{1,12}$/),
  );
  const semverLike = fc
    .tuple(
      fc.nat({ max: 99 }),
      fc.nat({ max: 99 }),
      fc.nat({ max: 99 }),
      fc.option(fc.array(identifier, { minLength: 1, maxLength: 4 })),
      fc.option(fc.array(identifier, { minLength: 1, maxLength: 3 })),
      fc.option(fc.constantFrom('v', ' ', '0', '=')),
    )
    .map(
      ([a, b, c, pre, build, prefix]) =>
        `${prefix ?? ''}${a}.${b}.${c}${pre ? `-${pre.join('.')}` : ''}${
          build ? `+${build.join('.')}` : ''
        }`,
    );
  const longSemver = fc
    .integer({ min: 100, max: 300 })
    .map(length => `1.0.0-${'a'.repeat(length)}`);

  it(`${RUNS.versions} release bodies: a SemVer 2.0.0 version of at most 128 characters is accepted (or a 409 once it exists), anything else is a 400`, async () => {
    const names = Array.from({ length: 10 }, () =>
      addService(
        { 'kube-delivery.io/image': 'example.test/boutique/adservice' },
        adserviceManifest,
      ),
    );
    const body = fc.record(
      {
        version: fc.oneof(
          semverLike,
          longSemver,
          hostileString,
          fc.jsonValue({ maxDepth: 2 }),
        ),
        extra: fc.option(
          fc.constantFrom('registry', 'namespace', 'constructor', 'Version'),
          { nil: undefined },
        ),
        extraValue: fc.oneof(hostileString, fc.jsonValue({ maxDepth: 2 })),
      },
      { requiredKeys: ['version', 'extra', 'extraValue'] },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: names.length - 1 }),
        body,
        async (which, b) => {
          const payload: Record<string, unknown> = { version: b.version };
          if (b.extra) payload[b.extra] = b.extraValue;
          const res = await send(
            'post',
            `${entityUrl(names[which])}/releases`,
            payload,
          );
          if (res.status === 201) figures.releasesCreated++;
          const version = b.version;
          const valid =
            !b.extra &&
            typeof version === 'string' &&
            version.length <= 128 &&
            SEMVER.test(version);
          expectAnswer(res, valid ? [201, 409] : [400]);
        },
      ),
      { numRuns: RUNS.versions },
    );
  });

  // --- route rules and the route tester --------------------------------------

  it(`${RUNS.routes} route rules and route-tester requests: header, cookie and baggage values outside the strict character set are refused without touching the cluster`, async () => {
    const names = Array.from({ length: 4 }, () => {
      const name = addService({
        'kube-delivery.io/image': 'example.test/boutique/adservice',
        'kube-delivery.io/routing': 'header:userid',
      });
      routeServices.add(name);
      return name;
    });
    const value = fc.oneof(
      fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,20}$/),
      hostileString,
      fc.constantFrom(
        'a\r\nX-Injected: 1',
        'a\nb',
        '.*',
        'a|b',
        '(a+)+$',
        '"quoted"',
        'a;b',
        'a b',
        'é',
      ),
    );
    const rule = fc.record({
      environment: fc.oneof(
        fc.constantFrom('dev', 'test', 'production'),
        hostileString,
      ),
      branch: fc.oneof(fc.constantFrom('myfeature', 'feat-1.2'), hostileString),
      kind: fc.option(
        fc.oneof(fc.constantFrom('header', 'cookie', 'baggage'), hostileString),
        { nil: undefined },
      ),
      key: fc.option(
        fc.oneof(
          fc.constantFrom('userid', 'shop_session-id', 'x-user'),
          hostileString,
        ),
        { nil: undefined },
      ),
      value,
      ttlMinutes: fc.option(
        fc.oneof(fc.integer({ min: -10, max: 20_000 }), hostileString),
        { nil: undefined },
      ),
    });
    const tester = fc.record({
      environment: fc.oneof(fc.constantFrom('dev', 'test'), hostileString),
      headers: fc.oneof(
        fc.dictionary(
          fc.oneof(
            fc.constantFrom('userid', 'cookie', 'baggage', ':authority'),
            hostileString,
          ),
          value,
          { maxKeys: 4 },
        ),
        fc.jsonValue({ maxDepth: 2 }),
      ),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: names.length - 1 }),
        fc.oneof(
          rule.map(r => ({ kind: 'rule' as const, body: r })),
          tester.map(t => ({ kind: 'test' as const, body: t })),
        ),
        async (which, input) => {
          const url = `${entityUrl(names[which])}/routes${
            input.kind === 'test' ? '/test' : ''
          }`;
          const body = Object.fromEntries(
            Object.entries(input.body).filter(([, v]) => v !== undefined),
          );
          const res = await send('post', url, body);
          const ruleValue = (input.body as { value?: unknown }).value;
          // Only values of the strict character set reach a VirtualService.
          const strict =
            typeof ruleValue === 'string' &&
            /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(ruleValue);
          if (input.kind === 'test') expectAnswer(res, [200, 400]);
          else expectAnswer(res, strict ? [201, 400] : [400]);
          if (res.status === 201) {
            // Keep the VirtualService small: the rule goes again at once.
            const removed = await send(
              'delete',
              `${entityUrl(names[which])}/routes/${res.body.id}`,
            );
            expectAnswer(removed, [200]);
          }
        },
      ),
      { numRuns: RUNS.routes },
    );
  });

  // --- queries and path segments ---------------------------------------------

  it(`${RUNS.queries} history queries and entity paths: 200, 400 or 404 with a reason`, async () => {
    const name = addService({
      'kube-delivery.io/image': 'example.test/boutique/adservice',
    });
    const segment = fc.oneof(
      fc.constantFrom('component', 'default', name),
      hostileString,
    );
    const query = fc.dictionary(
      fc.oneof(
        fc.constantFrom(
          'limit',
          'before',
          'environment',
          'offset',
          '__proto__',
        ),
        hostileString,
      ),
      fc.oneof(fc.nat({ max: 1000 }).map(String), hostileString),
      { maxKeys: 3 },
    );
    await fc.assert(
      fc.asyncProperty(
        segment,
        segment,
        segment,
        query,
        async (kind, namespace, entityName, q) => {
          const qs = new URLSearchParams(q).toString();
          const url = `${API}/entities/${[kind, namespace, entityName]
            .map(encodeSegment)
            .join('/')}/deployments${qs ? `?${qs}` : ''}`;
          const res = await send('get', url);
          expectAnswer(res, [200, 400, 404]);
        },
      ),
      { numRuns: RUNS.queries },
    );
  });

  it('the database holds exactly the releases answered 201, and no refused request reached the cluster', async () => {
    const [{ count }] = await db.knex('kd_releases').count({ count: '*' });
    expect(Number(count)).toBe(figures.releasesCreated);
    expect(figures.serverErrors).toBe(0);
    expect(figures.clusterRequestsFromRefused).toBe(0);
    expect(figures.requests).toBeGreaterThanOrEqual(
      Object.values(RUNS).reduce((a, b) => a + b, 0),
    );
  });
});
