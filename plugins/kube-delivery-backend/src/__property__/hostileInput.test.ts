/* eslint jest/expect-expect: ["warn", { "assertFunctionNames": ["expect", "expectAnswer"] }] */
import {
  mockCredentials,
  type TestBackend,
} from '@backstage/backend-test-utils';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { getDevCluster, type DevCluster } from '@internal/devcluster';
import fc from 'fast-check';
import { AsyncLocalStorage } from 'node:async_hooks';
import diagnostics from 'node:diagnostics_channel';
import fs from 'node:fs';
import http, { type ClientRequest } from 'node:http';
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
  SHARED_DATABASES,
  type SharedDatabase,
} from '../__testUtils__/sharedDatabase';
import { waitUntil } from '../__testUtils__/releaseObjects';

jest.setTimeout(600_000);

/**
 * Generated hostile input through the real HTTP router of the plugin in a
 * test backend: catalog annotation sets, manifests (alias bombs, huge
 * documents, deep nesting, custom tags, forbidden objects), versions, route
 * rule and route-tester values, history queries. 10,000 requests in all.
 *
 * Every answer must be a success or a 4xx with a reason, never a 5xx; a
 * refused request must not have caused a single request to the cluster, of
 * any kind (see {@link CausalLedger}: each cluster request is tied to the API
 * request it was made for, not to a time window); an annotation set is
 * answered 201 exactly when the generator's oracle says it is valid, 400
 * naming an invalid annotation otherwise; and in the end the database holds
 * exactly the releases that were answered 201.
 *
 * The whole file runs on a SQLite file and on PostgreSQL.
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

/** The official SemVer 2.0.0 regex (semver.org), as the oracle of valid versions. */
const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

/** The header that carries an API request's number from the test to the front server. */
const CAUSE_HEADER = 'x-kd-test-request';

/** One request the backend sent to the cluster (the fault proxy), and the API request it was made for. */
interface ClusterRequest {
  method: string;
  path: string;
  /** The number of the API request in whose async context it was made; undefined: none. */
  cause?: number;
}

/**
 * The status cache's lists and watches (StatusCache.ts): GETs of the
 * Deployments, ReplicaSets and pods collections of a namespace with Kube
 * Delivery's label selector. The only cluster requests the backend makes on
 * its own here (the scheduler is manual, so no scheduled task runs, and no
 * deployment is queued, so the runner's polls stay in the database).
 */
const isStatusCacheRequest = (r: ClusterRequest) =>
  r.method === 'GET' &&
  /^\/(api\/v1\/namespaces\/[a-z0-9-]+\/pods|apis\/apps\/v1\/namespaces\/[a-z0-9-]+\/(deployments|replicasets))\?(.*&)?labelSelector=app\.kubernetes\.io%2Fmanaged-by%3Dkube-delivery(&|$)/.test(
    r.path,
  );

/**
 * Ties every cluster request to the API request it was made for.
 *
 * The test numbers each API request (header x-kd-test-request) and sends it
 * to a front server in this process, which hands it to the backend's own
 * request listener inside `AsyncLocalStorage.run(number)`. Everything the
 * backend does for that request, awaited or not (promise chains, timers, a
 * reconcile it queues, a retry after a delay), runs in that async context.
 * Node publishes every outgoing HTTP request on the diagnostics channel
 * `http.client.request.created` synchronously in the context of the code that
 * makes it: there the ledger reads the number and records the request with it.
 * The backend's code is unchanged and neither sees nor sets the number.
 *
 * Work no API request started (the status cache's lists and watches, begun
 * at start-up) runs in no such context and is recorded without a cause. The
 * checks that make the count sound:
 * - every request the fault proxy received is in the ledger (the totals
 *   agree), so no cluster request went through another HTTP stack unseen;
 * - a request without a cause must be one of the status cache's lists or
 *   watches, anything else fails the suite: a refused input cannot hide work
 *   by handing it to code running outside its context;
 * - accepted route rules must have cluster requests tied to them (they
 *   write the VirtualService), which shows the context survives the router's
 *   middleware; and a quiet period before the first input measures the
 *   background on its own.
 * Refused inputs are then counted over the whole run, not in a window
 * around the answer: a request made long after the answer still counts.
 */
