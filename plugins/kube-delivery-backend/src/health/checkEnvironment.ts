import { NotAllowedError, NotFoundError } from '@backstage/errors';
import { ApiException, type V1Namespace } from '@kubernetes/client-node';
import { MANAGED_KINDS, type AccessCheck } from '../cluster';
import type { HealthConnections } from '../cluster/ClusterClients';
import type { Batch } from '../cluster/connection';
import { toClusterError } from '../cluster/errors';
import type { EnvironmentConfig } from '../config/environments';
import { BASELINE_LABELS, podSecurityFinding } from './podSecurity';
import {
  worstStatus,
  type EnvironmentHealth,
  type HealthFinding,
} from './types';

/**
 * Everything the deployment runner does in an environment's namespace. A
 * server-side apply that creates an object is authorised as `create` as well
 * as `patch`, so both are needed for every kind the runner writes.
 */
/** What a namespace-scoped deployer may not do in every namespace. */
const BEYOND_NAMESPACE: AccessCheck[] = [
  { verb: 'create', group: 'apps', resource: 'deployments' },
  { verb: 'get', group: '', resource: 'secrets' },
];

export const DEPLOY_ACCESS: AccessCheck[] = [
  ...MANAGED_KINDS.flatMap(({ group, resource }) =>
    ['get', 'list', 'create', 'patch', 'delete'].map(verb => ({
      verb,
      group,
      resource,
    })),
  ),
  ...(
    [
      ['', 'pods'],
      ['apps', 'replicasets'],
    ] as const
  ).flatMap(([group, resource]) =>
    ['get', 'list'].map(verb => ({ verb, group, resource })),
  ),
];

const ISTIO_NETWORKING = 'networking.istio.io/v1';
const ISTIO_KINDS = ['VirtualService', 'Gateway'];

const enc = encodeURIComponent;

function statusCode(error: unknown): number | undefined {
  return error instanceof ApiException ? error.code : undefined;
}

/** Who the credentials are, e.g. system:serviceaccount:kube-delivery-system:deployer-dev. */
async function whoAmI(b: Batch): Promise<string | undefined> {
  try {
    const review = await b.request<{
      status?: { userInfo?: { username?: string } };
    }>({
      method: 'POST',
      path: '/apis/authentication.k8s.io/v1/selfsubjectreviews',
      body: {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'SelfSubjectReview',
      },
    });
    return review.status?.userInfo?.username;
  } catch {
    return undefined;
  }
}

/** kubectl's way of naming a subject in `create clusterrolebinding`. */
function subjectFlag(username: string | undefined): string {
  const sa = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(username ?? '');
  if (sa) return `--serviceaccount=${sa[1]}:${sa[2]}`;
  return username
    ? `--user=${username}`
    : '--serviceaccount=<namespace>:<serviceaccount>';
}

/** Whether a Gateway server host (`*`, `*.example.com`, `ns/host`) covers `host`. */
function hostCovered(serverHost: string, host: string): boolean {
  const pattern = serverHost.includes('/')
    ? serverHost.split('/')[1]
    : serverHost;
  if (pattern === '*') return true;
  if (pattern.startsWith('*.')) return host.endsWith(pattern.slice(1));
  return pattern === host;
}

/**
 * Checks an environment the way a deploy tool checks its targets: the cluster
 * answers, the credentials may do what deploying needs, the Istio CRDs are
 * installed, the namespace has sidecar injection and PodSecurity enforcement,
 * and the gateway exists.
 * Never throws: every problem is a finding.
 */
