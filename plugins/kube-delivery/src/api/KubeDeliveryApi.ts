import { createApiRef } from '@backstage/core-plugin-api';
import type {
  ApprovalBypassRequest,
  BranchRemovalView,
  CertificateUploadRequest,
  CertificateUploadResponse,
  Deployment,
  DeploymentListPage,
  EnvironmentHealthView,
  EnvironmentStatusView,
  EnvironmentSummary,
  GatewayCertificateListResponse,
  HistoryEntryKind,
  HistoryPage,
  ReleaseDetailView,
  ReleaseView,
  RouteRule,
  RouteTestView,
  RoutingKind,
} from '@internal/plugin-kube-delivery-common';

/** Which release to deploy: by id, or by its SemVer version. @public */
export type ReleaseSelector =
  | { environment: string; releaseId: string; version?: never }
  | { environment: string; version: string; releaseId?: never };

/** Filters and paging for the deployment history. @public */
export interface ListDeploymentsOptions {
  environment?: string;
  limit?: number;
  /** A `nextCursor` from an earlier page. */
  before?: string;
}

/** Filters and paging for the Release history. @public */
export interface HistoryOptions extends ListDeploymentsOptions {
  kind?: HistoryEntryKind;
}

/** A routing rule to create; the owner is the caller. @public */
export interface NewRouteRule {
  environment: string;
  /** The feature branch as in the version's pre-release, e.g. `myfeature`. */
  branch: string;
  /** Default: the service's `kube-delivery.io/routing` annotation. */
  kind?: RoutingKind;
  key?: string;
  value: string;
  /** Default 8 hours. */
  ttlMinutes?: number;
}

/** The Kube Delivery backend, as the frontend uses it. @public */
export interface KubeDeliveryApi {
  listEnvironments(): Promise<EnvironmentSummary[]>;
  getStatus(entityRef: string): Promise<EnvironmentStatusView[]>;
  listReleases(entityRef: string): Promise<ReleaseView[]>;
  listDeployments(
    entityRef: string,
    options?: ListDeploymentsOptions,
  ): Promise<DeploymentListPage>;
  getDeployment(entityRef: string, id: string): Promise<Deployment>;
  /** Into a protected environment the deployment waits for approval (`waiting-approval`) unless `bypassApproval`. */
  deploy(
    entityRef: string,
    request: ReleaseSelector & ApprovalBypassRequest,
  ): Promise<Deployment>;
  rollback(
    entityRef: string,
    request: ReleaseSelector & ApprovalBypassRequest,
  ): Promise<Deployment>;
  promote(
    entityRef: string,
    request: { environment: string } & ApprovalBypassRequest,
  ): Promise<Deployment>;
  restart(
    entityRef: string,
    request: { environment: string },
  ): Promise<Deployment>;
  /** Approves a deployment waiting for approval (never one's own): it is queued and runs. */
  approveDeployment(entityRef: string, id: string): Promise<Deployment>;
  /** Rejects a deployment waiting for approval, with a reason: it finishes without running. */
  rejectDeployment(
    entityRef: string,
    id: string,
    reason: string,
  ): Promise<Deployment>;

  getHistory(entityRef: string, options?: HistoryOptions): Promise<HistoryPage>;
  getRelease(entityRef: string, id: string): Promise<ReleaseDetailView>;
  getEnvironmentHealth(environment: string): Promise<EnvironmentHealthView>;
  /** Checks the environment now instead of waiting for the schedule. */
  checkEnvironmentHealth(environment: string): Promise<EnvironmentHealthView>;

  listRoutes(entityRef: string): Promise<RouteRule[]>;
  createRoute(entityRef: string, rule: NewRouteRule): Promise<RouteRule>;
  /** Moves a rule's expiry to `ttlMinutes` from now. */
  extendRoute(
    entityRef: string,
    id: string,
    ttlMinutes: number,
  ): Promise<RouteRule>;
  deleteRoute(entityRef: string, id: string): Promise<void>;
  /** Removes a feature branch's deployment and its rules from an environment. */
  removeBranch(
    entityRef: string,
    environment: string,
    branch: string,
  ): Promise<BranchRemovalView>;
  testRoute(
    entityRef: string,
    request: { environment: string; headers: Record<string, string> },
  ): Promise<RouteTestView>;

  listCertificates(
    environment: string,
  ): Promise<GatewayCertificateListResponse>;
  uploadCertificate(
    environment: string,
    request: CertificateUploadRequest,
  ): Promise<CertificateUploadResponse>;
  /** Has the configured cert-manager issuer issue the gateway's certificate. */
  useCertManager(environment: string): Promise<CertificateUploadResponse>;
}

/** The API reference of {@link KubeDeliveryApi}. @public */
export const kubeDeliveryApiRef = createApiRef<KubeDeliveryApi>({
  id: 'plugin.kube-delivery.service',
});
