import { mockServices } from '@backstage/backend-test-utils';
import { ConflictError, InputError, NotAllowedError } from '@backstage/errors';
import { getDevCluster, type DevCluster } from '@internal/devcluster';
import type { Knex } from 'knex';
import { createPrivateKey, randomBytes, X509Certificate } from 'node:crypto';
import { createEnvironmentCluster, type EnvironmentCluster } from '../cluster';
import type { EnvironmentConfig } from '../config/environments';
import { EnvironmentRegistry } from '../config/EnvironmentRegistry';
import { EnvironmentEvents } from '../events';
import { createTestDatabases } from '../__testUtils__/testDatabases';
import { CertificateService } from './CertificateService';
import { DatabaseCertificateStore } from './CertificateStore';
import {
  adminApply,
  adminGet,
  cleanUp,
  foreignGatewayApiGateway,
  foreignIstioGateway,
  gatewayEnvironment,
  issueTestCertificates,
  kubectl,
} from './__testUtils__/gatewayFixtures';
import { OpensslCorpus, type Issued } from './__testUtils__/opensslCorpus';
import type { CertificateUploadInput } from './validate';

jest.setTimeout(180_000);

/*
 * The certificate service on the devcluster, writing with the istio-system
 * gateway ServiceAccount's token. Every Gateway, Secret and Certificate is this
 * file's own (unique names in istio-system); the shared ingressgateway is not touched.
 */

const suffix = randomBytes(3).toString('hex');
const ISTIO_GATEWAY = `kd-cert-istio-${suffix}`;
const API_GATEWAY = `kd-cert-gwapi-${suffix}`;
const ENV_A = `ca${suffix}`;
const ENV_B = `cb${suffix}`;
const ENV_API = `cg${suffix}`;
const ENV_DENIED = `cd${suffix}`;
const ENV_TAKEN = `ct${suffix}`;
const ACTOR = 'user:default/alice';
const DAY_MS = 24 * 60 * 60 * 1000;

const pem = (certs: Issued[], key: string): CertificateUploadInput => ({
  format: 'pem',
  certificateChain: certs.map(c => c.cert).join(''),
  privateKey: key,
});

