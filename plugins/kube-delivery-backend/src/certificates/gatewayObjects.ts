import type { KubernetesObject } from '@kubernetes/client-node';
import { LABEL_MANAGED_BY, MANAGER } from '../cluster/managedObjects';

/*
 * The Kubernetes objects of an environment's HTTPS: pure functions, no cluster.
 *
 * Istio's Gateway `spec.servers` is an atomic list (its CRD declares no list-map
 * keys), so server-side apply cannot own single servers: whoever applies the list
 * owns all of it. Kube Delivery therefore reads the Gateway, replaces only the
 * servers it names (`kube-delivery-https-<environment>`,
 * `kube-delivery-http-<environment>`), keeps every other server exactly as it
 * is, and writes the whole list with the read resourceVersion as a precondition
 * (a concurrent change is a conflict, and the write is redone on a fresh read).
 *
 * Gateway API's `spec.listeners` is a map keyed by name, so there server-side
 * apply of Kube Delivery's own listeners alone is exact: others' listeners are
 * never sent, and a listener Kube Delivery no longer applies is removed by the
 * API server.
 */

export const ISTIO_GATEWAY_API_VERSION = 'networking.istio.io/v1';
export const GATEWAY_API_VERSION = 'gateway.networking.k8s.io/v1';
export const CERTIFICATE_API_VERSION = 'cert-manager.io/v1';

const MANAGED_BY_LABEL = { [LABEL_MANAGED_BY]: MANAGER };

export interface IstioServer {
  name?: string;
  port?: { number?: number; name?: string; protocol?: string };
  hosts?: string[];
  tls?: Record<string, unknown>;
  [field: string]: unknown;
}

export interface IstioGateway extends KubernetesObject {
  spec?: { servers?: IstioServer[]; [field: string]: unknown };
}

/** What an environment's gateway should serve. */
export interface HttpsTarget {
  environment: string;
  /** Gateway name (in the namespace the cluster client is confined to). */
  gatewayName: string;
  /** The environment's namespace: the only one whose routes the HTTPS listeners accept. */
  routeNamespace: string;
  hosts: string[];
  secretName: string;
  httpsRedirect: boolean;
}

export const httpsServerName = (environment: string) =>
  `kube-delivery-https-${environment}`;
export const redirectServerName = (environment: string) =>
  `kube-delivery-http-${environment}`;

/**
 * The Gateway's servers with the environment's HTTPS server (port 443, SIMPLE,
 * credentialName) and, when asked, its HTTP redirect server. Servers Kube
 * Delivery does not name are returned unchanged and in place.
 */
export function istioServers(
  live: IstioServer[],
  target: HttpsTarget,
): IstioServer[] {
  const https: IstioServer = {
    name: httpsServerName(target.environment),
    port: {
      number: 443,
      name: `https-kd-${target.environment}`,
      protocol: 'HTTPS',
    },
    hosts: [...target.hosts],
    tls: { mode: 'SIMPLE', credentialName: target.secretName },
  };
  const redirect: IstioServer | undefined = target.httpsRedirect
    ? {
        name: redirectServerName(target.environment),
        port: {
          number: 80,
          name: `http-kd-${target.environment}`,
          protocol: 'HTTP',
        },
        hosts: [...target.hosts],
        tls: { httpsRedirect: true },
      }
    : undefined;
  const ours = new Map<string, IstioServer | undefined>([
    [https.name!, https],
    [redirectServerName(target.environment), redirect],
  ]);
  const servers: IstioServer[] = [];
  for (const server of live) {
    if (server.name !== undefined && ours.has(server.name)) {
      const replacement = ours.get(server.name);
      if (replacement) servers.push(replacement);
      ours.delete(server.name);
    } else {
      servers.push(server);
    }
  }
  for (const server of ours.values()) if (server) servers.push(server);
  return servers;
}

/** The Istio Gateway to apply: only `spec.servers`, with the read resourceVersion as precondition. */
export function istioGatewayPatch(
  live: IstioGateway,
  target: HttpsTarget,
): IstioGateway {
  return {
    apiVersion: ISTIO_GATEWAY_API_VERSION,
    kind: 'Gateway',
    metadata: {
      name: target.gatewayName,
      resourceVersion: live.metadata?.resourceVersion,
    },
    spec: { servers: istioServers(live.spec?.servers ?? [], target) },
  };
}

/** Kube Delivery's HTTPS listeners of a Gateway API Gateway: one per host (a listener has one hostname). */
export function gatewayApiPatch(target: HttpsTarget): KubernetesObject {
  const listeners = target.hosts.map((hostname, index) => ({
    name:
      target.hosts.length === 1
        ? `kd-${target.environment}-https`
        : `kd-${target.environment}-https-${index + 1}`,
    hostname,
    port: 443,
    protocol: 'HTTPS',
    tls: {
      mode: 'Terminate',
      certificateRefs: [{ group: '', kind: 'Secret', name: target.secretName }],
    },
    // The default (`Same`) would accept only routes of the gateway's own namespace,
    // never the environment's HTTPRoutes.
    allowedRoutes: {
      namespaces: {
        from: 'Selector',
        selector: {
          matchLabels: { 'kubernetes.io/metadata.name': target.routeNamespace },
        },
      },
    },
  }));
  return {
    apiVersion: GATEWAY_API_VERSION,
    kind: 'Gateway',
    metadata: { name: target.gatewayName },
    spec: { listeners },
  } as KubernetesObject;
}

