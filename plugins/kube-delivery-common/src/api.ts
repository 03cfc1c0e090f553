/**
 * The Kube Delivery API's types are generated from the backend's
 * `src/schema/openapi.yaml` (see `./schema/openapi`); this module adds the
 * names the plugins used before the API had a spec, and the lists of kinds
 * that filters offer.
 */
import type {
  ApprovalHistoryEntry,
  BranchRemoval,
  CertificateChange,
  CertificateUpload,
  DeploymentPage,
  Environment,
  EnvironmentHealth,
  EnvironmentStatus,
  GatewayCertificate,
  GatewayCertificateList,
  GatewayRef,
  HistoryEntryKind,
  Release,
  ReleaseDetail,
  RolloutPod,
  RolloutStatus,
  RouteTestResult,
} from './schema/openapi/generated/models';

/** A configured environment (`GET /environments` items). @public */
export type EnvironmentSummary = Environment;
/** A pod of a rollout. @public */
export type RolloutPodView = RolloutPod;
/** The live state of a rollout. @public */
export type RolloutStatusView = RolloutStatus;
/** What runs in one environment (`GET …/status` items). @public */
export type EnvironmentStatusView = EnvironmentStatus;
/** A page of deployments, newest first. @public */
export type DeploymentListPage = DeploymentPage;
/** A release (`GET …/releases` items). @public */
export type ReleaseView = Release;
/** One release with what it froze (`GET …/releases/{id}`). @public */
export type ReleaseDetailView = ReleaseDetail;
/** Where a gateway certificate stands. @public */
export type CertificateStatus = GatewayCertificate['status'];
/** An environment's gateway. @public */
export type GatewayRefView = GatewayRef;
/** A gateway certificate; never its private key. @public */
export type GatewayCertificateView = GatewayCertificate;
/** `GET /environments/{name}/certificates`. @public */
export type GatewayCertificateListResponse = GatewayCertificateList;
/** The body of a certificate upload. @public */
export type CertificateUploadRequest = CertificateUpload;
/** What an upload or a cert-manager request answers. @public */
export type CertificateUploadResponse = CertificateChange;
/** An environment's health check. @public */
export type EnvironmentHealthView = EnvironmentHealth;
/** Where the route tester says a request goes. @public */
export type RouteTestView = RouteTestResult;
/** What removing a feature branch removed. @public */
export type BranchRemovalView = BranchRemoval;

/**
 * What happened to the approval of a deployment into a protected
 * environment, as a Release history event. @public
 */
export type ApprovalEventKind = ApprovalHistoryEntry['kind'];

/** Every {@link ApprovalEventKind}. @public */
export const APPROVAL_EVENT_KINDS: readonly ApprovalEventKind[] = [
  'approval-requested',
  'approval-granted',
  'approval-rejected',
  'approval-expired',
  'approval-bypassed',
];

/** Every kind of Release history entry, for filters. @public */
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
