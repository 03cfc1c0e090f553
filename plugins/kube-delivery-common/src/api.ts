import type { RouteRule } from './routes';
import type { Deployment, DeploymentKind, Release } from './types';

/** A list answer of the Kube Delivery API. @public */
export interface ItemsResponse<T> {
  /** The items of the list. */
  items: T[];
}

/** An environment as `GET /environments` returns it, in lifecycle order. @public */
export interface EnvironmentSummary {
  /** The environment's name, as configured. */
  name: string;
  /** The namespace the environment's workloads live in. */
  namespace: string;
  /** Whether the environment is `protected`: deployments into it wait for approval. */
  protected?: boolean;
  /** Whether feature-branch releases may be deployed here. */
  featureBranches?: boolean;
  /** Replica floor for every service in this environment. */
  minReplicas?: number;
  /** The environment's ingress gateway, when one is configured. */
  gateway?: { namespace: string; name: string; hosts: string[] };
}

/** A pod of a service's Deployment, as the Environments tab shows it. @public */
export interface RolloutPodView {
  /** The pod's name. */
  name: string;
  /** The node the pod was scheduled to. */
  node?: string;
  /** Whether the pod is ready. */
  ready: boolean;
  /** The pod phase (`Pending`, `Running`, ...) or `Terminating`. */
  phase: string;
  /** The pod's IP address, once it has one. */
  ip?: string;
}

/** Where a Deployment's rollout stands, following `kubectl rollout status`. @public */
export interface RolloutStatusView {
  /** Whether the Deployment exists. */
  exists: boolean;
  /** Whether the Deployment controller has observed the Deployment's latest spec. */
  observedGenerationCurrent: boolean;
  /** Replicas the spec asks for (`spec.replicas`). */
  desired: number;
  /** Replicas of the latest spec (`status.updatedReplicas`). */
  updated: number;
  /** Ready replicas (`status.readyReplicas`). */
  ready: number;
  /** Available replicas (`status.availableReplicas`). */
  available: number;
  /** Unavailable replicas (`status.unavailableReplicas`). */
  unavailable: number;
  /** Status of the Deployment's `Progressing` condition. */
  progressing: 'True' | 'False' | 'Unknown';
  /** Reason of the `Progressing` condition, e.g. `NewReplicaSetAvailable`. */
  progressReason?: string;
  /** Whether the rollout is complete, as `kubectl rollout status` decides. */
  complete: boolean;
  /** Whether the rollout exceeded its progress deadline. */
  deadlineExceeded: boolean;
  /** In words, e.g. "2 of 3 updated replicas are available". */
  message: string;
  /** The Deployment's pods, by name. */
  pods: RolloutPodView[];
}

/** What one environment runs of a service (`GET .../status` items). @public */
export interface EnvironmentStatusView {
  /** The environment's name. */
  environment: string;
  /** The environment's namespace. */
  namespace: string;
  /** The last mainline deployment that succeeded here: what the environment runs. */
  current?: Deployment;
  /** Deployments here that have not finished yet. */
  active: Deployment[];
  /** The live rollout of the service's Deployment, when it could be read. */
  rollout?: RolloutStatusView;
  /** Why the live state could not be read, in words. */
  rolloutError?: string;
}

/** A page of deployments, newest first. @public */
export interface DeploymentListPage {
  /** The deployments of this page. */
  items: Deployment[];
  /** Pass as `before` to get the next page; absent on the last page. */
  nextCursor?: string;
}

/** A release as the API lists it. @public */
export type ReleaseView = Release;

/** Where a gateway's certificate comes from. @public */
export type CertificateSource = 'upload' | 'cert-manager';

/**
 * The state of a gateway certificate: `ok`; `expiring` within the configured
 * threshold; `expired`; `pending` while cert-manager has not issued it
 * (Ready not True); `failed` when cert-manager reports Ready False. @public
 */
export type CertificateStatus =
  | 'ok'
  | 'expiring'
  | 'expired'
  | 'pending'
  | 'failed';