/**
 * The `kubernetes.io/tls` Secret. Only public facts go into labels and
 * annotations; the key is in `data` only, written by server-side apply (which
 * keeps no last-applied-configuration annotation).
 */
export function tlsSecret(options: {
  environment: string;
  secretName: string;
  chainPem: string;
  keyPem: string;
  fingerprintSha256: string;
}): KubernetesObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: options.secretName,
      labels: {
        ...MANAGED_BY_LABEL,
        'kube-delivery.io/environment': options.environment,
      },
      annotations: {
        'kube-delivery.io/certificate-sha256': options.fingerprintSha256,
      },
    },
    type: 'kubernetes.io/tls',
    data: {
      'tls.crt': Buffer.from(options.chainPem).toString('base64'),
      'tls.key': Buffer.from(options.keyPem).toString('base64'),
    },
  } as KubernetesObject;
}

export interface IssuerRef {
  name: string;
  kind: string;
  group: string;
}

/** A cert-manager Certificate for the gateway's hosts into the Secret the gateway reads. */
export function certManagerCertificate(options: {
  environment: string;
  secretName: string;
  hosts: string[];
  issuer: IssuerRef;
}): KubernetesObject {
  return {
    apiVersion: CERTIFICATE_API_VERSION,
    kind: 'Certificate',
    metadata: {
      name: options.secretName,
      labels: {
        ...MANAGED_BY_LABEL,
        'kube-delivery.io/environment': options.environment,
      },
    },
    spec: {
      secretName: options.secretName,
      dnsNames: [...options.hosts],
      issuerRef: { ...options.issuer },
      secretTemplate: {
        labels: {
          ...MANAGED_BY_LABEL,
          'kube-delivery.io/environment': options.environment,
        },
      },
    },
  } as KubernetesObject;
}

export interface CertManagerStatus {
  /** The Ready condition: true, false, or undefined when not reported yet. */
  ready?: boolean;
  /** Issuing condition is True: cert-manager is (re)issuing. */
  issuing: boolean;
  message?: string;
  notBefore?: string;
  notAfter?: string;
}

const READY_VALUES: Record<string, boolean | undefined> = {
  True: true,
  False: false,
};

interface Condition {
  type?: string;
  status?: string;
  message?: string;
  reason?: string;
}

/** The Ready/Issuing conditions and validity cert-manager reports in a Certificate's status. */
export function certManagerStatus(
  certificate: KubernetesObject | undefined,
): CertManagerStatus {
  const status = (certificate as any)?.status ?? {};
  const conditions: Condition[] = Array.isArray(status.conditions)
    ? status.conditions
    : [];
  const ready = conditions.find(c => c.type === 'Ready');
  const issuing = conditions.find(c => c.type === 'Issuing');
  const asDate = (value: unknown) =>
    typeof value === 'string' && !Number.isNaN(Date.parse(value))
      ? new Date(value).toISOString()
      : undefined;
  return {
    // Unknown (or no condition yet) is neither.
    ready: READY_VALUES[ready?.status ?? ''],
    issuing: issuing?.status === 'True',
    message: ready?.message
      ? String(ready.message).slice(0, 1024)
      : ready?.reason,
    notBefore: asDate(status.notBefore),
    notAfter: asDate(status.notAfter),
  };
}

/**
 * Whether the live Gateway serves the target's HTTPS: Kube Delivery's 443
 * server (Istio) or listeners (Gateway API) for exactly its hosts, reading its
 * Secret. Undefined when it does; otherwise what is missing.
 */
export function missingHttps(
  api: 'istio' | 'gateway-api',
  live: KubernetesObject,
  target: HttpsTarget,
): string | undefined {
  const spec = (live as any).spec ?? {};
  const sameHosts = (hosts: unknown) =>
    JSON.stringify(hosts) === JSON.stringify(target.hosts);
  if (api === 'istio') {
    const name = httpsServerName(target.environment);
    const server = (spec.servers ?? []).find(
      (s: IstioServer) => s.name === name,
    );
    if (!server) return `it has no server "${name}"`;
    if (
      server.tls?.mode !== 'SIMPLE' ||
      server.tls?.credentialName !== target.secretName ||
      !sameHosts(server.hosts)
    ) {
      return `its server "${name}" was changed (hosts, mode or credentialName)`;
    }
    return undefined;
  }
  const expected = (gatewayApiPatch(target) as any).spec.listeners;
  const listeners = spec.listeners ?? [];
  for (const want of expected) {
    const have = listeners.find((l: { name?: string }) => l.name === want.name);
    if (
      !have ||
      have.hostname !== want.hostname ||
      have.tls?.certificateRefs?.[0]?.name !== target.secretName
    ) {
      return `its listener "${want.name}" is missing or was changed`;
    }
  }
  return undefined;
}