export async function checkEnvironment(
  env: EnvironmentConfig,
  connect: () => HealthConnections,
): Promise<EnvironmentHealth> {
  const findings: HealthFinding[] = [];
  const done = (): EnvironmentHealth => ({
    environment: env.name,
    status: worstStatus(findings.map(f => f.status)),
    checkedAt: new Date().toISOString(),
    findings,
  });
  const where = `kubeDelivery.environments "${env.name}"`;
  const ns = env.namespace;

  // (a) The cluster answers, through the environment's own credentials.
  let connections: HealthConnections;
  let b: Batch;
  try {
    connections = connect();
    b = await connections.environment.batch();
  } catch (error) {
    findings.push({
      check: 'cluster',
      status: 'error',
      message: `The cluster settings of environment "${
        env.name
      }" are unusable: ${(error as Error).message}`,
      action: `Fix the cluster block of ${where} in app-config (url with serviceAccountToken or serviceAccountTokenFile, or kubeconfigContext)`,
    });
    return done();
  }
  const ref = {
    name: env.name,
    namespace: ns,
    server: connections.environment.server,
  };
  try {
    const version = await b.request<{ gitVersion?: string }>({
      method: 'GET',
      path: '/version',
    });
    findings.push({
      check: 'cluster',
      status: 'ok',
      message: `The API server at ${ref.server} answers (Kubernetes ${
        version?.gitVersion ?? 'unknown version'
      })`,
      action: '',
    });
  } catch (error) {
    const unauthorized = statusCode(error) === 401;
    findings.push({
      check: 'cluster',
      status: 'error',
      message: toClusterError(error, ref, { verb: 'get', kind: 'version' })
        .message,
      action: unauthorized
        ? `Issue a new token for the environment's ServiceAccount (e.g. kubectl create token deployer-${env.name} -n kube-delivery-system --duration=8760h) and put it in ${where} cluster.serviceAccountToken(File)`
        : `Check that the backend can reach ${ref.server} (API server running, network, firewall) and that ${where} cluster.url and caData are right`,
    });
    // Nothing else can be checked without the cluster.
    return done();
  }
  const username = await whoAmI(b);
  const who = username
    ? `"${username}"`
    : `the credentials of environment "${env.name}"`;

  // (b) The credentials may do what deploying needs.
  try {
    const denied = await connections.cluster.whoCan(DEPLOY_ACCESS);
    if (denied.length === 0) {
      findings.push({
        check: 'credentials',
        status: 'ok',
        message: `${who} may do all ${DEPLOY_ACCESS.length} things deploying needs in namespace "${ns}"`,
        action: '',
      });
    }
    for (const d of denied) {
      const resource = d.group ? `${d.resource}.${d.group}` : d.resource;
      findings.push({
        check: `credentials:${d.verb} ${resource}`,
        status: 'error',
        message: `${who} may not ${
          d.verb
        } ${resource} in namespace "${ns}", which deploying needs${
          d.reason ? ` (${d.reason})` : ''
        }`,
        action: `Add verb "${d.verb}" on resource "${
          d.resource
        }" (apiGroups: ["${d.group}"]) to the Role bound to ${
          username ?? "the environment's ServiceAccount"
        } in namespace "${ns}", e.g. kubectl edit role <role> -n ${ns}`,
      });
    }
  } catch (error) {
    findings.push({
      check: 'credentials',
      status: 'error',
      message: `Could not check the permissions of ${who}: ${
        (error as Error).message
      }`,
      action:
        "Creating SelfSubjectAccessReviews is allowed to every authenticated user by default; check the cluster's authorization setup",
    });
  }

  // (b2) ... and no more: one powerful credential would let a deploy of one
  // environment reach every namespace (a Kubernetes plugin credential named
  // through kubernetes.clusterLocatorMethods is often cluster-wide).
  try {
    const beyond = await connections.cluster.whoCan(
      BEYOND_NAMESPACE.map(check => ({ ...check, namespace: '' })),
    );
    const allowed = BEYOND_NAMESPACE.filter(
      check =>
        !beyond.some(
          d => d.verb === check.verb && d.resource === check.resource,
        ),
    );
    if (allowed.length) {
      findings.push({
        check: 'credential-scope',
        status: 'warning',
        message: `${who} may ${allowed
          .map(c => `${c.verb} ${c.resource}`)
          .join(' and ')} in every namespace, not only in "${ns}"`,
        action: `Give ${where} a ServiceAccount token whose rights are bound by a Role in namespace "${ns}" only (README: "Connecting a real cluster"), as cluster.serviceAccountToken(File)`,
      });
    }
  } catch {
    // Reported by the credentials check above.
  }

  // (c) The Istio CRDs are installed (discovery is open to every authenticated user).
  try {
    const list = await b.requestOrUndefined<{
      resources?: Array<{ kind: string; name: string }>;
    }>({
      method: 'GET',
      path: `/apis/${ISTIO_NETWORKING}`,
    });
    const served = new Set(
      (list?.resources ?? [])
        .filter(r => !r.name.includes('/'))
        .map(r => r.kind),
    );
    const missing = ISTIO_KINDS.filter(kind => !served.has(kind));
    findings.push(
      missing.length === 0
        ? {
            check: 'istio-crds',
            status: 'ok',
            message: `${ISTIO_NETWORKING} serves ${ISTIO_KINDS.join(' and ')}`,
            action: '',
          }
        : {
            check: 'istio-crds',
            status: 'error',
            message: list
              ? `${ISTIO_NETWORKING} does not serve ${missing.join(
                  ' or ',
                )}: the Istio CRDs are incomplete or too old`
              : `The cluster does not serve ${ISTIO_NETWORKING}: the Istio CRDs are not installed`,
            action:
              'Install or upgrade the Istio CRDs, e.g. istioctl install, or helm upgrade --install istio-base istio/base -n istio-system',
          },
    );
  } catch (error) {
    findings.push({
      check: 'istio-crds',
      status: 'error',
      message: `API discovery of ${ISTIO_NETWORKING} failed: ${
        toClusterError(error, ref, { verb: 'get' }).message
      }`,
      action:
        'Check the API server (discovery is open to every authenticated user)',
    });
  }

  // (d) The namespace has sidecar injection on, and (e) Kubernetes enforces
  // PodSecurity there: both from the one read of the Namespace.
  try {
    const namespace = await b.request<V1Namespace>({
      method: 'GET',
      path: `/api/v1/namespaces/${enc(ns)}`,
    });
    const labels = namespace.metadata?.labels ?? {};
    const injection = labels['istio-injection'];
    const revision = labels['istio.io/rev'];
    if (injection === 'enabled' || (revision && injection !== 'disabled')) {
      findings.push({
        check: 'sidecar-injection',
        status: 'ok',
        message: revision
          ? `Namespace "${ns}" has sidecar injection by revision "${revision}"`
          : `Namespace "${ns}" has istio-injection=enabled`,
        action: '',
      });
    } else {
      findings.push({
        check: 'sidecar-injection',
        status: 'warning',
        message:
          injection === 'disabled'
            ? `Namespace "${ns}" has istio-injection=disabled: new pods get no Istio sidecar, so routing rules do not apply to traffic between services`
            : `Namespace "${ns}" has neither the istio-injection=enabled nor an istio.io/rev label: new pods get no Istio sidecar, so routing rules do not apply to traffic between services`,
        action: `kubectl label namespace ${ns} istio-injection=enabled${
          injection === 'disabled' ? ' --overwrite' : ''
        }, then restart the services so their pods get sidecars`,
      });
    }
    findings.push(
      podSecurityFinding({
        ...namespace,
        metadata: { ...namespace.metadata, name: ns },
      }),
    );
  } catch (error) {
    const code = statusCode(error);
    if (code === 403) {
      const role = `kube-delivery-namespace-${ns}`;
      const action = `kubectl create clusterrole ${role} --verb=get --resource=namespaces --resource-name=${ns} && kubectl create clusterrolebinding ${role} --clusterrole=${role} ${subjectFlag(
        username,
      )}`;
      findings.push(
        {
          check: 'sidecar-injection',
          status: 'warning',
          message: `${who} may not get Namespace "${ns}" (a cluster-scoped object, which a namespaced Role cannot grant), so sidecar injection cannot be verified`,
          action,
        },
        {
          check: 'pod-security',
          status: 'warning',
          message: `${who} may not get Namespace "${ns}", so its PodSecurity enforcement (the pod-security.kubernetes.io/enforce label) cannot be verified`,
          action,
        },
      );
    } else if (code === 404) {
      findings.push({
        check: 'sidecar-injection',
        status: 'error',
        message: `Namespace "${ns}" does not exist`,
        action: `kubectl create namespace ${ns} && kubectl label namespace ${ns} istio-injection=enabled ${Object.entries(
          BASELINE_LABELS,
        )
          .map(([key, value]) => `${key}=${value}`)
          .join(
            ' ',
          )}, then bind the Role there to the environment's ServiceAccount`,
      });
    } else {
      findings.push({
        check: 'sidecar-injection',
        status: 'error',
        message: `Could not read Namespace "${ns}": ${
          toClusterError(error, ref, {
            verb: 'get',
            kind: 'Namespace',
            name: ns,
          }).message
        }`,
        action: 'Check the API server and retry the health check',
      });
    }
  }

  // (f) The gateway exists, read with the gateway's credentials when configured.
  if (env.gateway && connections.gateway) {
    const gw = env.gateway;
    const gwName = `${gw.namespace}/${gw.name}`;
    const gwRef = {
      name: env.gateway.cluster ? `${env.name}-gateway` : env.name,
      namespace: gw.namespace,
      server: connections.gateway.server,
    };
    try {
      const gb =
        connections.gateway === connections.environment
          ? b
          : await connections.gateway.batch();
      const live = await gb.request<{
        spec?: { servers?: Array<{ hosts?: string[] }> };
      }>({
        method: 'GET',
        path: `/apis/${ISTIO_NETWORKING}/namespaces/${enc(
          gw.namespace,
        )}/gateways/${enc(gw.name)}`,
      });
      const serverHosts = (live.spec?.servers ?? []).flatMap(
        s => s.hosts ?? [],
      );
      const uncovered = gw.hosts.filter(
        h => !serverHosts.some(p => hostCovered(p, h)),
      );
      findings.push(
        uncovered.length === 0
          ? {
              check: 'gateway',
              status: 'ok',
              message: `Gateway ${gwName} exists${
                gw.hosts.length ? ` and serves ${gw.hosts.join(', ')}` : ''
              }`,
              action: '',
            }
          : {
              check: 'gateway',
              status: 'warning',
              message: `Gateway ${gwName} exists but none of its servers accepts ${uncovered.join(
                ', ',
              )} (its hosts: ${serverHosts.join(', ') || 'none'})`,
              action: `Add ${uncovered.join(
                ', ',
              )} to a server's hosts of Gateway ${gwName}, or correct ${where} gateway.hosts`,
            },
      );
    } catch (error) {
      const converted = toClusterError(error, gwRef, {
        verb: 'get',
        kind: 'Gateway',
        name: gw.name,
      });
      if (converted instanceof NotFoundError) {
        findings.push({
          check: 'gateway',
          status: 'error',
          message: `Gateway ${gwName} does not exist`,
          action: `Create the Istio Gateway ${gwName} (kubectl apply -n ${gw.namespace} -f <gateway>.yaml), or correct ${where} gateway.namespace/name`,
        });
      } else if (converted instanceof NotAllowedError) {
        findings.push({
          check: 'gateway',
          status: 'warning',
          message: `The ${
            gw.cluster ? 'gateway' : "environment's"
          } credentials may not get Gateway ${gwName}, so it cannot be verified`,
          action: gw.cluster
            ? `Grant get on gateways.networking.istio.io in namespace "${gw.namespace}" to the gateway ServiceAccount of ${where}`
            : `Configure ${where} gateway.cluster with the credentials of a ServiceAccount that may manage gateways in "${gw.namespace}"`,
        });
      } else {
        findings.push({
          check: 'gateway',
          status: 'error',
          message: `Could not read Gateway ${gwName}: ${converted.message}`,
          action: gw.cluster
            ? `Check ${where} gateway.cluster (url, caData, token) and that the backend can reach it`
            : 'Check the API server and retry the health check',
        });
      }
    }
  }
  return done();
}