describe('gateway certificates on the devcluster', () => {
  const databases = createTestDatabases();
  const corpus = new OpensslCorpus();
  let certs: Record<string, Issued>;
  let cluster: DevCluster;
  let knex: Knex;
  let events: EnvironmentEvents;
  let store: DatabaseCertificateStore;
  let environments: EnvironmentConfig[];
  /** Wraps the cluster client of an environment, e.g. to interleave a concurrent edit. */
  let wrap: (client: EnvironmentCluster) => EnvironmentCluster = c => c;

  function service(envs: EnvironmentConfig[] = environments) {
    return new CertificateService({
      environments: new EnvironmentRegistry(envs),
      store,
      events,
      cluster: environment =>
        wrap(
          createEnvironmentCluster(
            environment.gateway!.cluster!,
            mockServices.logger.mock(),
          ),
        ),
      settings: { expiryWarningDays: 30, checkIntervalMinutes: 60 },
      logger: mockServices.logger.mock(),
    });
  }

  const secretOf = (env: string) =>
    adminGet(cluster, 'secret', `kd-${env}-tls`);
  const istioGateway = () =>
    adminGet(cluster, 'gateways.networking.istio.io', ISTIO_GATEWAY);
  /** Changes the shared Istio Gateway as an admin would, with a JSON patch. */
  const patchIstioGateway = (operations: object[]) =>
    kubectl(cluster, [
      'patch',
      'gateways.networking.istio.io',
      ISTIO_GATEWAY,
      '-n',
      'istio-system',
      '--type=json',
      '-p',
      JSON.stringify(operations),
    ]);

  beforeAll(async () => {
    certs = issueTestCertificates(corpus);
    cluster = await getDevCluster();
    knex = await databases.init('SQLITE_3');
    const database = { getClient: async () => knex } as any;
    store = await DatabaseCertificateStore.create({ database });
    events = new EnvironmentEvents(knex, mockServices.logger.mock());
    environments = [
      gatewayEnvironment(cluster, {
        name: ENV_A,
        gatewayName: ISTIO_GATEWAY,
        hosts: ['shop.cert-test.example', 'www.cert-test.example'],
        httpsRedirect: true,
        issuer: true,
      }),
      gatewayEnvironment(cluster, {
        name: ENV_B,
        gatewayName: ISTIO_GATEWAY,
        hosts: ['api.cert-test.example'],
      }),
      gatewayEnvironment(cluster, {
        name: ENV_API,
        gatewayName: API_GATEWAY,
        hosts: ['shop.cert-test.example'],
        api: 'gateway-api',
      }),
      // The dev namespace's token: no rights in istio-system.
      gatewayEnvironment(cluster, {
        name: ENV_DENIED,
        gatewayName: ISTIO_GATEWAY,
        hosts: ['shop.cert-test.example'],
        token: cluster.tokens.dev,
      }),
      // Its Secret name is taken by another team's Secret.
      gatewayEnvironment(cluster, {
        name: ENV_TAKEN,
        gatewayName: ISTIO_GATEWAY,
        hosts: ['shop.cert-test.example'],
        issuer: true,
      }),
    ];
    await adminApply(cluster, foreignIstioGateway(ISTIO_GATEWAY, suffix));
    await adminApply(cluster, foreignGatewayApiGateway(API_GATEWAY, suffix));
  });

  afterAll(async () => {
    corpus.dispose();
    if (cluster) {
      await cleanUp(
        cluster,
        suffix,
        [ENV_A, ENV_B, ENV_API, ENV_DENIED, ENV_TAKEN].map(e => `kd-${e}-tls`),
      );
    }
  });

  it('writes the Secret by server-side apply and the 443 server, keeping other servers as they are', async () => {
    const before = await istioGateway();
    const result = await service().upload({
      environment: ENV_A,
      certificate: pem([certs.shop, certs.intermediate], certs.shop.key),
      actor: ACTOR,
    });

    const secret = await secretOf(ENV_A);
    expect(secret.type).toBe('kubernetes.io/tls');
    expect(Buffer.from(secret.data['tls.crt'], 'base64').toString()).toBe(
      certs.shop.cert + certs.intermediate.cert,
    );
    const storedKey = createPrivateKey(
      Buffer.from(secret.data['tls.key'], 'base64').toString(),
    );
    expect(
      storedKey
        .export({ type: 'pkcs8', format: 'der' })
        .equals(
          createPrivateKey(certs.shop.key).export({
            type: 'pkcs8',
            format: 'der',
          }),
        ),
    ).toBe(true);
    // Server-side apply: no last-applied-configuration copy of the data.
    expect(Object.keys(secret.metadata.annotations ?? {})).toEqual([
      'kube-delivery.io/certificate-sha256',
    ]);
    expect(secret.metadata.managedFields).toEqual([
      expect.objectContaining({ manager: 'kube-delivery', operation: 'Apply' }),
    ]);

    const after = await istioGateway();
    const servers = after.spec.servers;
    expect(servers.slice(0, 2)).toEqual(before.spec.servers);
    expect(servers.slice(2)).toEqual([
      {
        name: `kube-delivery-https-${ENV_A}`,
        port: { number: 443, name: `https-kd-${ENV_A}`, protocol: 'HTTPS' },
        hosts: ['shop.cert-test.example', 'www.cert-test.example'],
        tls: { mode: 'SIMPLE', credentialName: `kd-${ENV_A}-tls` },
      },
      {
        name: `kube-delivery-http-${ENV_A}`,
        port: { number: 80, name: `http-kd-${ENV_A}`, protocol: 'HTTP' },
        hosts: ['shop.cert-test.example', 'www.cert-test.example'],
        tls: { httpsRedirect: true },
      },
    ]);
    expect(after.spec.selector).toEqual(before.spec.selector);

    expect(result.warnings).toEqual([]);
    expect(result.certificate).toMatchObject({
      environment: ENV_A,
      gateway: `istio-system/${ISTIO_GATEWAY}`,
      source: 'upload',
      active: true,
      subject: 'CN=shop',
      issuer: 'CN=intermediate',
      sans: ['shop.cert-test.example', 'www.cert-test.example'],
      key: 'ec P-256',
      uploadedBy: ACTOR,
      status: 'ok',
    });
    expect(result.certificate.daysToExpiry).toBeGreaterThanOrEqual(363);
    const history = await events.list({ environment: ENV_A, limit: 5 });
    expect(history.items[0]).toMatchObject({
      kind: 'certificate-changed',
      actor: ACTOR,
      details: expect.objectContaining({
        change: 'uploaded',
        fingerprintSha256: result.certificate.fingerprintSha256,
      }),
    });
  });

  it('adds a second environment on the same gateway without changing the first one', async () => {
    const before = await istioGateway();
    await service().upload({
      environment: ENV_B,
      certificate: pem(
        [certs.wildcard, certs.intermediate],
        certs.wildcard.key,
      ),
      actor: ACTOR,
    });
    const after = await istioGateway();
    expect(after.spec.servers.slice(0, 4)).toEqual(before.spec.servers);
    expect(after.spec.servers[4]).toMatchObject({
      name: `kube-delivery-https-${ENV_B}`,
      hosts: ['api.cert-test.example'],
      tls: { mode: 'SIMPLE', credentialName: `kd-${ENV_B}-tls` },
    });
    expect(after.spec.servers).toHaveLength(5);
  });

  it('keeps a server another team adds between the read and the write (resourceVersion precondition)', async () => {
    let interleaved = false;
    wrap = client => {
      const proxy = Object.create(client) as EnvironmentCluster;
      proxy.apply = async objects => {
        if (!interleaved && objects[0]?.kind === 'Gateway') {
          interleaved = true;
          const live = await istioGateway();
          await patchIstioGateway([
            {
              op: 'add',
              path: `/spec/servers/${live.spec.servers.length}`,
              value: {
                name: 'late-team',
                port: { number: 8443, name: 'https-late', protocol: 'HTTPS' },
                hosts: ['late.other-test.example'],
                tls: { mode: 'SIMPLE', credentialName: 'late-tls' },
              },
            },
          ]);
        }
        return client.apply(objects);
      };
      return proxy;
    };
    try {
      await service().upload({
        environment: ENV_B,
        certificate: pem(
          [certs.wildcard, certs.intermediate],
          certs.wildcard.key,
        ),
        actor: ACTOR,
      });
    } finally {
      wrap = c => c;
    }
    expect(interleaved).toBe(true);
    const names = (await istioGateway()).spec.servers.map((s: any) => s.name);
    expect(names).toEqual([
      undefined,
      'team-tls',
      `kube-delivery-https-${ENV_A}`,
      `kube-delivery-http-${ENV_A}`,
      `kube-delivery-https-${ENV_B}`,
      'late-team',
    ]);
  });

  it('puts the Secret back as it was when the Gateway cannot be written after it, and records nothing', async () => {
    const gatewayBefore = await istioGateway();
    const cases = [
      // ENV_B has a certificate: its Secret gets the old chain and key back.
      {
        environment: ENV_B,
        upload: pem([certs.soon, certs.intermediate], certs.soon.key),
        before: await secretOf(ENV_B),
      },
      // ENV_API has none yet: the new Secret goes again.
      {
        environment: ENV_API,
        upload: pem([certs.shop, certs.intermediate], certs.shop.key),
        before: await secretOf(ENV_API),
      },
    ];
    expect(cases[0].before).toBeDefined();
    expect(cases[1].before).toBeUndefined();
    for (const { environment, upload, before } of cases) {
      const records = (await service().list(environment)).items.length;
      let secretWhenGatewayFailed: any;
      wrap = client => {
        const proxy = Object.create(client) as EnvironmentCluster;
        proxy.apply = async objects => {
          if (objects[0]?.kind === 'Gateway') {
            secretWhenGatewayFailed = await secretOf(environment);
            throw new Error('injected: the Gateway write failed');
          }
          return client.apply(objects);
        };
        return proxy;
      };
      let error: Error;
      try {
        error = await service()
          .upload({ environment, certificate: upload, actor: ACTOR })
          .catch(e => e);
      } finally {
        wrap = c => c;
      }
      expect(error.message).toBe('injected: the Gateway write failed');
      // The new Secret had been written before the Gateway write failed...
      expect(secretWhenGatewayFailed.data['tls.crt']).not.toBe(
        before?.data['tls.crt'],
      );
      // ...and is back as it was.
      const after = await secretOf(environment);
      expect(after === undefined).toBe(before === undefined);
      expect(after?.data).toEqual(before?.data);
      expect(after?.metadata.annotations).toEqual(before?.metadata.annotations);
      expect((await service().list(environment)).items).toHaveLength(records);
    }
    expect((await istioGateway()).metadata.resourceVersion).toBe(
      gatewayBefore.metadata.resourceVersion,
    );
  });

  it.each<[string, () => CertificateUploadInput, RegExp]>([
    [
      'a SAN miss',
      () => pem([certs.otherHost, certs.intermediate], certs.otherHost.key),
      /does not cover hosts shop.cert-test.example, www.cert-test.example/,
    ],
    [
      'the key of another certificate',
      () => pem([certs.shop, certs.intermediate], certs.wildcard.key),
      /does not match/,
    ],
    [
      'a CA certificate as the leaf',
      () => pem([certs.caLeaf, certs.intermediate], certs.caLeaf.key),
      /CA certificate/,
    ],
    [
      'an RSA 1024 key',
      () => pem([certs.rsa1024, certs.intermediate], certs.rsa1024.key),
      /at least 2048/,
    ],
    [
      'a chain out of order',
      () => pem([certs.intermediate, certs.shop], certs.shop.key),
      /belongs to certificate 2/,
    ],
    [
      'a PKCS#12 file with a wrong password',
      () => ({
        format: 'pkcs12',
        data: corpus.pkcs12(certs.shop, [certs.intermediate], 'right-one'),
        password: 'wrong-one',
      }),
      /password is wrong/,
    ],
  ])('refuses %s and changes nothing', async (_name, input, message) => {
    const gatewayBefore = await istioGateway();
    const secretBefore = await secretOf(ENV_A);
    const rowsBefore = await store.list(ENV_A, 100);
    const error = await service()
      .upload({ environment: ENV_A, certificate: input(), actor: ACTOR })
      .catch(e => e);
    expect(error).toBeInstanceOf(InputError);
    expect(error.message).toMatch(message);
    expect((await istioGateway()).metadata.resourceVersion).toBe(
      gatewayBefore.metadata.resourceVersion,
    );
    expect((await secretOf(ENV_A)).metadata.resourceVersion).toBe(
      secretBefore.metadata.resourceVersion,
    );
    expect(await store.list(ENV_A, 100)).toEqual(rowsBefore);
  });

  it('accepts a PKCS#12 file with the right password', async () => {
    const result = await service().upload({
      environment: ENV_A,
      certificate: {
        format: 'pkcs12',
        data: corpus
          .pkcs12(certs.wildcard, [certs.intermediate], 'p12-pass')
          .toString('base64'),
        password: 'p12-pass',
      },
      actor: ACTOR,
    });
    expect(result.certificate.subject).toBe('CN=wildcard');
    const secret = await secretOf(ENV_A);
    expect(Buffer.from(secret.data['tls.crt'], 'base64').toString()).toBe(
      certs.wildcard.cert + certs.intermediate.cert,
    );
  });

  it('writes with the gateway credentials only: the dev token is refused by RBAC and nothing is written', async () => {
    const gatewayBefore = await istioGateway();
    const error = await service()
      .upload({
        environment: ENV_DENIED,
        certificate: pem([certs.shop, certs.intermediate], certs.shop.key),
        actor: ACTOR,
      })
      .catch(e => e);
    expect(error).toBeInstanceOf(NotAllowedError);
    expect(await secretOf(ENV_DENIED)).toBeUndefined();
    expect((await istioGateway()).metadata.resourceVersion).toBe(
      gatewayBefore.metadata.resourceVersion,
    );
  });

  it('refuses to take over a Secret of the configured name that another team created', async () => {
    const name = `kd-${ENV_TAKEN}-tls`;
    await adminApply(cluster, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name, namespace: 'istio-system' },
      type: 'kubernetes.io/tls',
      data: { 'tls.crt': '', 'tls.key': '' },
    });
    const before = await secretOf(ENV_TAKEN);
    const gatewayBefore = await istioGateway();
    for (const attempt of [
      () =>
        service().upload({
          environment: ENV_TAKEN,
          certificate: pem([certs.shop, certs.intermediate], certs.shop.key),
          actor: ACTOR,
        }),
      () => service().useCertManager({ environment: ENV_TAKEN, actor: ACTOR }),
    ]) {
      const error = await attempt().catch(e => e);
      expect(error).toBeInstanceOf(ConflictError);
      expect(error.message).toMatch(
        new RegExp(
          `Secret "${name}" in namespace "istio-system" exists and was not created by Kube Delivery`,
        ),
      );
    }
    expect((await secretOf(ENV_TAKEN)).metadata.resourceVersion).toBe(
      before.metadata.resourceVersion,
    );
    expect(
      await adminGet(cluster, 'certificates.cert-manager.io', name),
    ).toBeUndefined();
    expect((await istioGateway()).metadata.resourceVersion).toBe(
      gatewayBefore.metadata.resourceVersion,
    );
  });

  it('with Gateway API, applies its own HTTPS listeners with certificateRefs and keeps the others', async () => {
    await service().upload({
      environment: ENV_API,
      certificate: pem([certs.shop, certs.intermediate], certs.shop.key),
      actor: ACTOR,
    });
    const gateway = await adminGet(
      cluster,
      'gateways.gateway.networking.k8s.io',
      API_GATEWAY,
    );
    expect(gateway.spec.listeners).toEqual([
      {
        name: 'http',
        port: 80,
        protocol: 'HTTP',
        allowedRoutes: expect.anything(),
      },
      {
        name: `kd-${ENV_API}-https`,
        hostname: 'shop.cert-test.example',
        port: 443,
        protocol: 'HTTPS',
        allowedRoutes: expect.anything(),
        tls: {
          mode: 'Terminate',
          certificateRefs: [
            { group: '', kind: 'Secret', name: `kd-${ENV_API}-tls` },
          ],
        },
      },
    ]);

    // Two hosts now: one listener each; the earlier listener is gone.
    const twoHosts = environments.map(env =>
      env.name === ENV_API
        ? {
            ...env,
            gateway: {
              ...env.gateway!,
              hosts: ['a.cert-test.example', 'b.cert-test.example'],
            },
          }
        : env,
    );
    await service(twoHosts).upload({
      environment: ENV_API,
      certificate: pem(
        [certs.wildcard, certs.intermediate],
        certs.wildcard.key,
      ),
      actor: ACTOR,
    });
    const after = await adminGet(
      cluster,
      'gateways.gateway.networking.k8s.io',
      API_GATEWAY,
    );
    expect(
      after.spec.listeners.map((l: any) => [l.name, l.hostname ?? null]),
    ).toEqual([
      ['http', null],
      [`kd-${ENV_API}-https-1`, 'a.cert-test.example'],
      [`kd-${ENV_API}-https-2`, 'b.cert-test.example'],
    ]);
  });

  it('refuses cert-manager while the Istio gateway redirects port 80, as the ACME challenge would be redirected too', async () => {
    const gatewayBefore = await istioGateway();
    const rowsBefore = await store.list(ENV_A, 100);
    // The live port-80 server redirects at server level, before any route.
    expect(
      gatewayBefore.spec.servers.find(
        (s: any) => s.name === `kube-delivery-http-${ENV_A}`,
      ),
    ).toMatchObject({ port: { number: 80 }, tls: { httpsRedirect: true } });
    const error = await service()
      .useCertManager({ environment: ENV_A, actor: ACTOR })
      .catch(e => e);
    expect(error).toBeInstanceOf(InputError);
    expect(error.message).toMatch(
      /httpsRedirect cannot be combined with tls.certManager on an Istio gateway.*\/\.well-known\/acme-challenge\/.*Remove tls.httpsRedirect/,
    );
    expect(
      await adminGet(cluster, 'certificates.cert-manager.io', `kd-${ENV_A}-tls`),
    ).toBeUndefined();
    expect((await istioGateway()).metadata.resourceVersion).toBe(
      gatewayBefore.metadata.resourceVersion,
    );
    expect(await store.list(ENV_A, 100)).toEqual(rowsBefore);
  });

  it('switches to cert-manager and reports its Ready condition', async () => {
    // Without the server-level redirect: port 80 stays open for the HTTP-01 solver.
    const certificates = service(
      environments.map(e =>
        e.name === ENV_A
          ? { ...e, gateway: { ...e.gateway!, tls: { ...e.gateway!.tls!, httpsRedirect: false } } }
          : e,
      ),
    );
    const switched = await certificates.useCertManager({
      environment: ENV_A,
      actor: ACTOR,
    });
    const servers = (await istioGateway()).spec.servers;
    expect(
      servers.find((s: any) => s.name === `kube-delivery-http-${ENV_A}`),
    ).toBeUndefined();
    expect(
      servers.filter((s: any) =>
        s.tls?.httpsRedirect && s.hosts.includes('shop.cert-test.example'),
      ),
    ).toEqual([]);
    expect(switched.certificate).toMatchObject({
      source: 'cert-manager',
      issuer: 'ClusterIssuer/letsencrypt-test',
      ready: false,
      status: 'pending',
    });
    const name = `kd-${ENV_A}-tls`;
    const certificate = await adminGet(
      cluster,
      'certificates.cert-manager.io',
      name,
    );
    expect(certificate.spec).toMatchObject({
      secretName: name,
      dnsNames: ['shop.cert-test.example', 'www.cert-test.example'],
      issuerRef: {
        name: 'letsencrypt-test',
        kind: 'ClusterIssuer',
        group: 'cert-manager.io',
      },
    });
    // The Gateway still reads the same Secret, which cert-manager will fill.
    const https = (await istioGateway()).spec.servers.find(
      (s: any) => s.name === `kube-delivery-https-${ENV_A}`,
    );
    expect(https.tls.credentialName).toBe(name);

    // Nothing runs cert-manager here: play its controller on the status subresource.
    const notAfter = new Date(Date.now() + 60 * DAY_MS);
    notAfter.setUTCMilliseconds(0);
    const setStatus = (status: object) =>
      kubectl(cluster, [
        'patch',
        'certificates.cert-manager.io',
        name,
        '-n',
        'istio-system',
        '--subresource=status',
        '--type=merge',
        '-p',
        JSON.stringify({ status }),
      ]);
    await setStatus({
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'Ready',
          message: 'Certificate is up to date and has not expired',
          lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        },
      ],
      notBefore: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      notAfter: notAfter.toISOString().replace(/\.\d+Z$/, 'Z'),
    });
    let listed = await certificates.list(ENV_A);
    expect(listed.items[0]).toMatchObject({
      source: 'cert-manager',
      active: true,
      ready: true,
      status: 'ok',
      notAfter: notAfter.toISOString(),
      readyMessage: 'Certificate is up to date and has not expired',
    });
    expect(listed.items[0].daysToExpiry).toBeGreaterThanOrEqual(59);
    expect(listed.items[1]).toMatchObject({ source: 'upload', active: false });
    expect(listed.gateway).toMatchObject({
      api: 'istio',
      secretName: name,
      httpsRedirect: false,
      certManagerIssuer: { name: 'letsencrypt-test', kind: 'ClusterIssuer' },
    });

    await setStatus({
      conditions: [
        {
          type: 'Ready',
          status: 'False',
          reason: 'Failed',
          message: 'The ACME order failed',
          lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        },
      ],
    });
    listed = await certificates.list(ENV_A);
    expect(listed.items[0]).toMatchObject({
      ready: false,
      status: 'failed',
      readyMessage: 'The ACME order failed',
    });

    // An upload takes over again: the Certificate goes, so cert-manager cannot overwrite it.
    await certificates.upload({
      environment: ENV_A,
      certificate: pem([certs.shop, certs.intermediate], certs.shop.key),
      actor: ACTOR,
    });
    expect(
      await adminGet(cluster, 'certificates.cert-manager.io', name),
    ).toBeUndefined();
    expect((await certificates.list(ENV_A)).items[0].source).toBe('upload');
  });

  it('reports when the live Gateway no longer serves the environment, until the next upload restores it', async () => {
    const certificates = service();
    expect((await certificates.list(ENV_B)).gateway.serving).toBe(true);
    // ENV_API's gateway serves the two hosts of the earlier test, not its configured one.
    expect((await certificates.list(ENV_API)).gateway).toMatchObject({
      serving: false,
      servingMessage: expect.stringContaining(
        `listener "kd-${ENV_API}-https" is missing`,
      ),
    });
    const servers = (await istioGateway()).spec.servers;
    const index = servers.findIndex(
      (s: any) => s.name === `kube-delivery-https-${ENV_B}`,
    );
    await patchIstioGateway([{ op: 'remove', path: `/spec/servers/${index}` }]);
    const listed = await certificates.list(ENV_B);
    expect(listed.gateway.serving).toBe(false);
    expect(listed.gateway.servingMessage).toMatch(
      new RegExp(
        `has no server "kube-delivery-https-${ENV_B}".*Upload the certificate again`,
      ),
    );
    // ENV_B configures no cert-manager issuer: cert-manager is not suggested.
    expect(listed.gateway.servingMessage).not.toMatch(/cert-manager/);
    await certificates.upload({
      environment: ENV_B,
      certificate: pem(
        [certs.wildcard, certs.intermediate],
        certs.wildcard.key,
      ),
      actor: ACTOR,
    });
    expect((await certificates.list(ENV_B)).gateway.serving).toBe(true);
  });

  it('accepts a certificate expiring soon with a warning, and the scheduled check flags it once', async () => {
    const certificates = service();
    const result = await certificates.upload({
      environment: ENV_B,
      certificate: pem([certs.soon, certs.intermediate], certs.soon.key),
      actor: ACTOR,
    });
    expect(result.warnings.join(' ')).toMatch(/expires in 9 day/);
    expect(result.certificate.status).toBe('expiring');

    // The scheduled task, run once: only ENV_B's active certificate expires within 30 days.
    const scheduler = mockServices.scheduler.mock();
    await certificates.schedule(scheduler);
    const task = scheduler.scheduleTask.mock.calls[0][0];
    expect(task).toMatchObject({
      id: 'kube-delivery-certificate-expiry',
      scope: 'global',
      frequency: { minutes: 60 },
    });
    await task.fn(new AbortController().signal);
    const history = await events.list({ environment: ENV_B, limit: 1 });
    expect(history.items[0]).toMatchObject({
      kind: 'certificate-changed',
      actor: 'kube-delivery:certificate-expiry',
      details: expect.objectContaining({ change: 'expiring', daysToExpiry: 9 }),
    });
    expect(history.items[0].message).toMatch(
      /expires in 9 day\(s\).*Upload a renewed one/,
    );
    expect(
      (await events.list({ environment: ENV_A, limit: 1 })).items[0]
        .details,
    ).not.toMatchObject({ change: 'expiring' });
    expect(await certificates.checkExpiry()).toBe(0);
    // 400 days from now everything active has expired; ENV_B was flagged already.
    expect(
      await certificates.checkExpiry(new Date(Date.now() + 400 * DAY_MS)),
    ).toBe(2);
  });

  it('shows the earliest expiry of the whole chain: an intermediate expiring in 29 days, not the leaf\'s 89', async () => {
    const certificates = service();
    const shortIntermediate = corpus.issue('intermediate29', {
      issuer: certs.root,
      kind: 'ca',
      days: 29,
    });
    const leaf = corpus.issue('leaf89', {
      issuer: shortIntermediate,
      sans: ['*.cert-test.example'],
      days: 89,
    });
    const result = await certificates.upload({
      environment: ENV_B,
      certificate: pem([leaf, shortIntermediate], leaf.key),
      actor: ACTOR,
    });
    expect(result.warnings.join(' ')).toMatch(
      /Certificate 2 of the chain \(CN=intermediate29\) expires in 2[89] day\(s\).*before the certificate itself/,
    );
    const intermediateExpiry = new Date(
      new X509Certificate(shortIntermediate.cert).validTo,
    ).toISOString();
    const active = (await certificates.list(ENV_B)).items[0];
    expect(active).toMatchObject({
      subject: 'CN=leaf89',
      status: 'expiring',
      notAfter: intermediateExpiry,
    });
    expect(active.daysToExpiry).toBeGreaterThanOrEqual(28);
    expect(active.daysToExpiry).toBeLessThanOrEqual(29);
    // The scheduled check flags it by the chain's expiry too.
    expect(await certificates.checkExpiry()).toBe(1);
    const history = await events.list({ environment: ENV_B, limit: 1 });
    expect(history.items[0].message).toMatch(/expires in 2[89] day\(s\)/);
  });
});