class CausalLedger {
  readonly requests: ClusterRequest[] = [];
  private readonly context = new AsyncLocalStorage<number>();
  private readonly onCreated = (message: unknown) => {
    const { request: req } = message as { request: ClientRequest };
    if (req.getHeader('host') !== this.clusterHost) return;
    this.requests.push({
      method: req.method,
      path: req.path,
      cause: this.context.getStore(),
    });
  };

  constructor(private readonly clusterHost: string) {
    diagnostics.subscribe('http.client.request.created', this.onCreated);
  }

  /** A server in front of `backend` that runs each request in the context of its number. */
  front(backend: http.Server): http.Server {
    const listeners = backend.listeners('request') as Array<
      (req: http.IncomingMessage, res: http.ServerResponse) => void
    >;
    if (listeners.length !== 1) {
      throw new Error(
        `expected one request listener on the backend's server, found ${listeners.length}`,
      );
    }
    return http.createServer((req, res) => {
      const cause = Number(req.headers[CAUSE_HEADER]);
      if (!Number.isSafeInteger(cause)) {
        res.writeHead(500).end(`no ${CAUSE_HEADER}`);
        return;
      }
      this.context.run(cause, () => listeners[0].call(backend, req, res));
    });
  }

  causedBy(cause: number): ClusterRequest[] {
    return this.requests.filter(r => r.cause === cause);
  }

  close() {
    diagnostics.unsubscribe('http.client.request.created', this.onCreated);
  }
}

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

// --- the annotation oracle ---------------------------------------------------
//
// What a valid value of each annotation is, as the README and the annotation
// errors describe it, written here independently of parseServiceSpec.ts: the
// generator knows which sets are valid, and every invalid one must be a 400.

const DNS_LABEL = /^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$/;
/** A Docker registry host: dot-separated lowercase labels and an optional port. */
const REGISTRY_HOST =
  /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*(?::[0-9]{1,5})?$/;
/** A Docker repository path component: lowercase alphanumerics joined by '.', '_', '__' or dashes. */
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
/** A lowercase image repository, without tag or digest, of at most 255 characters. */
function isRepository(value: string): boolean {
  if (value.length > 255) return false;
  const parts = value.split('/');
  const components =
    parts.length > 1 && REGISTRY_HOST.test(parts[0]) ? parts.slice(1) : parts;
  return components.every(part => PATH_COMPONENT.test(part));
}
/** 1 to `max` comma-separated items (blanks around them and empty ones ignored), each valid. */
const commaList =
  (max: number, valid: (item: string) => boolean) => (value: string) => {
    const items = value
      .split(',')
      .map(item => item.trim())
      .filter(Boolean);
    return items.length >= 1 && items.length <= max && items.every(valid);
  };
/** A lowercase DNS name of at least two labels, at most 253 characters, no wildcard. */
const isHostName = (value: string) =>
  value.length <= 253 &&
  value.split('.').length >= 2 &&
  value.split('.').every(label => DNS_LABEL.test(label));
/** RFC 7230 token characters (cookie names, baggage keys). */
const TOKEN = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;

