/**
 * Versions of everything the devcluster builds or installs. Changing a version here makes
 * the next `up` build (or download) the new one; binaries are cached per version.
 */
export const VERSIONS = {
  /** k8s.io/kubernetes: newest 1.3x release whose go.mod says `go 1.26.0`. */
  kubernetes: 'v1.37.2',
  /** go.etcd.io/etcd/server/v3: newest 3.6 patch. */
  etcd: 'v3.6.16',
  /** sigs.k8s.io/kwok (cmd/kwok). */
  kwok: 'v0.8.0',
  /** istio.io/api: kubernetes/customresourcedefinitions.gen.yaml. */
  istioApi: 'v1.32.0',
  /** sigs.k8s.io/gateway-api: config/crd/standard (v1.7.0 needs go >= 1.27). */
  gatewayApi: 'v1.6.3',
  /** github.com/cert-manager/cert-manager: deploy/crds. */
  certManager: 'v1.21.2',
  /**
   * github.com/traefik/traefik/v3: the Gateway API proxy. v3.6.x declares go 1.25 and
   * needs only its three `replace` lines; v3.7.x needs a nested module that is not served.
   */
  traefik: 'v3.6.12',
} as const;

export const NAMESPACES = ['dev', 'test', 'production'] as const;
export type DeployNamespace = (typeof NAMESPACES)[number];
export type TokenNamespace = DeployNamespace | 'istio-system';

export const NODES = [
  { name: 'kd-node-1', zone: 'zone-a' },
  { name: 'kd-node-2', zone: 'zone-b' },
  { name: 'kd-node-3', zone: 'zone-c' },
] as const;

/** Pods with this annotation set to "true" run but never become Ready (kwok stage). */
export const NEVER_READY_ANNOTATION = 'devcluster.kube-delivery.io/never-ready';

/**
 * Pods with this annotation set to "<n>" run for 1-2 s, then terminate with exit code n:
 * phase Succeeded for "0", Failed otherwise (kwok stage; meant for Job pods).
 */
export const EXIT_CODE_ANNOTATION = 'devcluster.kube-delivery.io/exit-code';

/**
 * Pods with this annotation fail as a real node reports it: "ImagePullBackOff",
 * "CrashLoopBackOff" or "OOMKilled" (kwok/pod-fail-as.yaml).
 */
export const FAIL_AS_ANNOTATION = 'devcluster.kube-delivery.io/fail-as';

/**
 * Pods with this annotation set to "true" are served by the pod runner: it listens on
 * their podIP:containerPort (an HTTP echo), marks them Ready only once it listens, and on
 * deletion keeps serving through the preStop sleep before it stops and deletes the pod,
 * as a kubelet would. kwok's own ready and delete stages leave them alone.
 */
export const SERVE_ANNOTATION = 'devcluster.kube-delivery.io/serve';

export const CLUSTER_CIDR = '10.244.0.0/16';
export const SERVICE_CIDR = '10.96.0.0/16';

/**
 * The namespace of Kube Delivery's own identities. None of them lives in a namespace it
 * deploys to, so a pod there cannot run as the deployer (`serviceAccountName` names an
 * account of the pod's own namespace).
 */
export const DEPLOYER_NAMESPACE = 'kube-delivery-system';
/** The gateway account (in DEPLOYER_NAMESPACE), bound to a Role in istio-system. */
export const GATEWAY_SERVICE_ACCOUNT = 'gateway';
/** The ServiceAccount (in DEPLOYER_NAMESPACE) whose token `tokens[namespace]` is. */
export function deployerServiceAccount(namespace: TokenNamespace): string {
  return namespace === 'istio-system'
    ? GATEWAY_SERVICE_ACCOUNT
    : `deployer-${namespace}`;
}
/** The user name Kubernetes gives `tokens[namespace]`, e.g. system:serviceaccount:kube-delivery-system:deployer-dev. */
export function deployerUsername(namespace: TokenNamespace): string {
  return `system:serviceaccount:${DEPLOYER_NAMESPACE}:${deployerServiceAccount(
    namespace,
  )}`;
}
/** The Role (and RoleBinding) of the deployer in each of dev/test/production. */
export const DEPLOY_ROLE = 'kube-delivery';
/** The Role (and RoleBinding) of the gateway account in istio-system. */
export const GATEWAY_ROLE = 'kube-delivery-gateway';

/** Pod Security Admission labels of dev/test/production: Kubernetes enforces "baseline". */
export const POD_SECURITY_LABELS = {
  'pod-security.kubernetes.io/enforce': 'baseline',
  'pod-security.kubernetes.io/enforce-version': 'latest',
  'pod-security.kubernetes.io/warn': 'baseline',
  'pod-security.kubernetes.io/warn-version': 'latest',
} as const;