/** The gateway an environment's HTTPS is served by. @public */
export interface GatewayRefView {
  /** `istio` (networking.istio.io Gateway) or `gateway-api` (gateway.networking.k8s.io Gateway). */
  api: 'istio' | 'gateway-api';
  /** The gateway's namespace. */
  namespace: string;
  /** The gateway's name. */
  name: string;
  /** The hosts the gateway serves for this environment. */
  hosts: string[];
  /** The `kubernetes.io/tls` Secret the gateway's HTTPS server reads. */
  secretName: string;
  /** Whether plain HTTP on port 80 is redirected to HTTPS. */
  httpsRedirect: boolean;
  /** The cert-manager issuer an authorised user may switch to; absent when none is configured. */
  certManagerIssuer?: { kind: string; name: string; group: string };
  /**
   * Whether the live Gateway has Kube Delivery's HTTPS server (Istio) or
   * listeners (Gateway API) for these hosts, reading `secretName`; absent when
   * the Gateway could not be read.
   */
  serving?: boolean;
  /** When not serving: why, and what to do. */
  servingMessage?: string;
}

/**
 * A certificate of an environment's gateway, as the API reports it. Public
 * facts only: the private key is never stored nor returned. @public
 */
export interface GatewayCertificateView {
  /** The certificate's id. */
  id: string;
  /** The environment whose gateway it belongs to. */
  environment: string;
  /** The gateway, e.g. `istio-system/ingressgateway`. */
  gateway: string;
  /** The gateway's hosts the certificate is for. */
  hosts: string[];
  /** Whether it was uploaded or issued by cert-manager. */
  source: CertificateSource;
  /** Whether this is the certificate the gateway serves now (the newest upload or switch). */
  active: boolean;
  /** The `kubernetes.io/tls` Secret it is written to. */
  secretName: string;
  /** Subject of the leaf, e.g. `CN=dev.boutique.example`; absent until cert-manager issued it. */
  subject?: string;
  /** DNS subject alternative names of the leaf (for cert-manager: the requested names). */
  sans: string[];
  /** Issuer of the leaf; for cert-manager, the issuer it was requested from (`ClusterIssuer/letsencrypt`). */
  issuer?: string;
  /** Serial number in hex. */
  serial?: string;
  /** ISO 8601. */
  notBefore?: string;
  /** ISO 8601. */
  notAfter?: string;
  /** Whole days until notAfter (negative once expired). */
  daysToExpiry?: number;
  /** SHA-256 fingerprint of the leaf, colon-separated hex. */
  fingerprintSha256?: string;
  /** Key type and size, e.g. `rsa 2048` or `ec P-256`. */
  key?: string;
  /** The user or service that uploaded it or switched to cert-manager. */
  uploadedBy: string;
  /** ISO 8601. */
  uploadedAt: string;
  /** Its state, from its validity dates and cert-manager's Ready. */
  status: CertificateStatus;
  /** cert-manager's Ready condition; absent for uploads. */
  ready?: boolean;
  /** cert-manager's Ready message, e.g. why issuance fails. */
  readyMessage?: string;
  /** Warnings found at upload, e.g. that it expires soon or is self-signed. */
  warnings: string[];
}

/** `GET /environments/:name/certificates`: the gateway and its certificates, newest first. @public */
export interface GatewayCertificateListResponse {
  /** The environment's name. */
  environment: string;
  /** The environment's gateway. */
  gateway: GatewayRefView;
  /** Its certificates, newest (active) first. */
  items: GatewayCertificateView[];
}

/**
 * `POST /environments/:name/certificates`: a PEM chain (leaf first, then its
 * intermediates) and its unencrypted private key, or a PKCS#12 file in base64
 * with its password. At most 64 KiB each. @public
 */
export type CertificateUploadRequest =
  | { format: 'pem'; certificateChain: string; privateKey: string }
  | { format: 'pkcs12'; pkcs12: string; password: string };

/** The answer to an upload or a switch to cert-manager. @public */
export interface CertificateUploadResponse {
  /** The certificate as stored. */
  certificate: GatewayCertificateView;
  /** Accepted, but worth acting on (e.g. expires within the threshold). */
  warnings: string[];
}

/**
 * What a Release history entry records: a deployment's kind, or an
 * environment event that concerns the service. @public
 */
export type HistoryEntryKind =
  | DeploymentKind
  | 'route-changed'
  | 'certificate-changed'
  | 'promotion-refused'
  | ApprovalEventKind;

/**
 * What happened to the approval of a deployment into a protected
 * environment, as a Release history event (its actor and time are who did
 * it, when; its details name the deployment). @public
 */
export type ApprovalEventKind =
  | 'approval-requested'
  | 'approval-granted'
  | 'approval-rejected'
  | 'approval-expired'
  | 'approval-bypassed';

/** Every {@link ApprovalEventKind}. @public */
export const APPROVAL_EVENT_KINDS: readonly ApprovalEventKind[] = [
  'approval-requested',
  'approval-granted',
  'approval-rejected',
  'approval-expired',
  'approval-bypassed',
];