const ANNOTATIONS = {
  'kube-delivery.io/image': {
    isValid: isRepository,
    valid: fc.constantFrom(
      'example.test/boutique/adservice',
      'octopussamples/microservicedemo-adservice',
      'registry.example:5000/team/app',
      'localhost/a__b--c.d',
    ),
    nearMisses: [
      'Example.test/app',
      'example.test/app:1.0',
      'example.test/app@sha256:00',
      'example.test//app',
      'app/',
      `a/${'b'.repeat(254)}`,
    ],
  },
  'kube-delivery.io/strategy': {
    isValid: (v: string) => ['rolling', 'recreate', 'blue-green'].includes(v),
    valid: fc.constantFrom('rolling', 'recreate', 'blue-green'),
    nearMisses: ['Rolling', 'blue_green', 'canary'],
  },
  'kube-delivery.io/replicas': {
    isValid: (v: string) => /^[1-9][0-9]*$/.test(v) && Number(v) <= 50,
    valid: fc.integer({ min: 1, max: 50 }).map(String),
    // Around the bounds, as numbers and with leading zeros.
    nearby: fc.oneof(
      fc.integer({ min: -10, max: 150 }).map(String),
      fc.integer({ min: 0, max: 60 }).map(n => `0${n}`),
    ),
    nearMisses: ['00', '01', '+3', '3 ', '50.0', '100', '١'],
  },
  'kube-delivery.io/anti-affinity': {
    isValid: (v: string) => ['preferred', 'required', 'none'].includes(v),
    valid: fc.constantFrom('preferred', 'required', 'none'),
    nearMisses: ['Preferred', 'soft', 'hard'],
  },
  'kube-delivery.io/routing': {
    isValid: (v: string) => {
      const colon = v.indexOf(':');
      if (v.length > 64 || colon < 0) return false;
      const kind = v.slice(0, colon);
      const name = v.slice(colon + 1);
      if (kind === 'header') return /^[a-z0-9-]+$/.test(name);
      return (kind === 'cookie' || kind === 'baggage') && TOKEN.test(name);
    },
    valid: fc.oneof(
      fc.constantFrom(
        'cookie:shop_session-id',
        'header:userid',
        'baggage:feature',
      ),
      fc.stringMatching(/^(cookie|baggage):[A-Za-z0-9!#$%&'*+.^_`|~-]{1,40}$/),
      fc.stringMatching(/^header:[a-z0-9-]{1,50}$/),
    ),
    nearMisses: [
      'header:UserId',
      'cookie:a=b',
      'baggage:a b',
      'query:x',
      `cookie:${'a'.repeat(58)}`,
    ],
  },
  'kube-delivery.io/ingress': {
    isValid: (v: string) => {
      const parts = v.split('/');
      return parts.length === 2 && parts.every(p => DNS_LABEL.test(p));
    },
    valid: fc.constantFrom('istio-system/ingressgateway', 'gateways/public-1'),
    nearMisses: ['istio-system/', 'Istio/gw', `a/${'b'.repeat(64)}`],
  },
  'kube-delivery.io/hosts': {
    isValid: commaList(16, isHostName),
    valid: fc.constantFrom(
      'shop.dev.boutique.example',
      'shop.dev.boutique.example, shop.boutique.example',
      ' a.example ,, b.example,',
    ),
    nearMisses: [
      '*.boutique.example',
      'localhost',
      'Shop.example',
      ',',
      Array.from({ length: 17 }, (_, i) => `h${i}.example`).join(','),
    ],
  },
  'kube-delivery.io/image-repositories': {
    isValid: commaList(8, isRepository),
    valid: fc.constantFrom(
      'istio/examples-bookinfo-reviews-v2',
      'registry.example:5000/team/other, example.test/boutique/adservice-v2',
    ),
    nearMisses: [
      'istio/reviews:v2',
      ' , ',
      Array.from({ length: 9 }, (_, i) => `team/r${i}`).join(','),
    ],
  },
  'kube-delivery.io/service-account-token': {
    isValid: (v: string) => v === 'mount',
    valid: fc.constant('mount'),
    nearMisses: ['Mount', 'true', 'mount '],
  },
} satisfies Record<
  string,
  {
    isValid: (value: string) => boolean;
    valid: fc.Arbitrary<string>;
    /** Values close to valid ones; without it, valid values with one edit. */
    nearby?: fc.Arbitrary<string>;
    nearMisses: string[];
  }
>;
type AnnotationKey = keyof typeof ANNOTATIONS;

/** A value with one edit: a character inserted, one removed, the case of one changed, or the value doubled or cut. */
const edited = (value: fc.Arbitrary<string>): fc.Arbitrary<string> =>
  fc
    .tuple(
      value,
      fc.nat(),
      fc.oneof(
        fc.constantFrom(' ', '/', ':', ',', '.', '-', '_', '*', '@', '\n'),
        fc.string({ minLength: 1, maxLength: 2 }),
      ),
      fc.constantFrom('insert', 'remove', 'case', 'double', 'cut'),
    )
    .map(([v, at, insert, edit]) => {
      const i = at % (v.length + 1);
      switch (edit) {
        case 'insert':
          return v.slice(0, i) + insert + v.slice(i);
        case 'remove':
          return v.slice(0, i) + v.slice(i + 1);
        case 'case':
          return (
            v.slice(0, i) + v.slice(i, i + 1).toUpperCase() + v.slice(i + 1)
          );
        case 'double':
          return `${v}${insert}${v}`;
        default:
          return v.slice(0, i);
      }
    });
/** Every annotation Kube Delivery defines (the manifest one is generated apart). */
const KNOWN_SUFFIXES = new Set(
  [...Object.keys(ANNOTATIONS), 'kube-delivery.io/manifest'].map(key =>
    key.slice('kube-delivery.io/'.length),
  ),
);

describe.each(SHARED_DATABASES)(
  'hostile input through the HTTP router, property-based (%s)',
  (database, kind) => {
    let cluster: DevCluster;
    let db: SharedDatabase;
    let proxy: FaultProxy;
    let backend: TestBackend;
    let ledger: CausalLedger;
    let front: http.Server;
    const catalog = new MutableCatalog();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kd-hostile-'));
    let serial = 0;
    let lastCause = 0;
    const figures = {
      requests: 0,
      accepted: 0,
      refused: 0,
      serverErrors: 0,
      clusterRequestsFromRefused: 0,
      clusterRequestsFromAccepted: 0,
      backgroundClusterRequests: 0,
      backgroundInQuietPeriod: 0,
      quietPeriodMs: 0,
      proxiedRequests: 0,
      invalidAnnotationSets: 0,
      validAnnotationSets: 0,
      releasesCreated: 0,
      acceptedRules: 0,
    };
    const byStatus = new Map<number, number>();
    /** The numbers of the refused API requests, with what they were, for messages. */
    const refused = new Map<number, string>();
    /** The numbers of the route rules answered 201. */
    const acceptedRules: number[] = [];
    const routeServices = new Set<string>();

    beforeAll(async () => {
      cluster = await getDevCluster();
      db = await createSharedDatabase(kind);
      proxy = await startFaultProxy(cluster);
      ledger = new CausalLedger(new URL(proxy.url).host);
      backend = await startDeliveryBackend({
        cluster: proxy.cluster,
        knex: db.knex,
        entities: [],
        catalog,
        permission: AuthorizeResult.ALLOW,
        // Scheduled tasks (health checks, expiry) never run: only requests act.
        features: [manualScheduler().factory],
      });
      front = ledger.front(backend.server);
      await new Promise<void>(resolve => front.listen(0, '127.0.0.1', resolve));
      // The background on its own: what reaches the cluster while no API
      // request is made (the status cache starting: lists, then watches).
      const quietFrom = ledger.requests.length;
      const quietStart = Date.now();
      await new Promise(resolve => setTimeout(resolve, 3000));
      figures.quietPeriodMs = Date.now() - quietStart;
      figures.backgroundInQuietPeriod = ledger.requests.length - quietFrom;
    });

    afterAll(async () => {
      printFigures(`hostile input (${database})`, {
        ...figures,
        statuses: [...byStatus.entries()]
          .sort(([a], [b]) => a - b)
          .map(([status, count]) => `${status}:${count}`)
          .join(' '),
      });
      ledger?.close();
      await new Promise(resolve =>
        front?.listening ? front.close(resolve) : resolve(undefined),
      );
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
     * Sends one request, numbered, and checks what every answer must satisfy;
     * returns it with its number. The cluster requests tied to that number
     * (see CausalLedger) are checked now and again at the end of the run.
     */
    async function send(
      method: 'get' | 'post' | 'delete',
      url: string,
      body?: unknown,
    ) {
      const cause = ++lastCause;
      let req = request(front)
        [method](url)
        .set('Authorization', asUser)
        .set(CAUSE_HEADER, String(cause));
      if (body !== undefined) req = req.send(body as object);
      const res = await req;
      figures.requests++;
      byStatus.set(res.status, (byStatus.get(res.status) ?? 0) + 1);
      const what = `${method.toUpperCase()} ${url}`;
      if (res.status >= 500) {
        figures.serverErrors++;
        throw new Error(
          `${what} answered ${res.status}: ${res.text.slice(0, 500)}`,
        );
      }
      if (res.status >= 400) {
        figures.refused++;
        refused.set(cause, `${what} (${res.status})`);
        // A path with an empty segment matches no route: the framework answers
        // an empty 404. Every other refusal is an error object with a message.
        const unrouted = res.status === 404 && /\/\//.test(url.split('?')[0]);
        const reason = res.body?.error?.message;
        if (!unrouted && (typeof reason !== 'string' || !/\S/.test(reason))) {
          throw new Error(
            `${what} answered ${res.status} without a reason: ${res.text.slice(
              0,
              300,
            )}`,
          );
        }
        const reached = ledger.causedBy(cause);
        if (reached.length > 0) {
          throw new Error(
            `${what} was refused (${
              res.status
            }) but made cluster requests: ${reached
              .map(r => `${r.method} ${r.path}`)
              .join(', ')}`,
          );
        }
      } else {
        figures.accepted++;
      }
      return Object.assign(res, { cause });
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

    it(`${RUNS.annotations} annotation sets: a release is created (201) exactly when the oracle finds every annotation valid, otherwise a 400 naming an invalid one`, async () => {
      const annotationSet = fc.record({
        ...(Object.fromEntries(
          Object.entries(ANNOTATIONS).map(([key, annotation]) => {
            const { valid, nearMisses } = annotation;
            const nearby =
              'nearby' in annotation ? annotation.nearby : edited(valid);
            return [
              key,
              // Mostly absent or valid, so that a good part of the sets are
              // valid and an invalid one usually has one bad annotation.
              fc.oneof(
                {
                  arbitrary: fc.constant(undefined),
                  // The image is required: rarely left out.
                  weight: key === 'kube-delivery.io/image' ? 1 : 8,
                },
                { arbitrary: valid, weight: 8 },
                { arbitrary: nearby, weight: 2 },
                { arbitrary: hostileString, weight: 1 },
                {
                  arbitrary: fc.constantFrom(...nearMisses, ...HOSTILE_STRINGS),
                  weight: 1,
                },
              ),
            ];
          }),
        ) as Record<AnnotationKey, fc.Arbitrary<string | undefined>>),
        // A manifest file of the service's own, or a hostile reference (which
        // names no manifest file: none of them is called hostile-*).
        manifest: fc.option(
          fc.oneof(
            { arbitrary: fc.constant({ file: true as const }), weight: 4 },
            fc
              .oneof(
                hostileString,
                fc.constantFrom('./missing.yaml', 'k8s/x.yaml'),
              )
              .filter(value => !value.includes('hostile-'))
              .map(value => ({ file: false as const, value })),
          ),
          { nil: undefined },
        ),
        // Annotations under the prefix that Kube Delivery does not define:
        // ignored, like any other annotation on the entity.
        unknown: fc.dictionary(
          fc
            .string({ minLength: 1, maxLength: 20 })
            .filter(k => !KNOWN_SUFFIXES.has(k))
            .map(k => `kube-delivery.io/${k}`),
          hostileString,
          { maxKeys: 2 },
        ),
      });
      // The oracle agrees with the generator of valid values.
      for (const [key, { valid, isValid }] of Object.entries(ANNOTATIONS)) {
        fc.assert(
          fc.property(valid, value => {
            expect(`${key}: ${isValid(value)}`).toBe(`${key}: true`);
          }),
          { numRuns: 200 },
        );
      }
      await fc.assert(
        fc.asyncProperty(annotationSet, async set => {
          const annotations: Record<string, string> = { ...set.unknown };
          const invalid: string[] = [];
          for (const key of Object.keys(ANNOTATIONS) as AnnotationKey[]) {
            const value = set[key];
            if (value === undefined) {
              if (key === 'kube-delivery.io/image') invalid.push(key); // required
              continue;
            }
            annotations[key] = value;
            if (!ANNOTATIONS[key].isValid(value)) invalid.push(key);
          }
          if (set.manifest && !set.manifest.file) {
            annotations['kube-delivery.io/manifest'] = set.manifest.value;
            invalid.push('kube-delivery.io/manifest');
          }
          const name = addService(
            annotations,
            set.manifest?.file ? adserviceManifest : undefined,
          );
          const res = await send('post', `${entityUrl(name)}/releases`, {
            version: '0.1.3',
          });
          if (res.status === 201) figures.releasesCreated++;
          if (invalid.length === 0) {
            figures.validAnnotationSets++;
            expectAnswer(res, [201]);
            return;
          }
          figures.invalidAnnotationSets++;
          expectAnswer(res, [400]);
          // The refusal names one of the annotations the oracle found invalid.
          const message: string = res.body?.error?.message ?? '';
          const named = invalid.some(key =>
            key === 'kube-delivery.io/manifest'
              ? /manifest/i.test(message)
              : message.includes(`Annotation ${key} `),
          );
          expect(
            named ? 'names an invalid annotation' : `${invalid}: ${message}`,
          ).toBe('names an invalid annotation');
        }),
        { numRuns: RUNS.annotations },
      );
      // Both kinds of set were made, in numbers.
      expect(figures.validAnnotationSets).toBeGreaterThan(
        RUNS.annotations / 50,
      );
      expect(figures.invalidAnnotationSets).toBeGreaterThan(
        RUNS.annotations / 2,
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
        branch: fc.oneof(
          fc.constantFrom('myfeature', 'feat-1.2'),
          hostileString,
        ),
        kind: fc.option(
          fc.oneof(
            fc.constantFrom('header', 'cookie', 'baggage'),
            hostileString,
          ),
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
              acceptedRules.push(res.cause);
              // Keep the VirtualService small: the rule goes again at once.
              const removed = await send(
                'delete',
                `${entityUrl(names[which])}/routes/${res.body.id}`,
              );
              expectAnswer(removed, [200]);
            }
          },
        ),
        {
          numRuns: RUNS.routes,
          // Valid rules are rare among random ones: this one always runs, so
          // the run always has an accepted rule whose cluster writes it can trace.
          examples: [
            [
              0,
              {
                kind: 'rule',
                body: {
                  environment: 'dev',
                  branch: 'myfeature',
                  kind: 'header',
                  key: 'userid',
                  value: 'tester-1',
                  ttlMinutes: 60,
                },
              },
            ],
          ],
        },
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
          async (entityKind, namespace, entityName, q) => {
            const qs = new URLSearchParams(q).toString();
            const url = `${API}/entities/${[entityKind, namespace, entityName]
              .map(encodeSegment)
              .join('/')}/deployments${qs ? `?${qs}` : ''}`;
            const res = await send('get', url);
            expectAnswer(res, [200, 400, 404]);
          },
        ),
        { numRuns: RUNS.queries },
      );
    });

    it('the database holds exactly the releases answered 201; no refused request caused a cluster request, of any kind, over the whole run; every cluster request is accounted for', async () => {
      // Anything a request set off after its answer has had time to happen.
      await new Promise(resolve => setTimeout(resolve, 2000));
      // The ledger saw every request the proxy received (nothing went round it).
      await waitUntil(
        async () => ledger.requests.length === proxy.requests.length,
        {
          timeoutMs: 10_000,
          describe: () =>
            `ledger ${ledger.requests.length}, proxy ${proxy.requests.length}`,
        },
      );
      figures.proxiedRequests = proxy.requests.length;
      const fromRefused = ledger.requests.filter(
        r => r.cause !== undefined && refused.has(r.cause),
      );
      const unattributed = ledger.requests.filter(r => r.cause === undefined);
      figures.clusterRequestsFromRefused = fromRefused.length;
      figures.clusterRequestsFromAccepted = ledger.requests.filter(
        r => r.cause !== undefined && !refused.has(r.cause),
      ).length;
      figures.backgroundClusterRequests = unattributed.length;
      figures.acceptedRules = acceptedRules.length;

      const [{ count }] = await db.knex('kd_releases').count({ count: '*' });
      expect(Number(count)).toBe(figures.releasesCreated);
      expect(figures.serverErrors).toBe(0);
      expect(
        fromRefused.map(
          r => `${refused.get(r.cause!)} -> ${r.method} ${r.path}`,
        ),
      ).toEqual([]);
      // Without a cause: only the status cache's lists and watches.
      expect(
        unattributed
          .filter(r => !isStatusCacheRequest(r))
          .map(r => `${r.method} ${r.path}`),
      ).toEqual([]);
      // The context reaches the backend's cluster calls: each accepted rule
      // wrote its VirtualService, and those requests are tied to it.
      expect(acceptedRules.length).toBeGreaterThan(0);
      expect(
        acceptedRules.filter(
          cause => !ledger.causedBy(cause).some(r => r.method !== 'GET'),
        ),
      ).toEqual([]);
      expect(figures.requests).toBeGreaterThanOrEqual(
        Object.values(RUNS).reduce((a, b) => a + b, 0),
      );
    });
  },
);
