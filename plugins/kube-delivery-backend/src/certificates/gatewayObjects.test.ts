import { ConfigReader } from '@backstage/config';
import { readDeliveryConfig } from '../config/environments';
import { readCertificateSettings } from './config';
import {
  certManagerStatus,
  gatewayApiPatch,
  istioServers,
  missingHttps,
  type HttpsTarget,
  type IstioServer,
} from './gatewayObjects';

const target: HttpsTarget = {
  environment: 'dev',
  gatewayName: 'ingressgateway',
  routeNamespace: 'dev',
  hosts: ['dev.boutique.example'],
  secretName: 'kube-delivery-dev-tls',
  httpsRedirect: false,
};

const plainHttp: IstioServer = {
  port: { number: 80, name: 'http', protocol: 'HTTP' },
  hosts: ['*.boutique.example'],
};
const testHttps: IstioServer = {
  name: 'kube-delivery-https-test',
  port: { number: 443, name: 'https-kd-test', protocol: 'HTTPS' },
  hosts: ['test.boutique.example'],
  tls: { mode: 'SIMPLE', credentialName: 'kube-delivery-test-tls' },
};

describe('istioServers', () => {
  it('replaces its own server in place and keeps every other one, including other environments', () => {
    const stale = {
      ...testHttps,
      name: 'kube-delivery-https-dev',
      hosts: ['old.boutique.example'],
    };
    const servers = istioServers([plainHttp, stale, testHttps], target);
    expect(servers[0]).toBe(plainHttp);
    expect(servers[2]).toBe(testHttps);
    expect(servers[1]).toEqual({
      name: 'kube-delivery-https-dev',
      port: { number: 443, name: 'https-kd-dev', protocol: 'HTTPS' },
      hosts: ['dev.boutique.example'],
      tls: { mode: 'SIMPLE', credentialName: 'kube-delivery-dev-tls' },
    });
  });

  it('adds the redirect server when asked and removes it again when not', () => {
    const withRedirect = istioServers([plainHttp], {
      ...target,
      httpsRedirect: true,
    });
    expect(withRedirect.map(s => s.name)).toEqual([
      undefined,
      'kube-delivery-https-dev',
      'kube-delivery-http-dev',
    ]);
    expect(withRedirect[2].tls).toEqual({ httpsRedirect: true });
    expect(istioServers(withRedirect, target).map(s => s.name)).toEqual([
      undefined,
      'kube-delivery-https-dev',
    ]);
  });
});

describe('missingHttps', () => {
  const istio = (servers: IstioServer[]) => ({
    apiVersion: 'networking.istio.io/v1',
    kind: 'Gateway',
    spec: { servers },
  });

  it('accepts its own server and names what is missing or changed', () => {
    const served = istioServers([plainHttp], target);
    expect(missingHttps('istio', istio(served), target)).toBeUndefined();
    expect(missingHttps('istio', istio([plainHttp]), target)).toBe(
      'it has no server "kube-delivery-https-dev"',
    );
    const otherSecret = served.map(s =>
      s.name === 'kube-delivery-https-dev'
        ? { ...s, tls: { mode: 'SIMPLE', credentialName: 'other' } }
        : s,
    );
    expect(missingHttps('istio', istio(otherSecret), target)).toMatch(/was changed/);
    expect(
      missingHttps('istio', istio(served), { ...target, hosts: ['new.example'] }),
    ).toMatch(/was changed/);
  });

  it('checks every Gateway API listener', () => {
    const live = gatewayApiPatch({ ...target, hosts: ['a.example', 'b.example'] });
    expect(
      missingHttps('gateway-api', live, { ...target, hosts: ['a.example', 'b.example'] }),
    ).toBeUndefined();
    expect(missingHttps('gateway-api', live, target)).toBe(
      'its listener "kd-dev-https" is missing or was changed',
    );
  });
});