/** Every {@link HistoryEntryKind}, for filters. @public */
export const HISTORY_ENTRY_KINDS: readonly HistoryEntryKind[] = [
  'deploy',
  'promote',
  'rollback',
  'restart',
  'route-changed',
  'certificate-changed',
  'promotion-refused',
  ...APPROVAL_EVENT_KINDS,
];

/**
 * `POST …/deployments/:id/reject`: why a deployment waiting for approval
 * is refused (at most 256 characters). @public
 */
export interface ApprovalRejectRequest {
  /** Why it is rejected; at most 256 characters. */
  reason: string;
}

/**
 * The part of a deploy, rollback or promotion request about approval: `true`
 * deploys into a protected environment at once, without waiting for
 * approval; it needs the bypass permission (403 otherwise) and is audited
 * as an emergency. Ignored where no approval is needed. @public
 */
export interface ApprovalBypassRequest {
  /** Deploy into a protected environment without waiting for approval. */
  bypassApproval?: boolean;
}

/** One entry of a service's Release history (`GET …/history` items). @public */
export interface HistoryEntry {
  /** The deployment's or the event's id. */
  id: string;
  /** What the entry records. */
  kind: HistoryEntryKind;
  /** The environment it happened in. */
  environment: string;
  /** ISO 8601: when the deployment was requested or the event happened. */
  createdAt: string;
  /** The user or service that did it. */
  actor: string;
  /** One line, for people. */
  message?: string;
  /** For deployment kinds: the deployment with its steps and their times. */
  deployment?: Deployment;
  /** For events: what changed, as the event recorded it. */
  details?: Record<string, unknown>;
}

/** A page of a service's Release history, newest first. @public */
export interface HistoryPage {
  /** The entries of this page. */
  items: HistoryEntry[];
  /** Pass as `before` to get the next (older) page; absent on the last page. */
  nextCursor?: string;
}

/**
 * One release with what it froze (`GET …/releases/:id`): the delivery
 * settings and the manifest, normalised, with Secret values replaced by
 * `(redacted)`, so two releases can be compared line by line. @public
 */
export interface ReleaseDetailView extends Release {
  /** The delivery settings the release froze, from the annotations. */
  settings: {
    image: string;
    strategy: string;
    replicas: number;
    antiAffinity: string;
    routing?: string;
    ingress?: string;
  };
  /** Multi-document YAML; absent when the service has no manifest of its own. */
  manifest?: string;
}

/** One finding of an environment health check, with what to do about it. @public */
export interface HealthFindingView {
  /** What was checked, e.g. `cluster`, `credentials`, `gateway`. */
  check: string;
  /** How the check went. */
  status: 'ok' | 'warning' | 'error';
  /** What was found, in words. */
  message: string;
  /** What to do about it; empty when the status is ok. */
  action: string;
}

/** `GET /environments/:name/health`: the latest check of an environment. @public */
export interface EnvironmentHealthView {
  /** The environment's name. */
  environment: string;
  /** The worst status of its findings. */
  status: 'ok' | 'warning' | 'error';
  /** ISO 8601. */
  checkedAt: string;
  /** One finding per check. */
  findings: HealthFindingView[];
}

/** `POST …/routes/test`: where the mesh sends a request with these headers. @public */
export interface RouteTestView {
  /** Undefined when no route entry sends the request anywhere. */
  destination?: { host: string; subset?: string; port?: { number: number } };
  /** The name of the route entry that won. */
  routeName?: string;
  /** The routing rule behind the winning entry, when it is one. */
  rule?: RouteRule;
  /** False when the service has no VirtualService: Kubernetes routes to the mainline Service. */
  virtualService: boolean;
  /** The routing object evaluated: `VirtualService`, or `HTTPRoute` where the environment uses the Gateway API. */
  kind?: string;
}

/** `PATCH …/routes/:id`: a new lifetime for a rule, counted from now. @public */
export interface RouteExtendRequest {
  /** Minutes from now until the rule expires. */
  ttlMinutes: number;
}

/** `DELETE …/branches/:environment/:branch`: what removing a branch deleted. @public */
export interface BranchRemovalView {
  /** The environment the branch was removed from. */
  environment: string;
  /** The branch's slug, as in `<service>-<slug>`. */
  branch: string;
  /** The rules deleted. */
  rules: RouteRule[];
  /** `Kind/name` of each object deleted, in order. */
  objects: string[];
}
