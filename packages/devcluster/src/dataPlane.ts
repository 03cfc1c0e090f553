import { exec } from './exec';
import {
  CLUSTER_CIDR,
  DeployNamespace,
  NAMESPACES,
  SERVE_ANNOTATION,
  VERSIONS,
} from './versions';

/*
 * The data plane of the local cluster: Traefik (a real Gateway API implementation, built
 * from its Go module) serves each environment's Gateway on 127.0.0.1:80 and :443, and the
 * pod runner (src/podRunner.ts) serves the pods that opt in with SERVE_ANNOTATION on their
 * pod IPs, which `ip route add local <pod CIDR> dev lo` makes reachable on this machine.
 */

/** The GatewayClass Traefik's Kubernetes Gateway provider serves. */
export const GATEWAY_CLASS = 'traefik';
export const TRAEFIK_CONTROLLER = 'traefik.io/gateway-controller';
/** Where the environments' Gateway API Gateways live (the gateway account's namespace). */
export const GATEWAY_NAMESPACE = 'istio-system';
/**
 * Listener ports: a Traefik Gateway listener binds to the entry point of the same port,
 * and Kube Delivery writes its HTTPS listeners on 443.
 */
export const HTTP_PORT = 80;
export const HTTPS_PORT = 443;

/** Each environment's host; `*.<host>` is served too (tests use hosts of their own). */
export const ENVIRONMENT_HOSTS: Record<DeployNamespace, string> = {
  dev: 'dev.boutique.example',
  test: 'test.boutique.example',
  production: 'boutique.example',
};

/** The Gateway API Gateway of an environment, as an environment's `gateway` config names it. */
export function environmentGateway(environment: DeployNamespace): {
  namespace: string;
  name: string;
  hosts: string[];
} {
  return {
    namespace: GATEWAY_NAMESPACE,
    name: `gateway-${environment}`,
    hosts: [ENVIRONMENT_HOSTS[environment]],
  };
}

/** What `up` reports about the data plane; tests read it through `requireDataPlane`. */
export interface DataPlaneState {
  /** Why there is no data plane (not asked for, or the pod network could not be made local). */
  unavailable?: string;
  httpUrl?: string;
  httpsUrl?: string;
}

/**
 * Whether `up` starts the data plane: DEVCLUSTER_DATA_PLANE=1/0, by default only for the
 * shared cluster (private clusters of DEVCLUSTER_STATE_DIR would contend for ports 80/443).
 */
export function dataPlaneWanted(): boolean {
  const flag = process.env.DEVCLUSTER_DATA_PLANE;
  if (flag === '1' || flag === 'true') return true;
  if (flag === '0' || flag === 'false') return false;
  return !process.env.DEVCLUSTER_STATE_DIR;
}

export const LOCAL_ROUTE_COMMAND = `ip route add local ${CLUSTER_CIDR} dev lo`;

/**
 * Makes every address of the pod CIDR local (loopback), so the pod runner can bind pod
 * IPs and the proxy reach them. Returns why not, when it cannot (not root, no `ip`).
 */
export async function makePodNetworkLocal(): Promise<string | undefined> {
  const result = await exec('ip', [
    'route',
    'replace',
    'local',
    CLUSTER_CIDR,
    'dev',
    'lo',
  ]).catch((e: Error) => ({ code: 1, stderr: e.message, stdout: '' }));
  if (result.code === 0) return undefined;
  return `the pod network ${CLUSTER_CIDR} could not be made local (${result.stderr.trim()}): run \`${LOCAL_ROUTE_COMMAND}\` as root, then \`yarn devcluster down && yarn devcluster up\``;
}

export async function removePodNetworkRoute(): Promise<void> {
  await exec('ip', ['route', 'del', 'local', CLUSTER_CIDR, 'dev', 'lo']).catch(
    () => undefined,
  );
}

export function traefikArgs(pingPort: number): string[] {
  return [
    '--global.checknewversion=false',
    '--global.sendanonymoususage=false',
    '--providers.kubernetesgateway=true',
    '--providers.kubernetesgateway.statusaddress.ip=127.0.0.1',
    `--entrypoints.web.address=127.0.0.1:${HTTP_PORT}`,
    `--entrypoints.websecure.address=127.0.0.1:${HTTPS_PORT}`,
    `--entrypoints.traefik.address=127.0.0.1:${pingPort}`,
    '--ping=true',
    '--ping.entrypoint=traefik',
    '--log.level=INFO',
  ];
}

const MANAGED_BY = {
  'app.kubernetes.io/managed-by': 'kube-delivery-devcluster',
};

/** The GatewayClass and one Gateway per environment, HTTP on port 80 for its hosts. */
export function gatewayApiObjects(): object[] {
  return [
    {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'GatewayClass',
      metadata: { name: GATEWAY_CLASS, labels: MANAGED_BY },
      spec: {
        controllerName: TRAEFIK_CONTROLLER,
        description: `Traefik ${VERSIONS.traefik} of the devcluster`,
      },
    },
    ...NAMESPACES.map(environment => {
      const gateway = environmentGateway(environment);
      const host = ENVIRONMENT_HOSTS[environment];
      const allowedRoutes = {
        namespaces: {
          from: 'Selector',
          selector: {
            matchLabels: { 'kubernetes.io/metadata.name': environment },
          },
        },
      };
      return {
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'Gateway',
        metadata: {
          name: gateway.name,
          namespace: gateway.namespace,
          labels: MANAGED_BY,
        },
        spec: {
          gatewayClassName: GATEWAY_CLASS,
          listeners: [
            {
              name: 'http',
              port: HTTP_PORT,
              protocol: 'HTTP',
              hostname: host,
              allowedRoutes,
            },
            {
              name: 'http-subdomains',
              port: HTTP_PORT,
              protocol: 'HTTP',
              hostname: `*.${host}`,
              allowedRoutes,
            },
          ],
        },
      };
    }),
  ];
}

/** The pod-template annotation with which a workload's pods are served by the pod runner. */
export const SERVED_POD_ANNOTATIONS = { [SERVE_ANNOTATION]: 'true' } as const;

/**
 * The data plane's URLs, or an error saying what is missing: tests that need real
 * traffic fail with it rather than skip.
 */
export function requireDataPlane(cluster: { dataPlane: DataPlaneState }): {
  httpUrl: string;
  httpsUrl: string;
} {
  const { unavailable, httpUrl, httpsUrl } = cluster.dataPlane;
  if (unavailable || !httpUrl || !httpsUrl) {
    throw new Error(
      `No real traffic on this devcluster: ${unavailable ?? 'no data plane'}`,
    );
  }
  return { httpUrl, httpsUrl };
}
