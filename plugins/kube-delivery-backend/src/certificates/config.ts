import type { Config } from '@backstage/config';
import type {
  EnvironmentConfig,
  GatewayTlsConfig,
} from '../config/environments';

const SECRET_NAME =
  /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** The defaults of an environment's gateway TLS: Secret `kube-delivery-<environment>-tls`, no redirect. */
export function defaultGatewayTls(environment: string): GatewayTlsConfig {
  return { secretName: `kube-delivery-${environment}-tls`, httpsRedirect: false };
}

/** `gateway.api` and `gateway.tls` of one environment, checked at start-up. */
export function readGatewayTls(
  gateway: Config,
  environment: string,
): { api: 'istio' | 'gateway-api'; tls: GatewayTlsConfig } {
  const where = `kubeDelivery.environments "${environment}" gateway`;
  const api = gateway.getOptionalString('api') ?? 'istio';
  if (api !== 'istio' && api !== 'gateway-api') {
    throw new Error(`${where}.api must be "istio" or "gateway-api", not "${api}"`);
  }
  const tls = gateway.getOptionalConfig('tls');
  const defaults = defaultGatewayTls(environment);
  const secretName = tls?.getOptionalString('secretName') ?? defaults.secretName;
  if (secretName.length > 253 || !SECRET_NAME.test(secretName)) {
    throw new Error(`${where}.tls.secretName "${secretName}" is not a valid Secret name`);
  }
  const httpsRedirect = tls?.getOptionalBoolean('httpsRedirect') ?? false;
  if (httpsRedirect && api === 'gateway-api') {
    throw new Error(
      `${where}.tls.httpsRedirect is supported for Istio gateways only; with Gateway API, ` +
        'add an HTTPRoute with a RequestRedirect filter on the HTTP listener',
    );
  }
  const certManager = tls?.getOptionalConfig('certManager');
  let certManagerIssuer: GatewayTlsConfig['certManagerIssuer'];
  if (certManager) {
    const kind = certManager.getOptionalString('issuerKind') ?? 'ClusterIssuer';
    if (kind !== 'Issuer' && kind !== 'ClusterIssuer') {
      throw new Error(
        `${where}.tls.certManager.issuerKind must be "Issuer" or "ClusterIssuer", not "${kind}"`,
      );
    }
    certManagerIssuer = {
      name: certManager.getString('issuerName'),
      kind,
      group: certManager.getOptionalString('issuerGroup') ?? 'cert-manager.io',
    };
  }
  const refusal = acmeRedirectRefusal(api, httpsRedirect, certManagerIssuer);
  if (refusal) throw new Error(`${where}: ${refusal}`);
  return { api, tls: { secretName, httpsRedirect, certManagerIssuer } };
}

/**
 * Why an HTTP-to-HTTPS redirect and cert-manager cannot go together on this
 * gateway, or undefined when they can.
 *
 * cert-manager's HTTP-01 solver must answer `/.well-known/acme-challenge/` on
 * port 80. On an Istio Gateway, `tls.httpsRedirect` is server-level: Envoy
 * answers every request of the server's hosts with a 301 before any
 * VirtualService route is looked at, the solver's route included: the
 * challenge never reaches the solver (and the first certificate's HTTPS
 * server has no certificate yet to follow the redirect to).
 * Keeping port 80 unredirected for that path would need a route-level
 * redirect that excludes it, in a VirtualService for the same hosts; Kube
 * Delivery writes no such VirtualService, and the solver's own route (an
 * Ingress or VirtualService cert-manager creates) would be merged with it in
 * no guaranteed order, while Istio's RE2 regexes cannot say "every path but
 * this one". So the combination is refused, saying what to configure instead.
 * With Gateway API the redirect is an HTTPRoute filter the platform team
 * writes (tls.httpsRedirect is refused there), and the solver's HTTPRoute
 * with its exact path wins over a `/` prefix by Gateway API's match
 * precedence, so HTTP-01 keeps working.
 */
export function acmeRedirectRefusal(
  api: 'istio' | 'gateway-api',
  httpsRedirect: boolean,
  certManagerIssuer: GatewayTlsConfig['certManagerIssuer'],
): string | undefined {
  if (api !== 'istio' || !httpsRedirect || !certManagerIssuer) return undefined;
  return (
    'tls.httpsRedirect cannot be combined with tls.certManager on an Istio gateway: ' +
    "Istio's server-level redirect would also redirect cert-manager's HTTP-01 " +
    'challenge (/.well-known/acme-challenge/ on port 80), so no certificate would be ' +
    'issued. Remove tls.httpsRedirect and redirect to HTTPS in a VirtualService that ' +
    'leaves /.well-known/acme-challenge/ alone, or remove tls.certManager and upload ' +
    'certificates'
  );
}

/** The gateway TLS settings of an environment, with defaults for one configured in code. */
export function gatewayTlsOf(environment: EnvironmentConfig): GatewayTlsConfig {
  return environment.gateway?.tls ?? defaultGatewayTls(environment.name);
}

export interface CertificateSettings {
  expiryWarningDays: number;
  checkIntervalMinutes: number;
}

/** `kubeDelivery.certificates`, with defaults: warn 30 days ahead, check hourly. */
export function readCertificateSettings(root: Config): CertificateSettings {
  const config = root.getOptionalConfig('kubeDelivery.certificates');
  const expiryWarningDays = config?.getOptionalNumber('expiryWarningDays') ?? 30;
  const checkIntervalMinutes =
    config?.getOptionalNumber('checkIntervalMinutes') ?? 60;
  if (!(expiryWarningDays >= 0)) {
    throw new Error('kubeDelivery.certificates.expiryWarningDays must not be negative');
  }
  if (!(checkIntervalMinutes >= 1)) {
    throw new Error('kubeDelivery.certificates.checkIntervalMinutes must be at least 1');
  }
  return { expiryWarningDays, checkIntervalMinutes };
}