describe('certManagerStatus', () => {
  const withConditions = (conditions: object[], extra: object = {}) => ({
    apiVersion: 'cert-manager.io/v1',
    kind: 'Certificate',
    status: { conditions, ...extra },
  });

  it('reads Ready, Issuing, the message and the validity', () => {
    expect(
      certManagerStatus(
        withConditions(
          [{ type: 'Ready', status: 'True', message: 'up to date' }],
          { notAfter: '2027-01-01T00:00:00Z', notBefore: 'garbage' },
        ),
      ),
    ).toEqual({
      ready: true,
      issuing: false,
      message: 'up to date',
      notAfter: '2027-01-01T00:00:00.000Z',
      notBefore: undefined,
    });
    expect(
      certManagerStatus(
        withConditions([
          { type: 'Ready', status: 'False', reason: 'DoesNotExist' },
          { type: 'Issuing', status: 'True' },
        ]),
      ),
    ).toMatchObject({ ready: false, issuing: true, message: 'DoesNotExist' });
  });

  it('treats Unknown and a missing status as not reported', () => {
    expect(
      certManagerStatus(withConditions([{ type: 'Ready', status: 'Unknown' }]))
        .ready,
    ).toBeUndefined();
    expect(certManagerStatus(undefined)).toEqual({ issuing: false });
  });
});

describe('gateway TLS configuration', () => {
  const read = (gateway: object, extra: object = {}) =>
    readDeliveryConfig(
      new ConfigReader({
        kubeDelivery: {
          environments: [
            {
              name: 'dev',
              namespace: 'dev',
              cluster: { url: 'https://k8s.example', serviceAccountToken: 't' },
              gateway: {
                namespace: 'istio-system',
                name: 'ingressgateway',
                hosts: ['dev.boutique.example'],
                ...gateway,
              },
            },
          ],
          ...extra,
        },
      }),
    ).environments[0].gateway;

  it('has defaults: Istio, Secret kube-delivery-<environment>-tls, no redirect, no issuer', () => {
    expect(read({})).toMatchObject({
      api: 'istio',
      tls: {
        secretName: 'kube-delivery-dev-tls',
        httpsRedirect: false,
        certManagerIssuer: undefined,
      },
    });
  });

  it('reads the issuer with its defaults', () => {
    expect(
      read({ tls: { certManager: { issuerName: 'letsencrypt' } } })?.tls
        ?.certManagerIssuer,
    ).toEqual({
      name: 'letsencrypt',
      kind: 'ClusterIssuer',
      group: 'cert-manager.io',
    });
  });

  it.each([
    // Routing reads gateway.api too (as its default routingApi) and may refuse it first.
    [{ api: 'nginx' }, /must be "?istio"? or "?gateway-api/],
    [{ tls: { secretName: 'Not_A_Name' } }, /not a valid Secret name/],
    [
      { api: 'gateway-api', tls: { httpsRedirect: true } },
      /httpsRedirect is supported for Istio gateways only/,
    ],
    [
      { tls: { certManager: { issuerName: 'x', issuerKind: 'Vault' } } },
      /issuerKind must be "Issuer" or "ClusterIssuer"/,
    ],
    [
      { tls: { httpsRedirect: true, certManager: { issuerName: 'letsencrypt' } } },
      /httpsRedirect cannot be combined with tls.certManager on an Istio gateway: .*HTTP-01 challenge \(\/\.well-known\/acme-challenge\/ on port 80\).*Remove tls.httpsRedirect/,
    ],
  ])('refuses %j at start-up', (gateway, message) => {
    expect(() => read(gateway)).toThrow(message);
  });

  it('accepts the redirect and cert-manager each on their own', () => {
    expect(read({ tls: { httpsRedirect: true } })?.tls?.httpsRedirect).toBe(true);
    expect(
      read({ tls: { certManager: { issuerName: 'letsencrypt' } } })?.tls
        ?.certManagerIssuer?.name,
    ).toBe('letsencrypt');
  });

  it('reads the certificate settings with defaults and refuses nonsense', () => {
    expect(readCertificateSettings(new ConfigReader({}))).toEqual({
      expiryWarningDays: 30,
      checkIntervalMinutes: 60,
    });
    expect(() =>
      readCertificateSettings(
        new ConfigReader({
          kubeDelivery: { certificates: { checkIntervalMinutes: 0 } },
        }),
      ),
    ).toThrow(/at least 1/);
  });
});
