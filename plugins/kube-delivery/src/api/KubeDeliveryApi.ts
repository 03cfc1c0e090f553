import { createApiRef } from '@backstage/core-plugin-api';
import type {
  BranchRemoval,
  DeliveryMatrix,
  CertificateUpload,
  CertificateChange,
  Deployment,
  DeploymentPage,
  EnvironmentHealth,
  EnvironmentStatus,
  Environment,
  GatewayCertificateList,
  HistoryEntryKind,
  HistoryPage,
  ReleaseDetail,
  Release,
  RouteRuleView,
  RouteTestResult,
  RoutingKind,
} from '@internal/plugin-kube-delivery-common';

/** Which release to deploy: by id, or by its SemVer version. @public */
export type ReleaseSelector = (
  | { environment: string; releaseId: string; version?: never }
  | { environment: string; version: string; releaseId?: never }
) & { bypassApproval?: boolean };

/** Filters and paging for the deployment history. @public */
export interface ListDeploymentsOptions {
  /** Only deployments to this environment. */
  environment?: string;
  /** At most this many items per page. */
  limit?: number;
  /** A `nextCursor` from an earlier page. */
  before?: string;
}

/** Filters and paging for the Release history. @public */
export interface HistoryOptions extends ListDeploymentsOptions {
  /** Only entries of this kind. */
  kind?: HistoryEntryKind;
}

/** A routing rule to create; the owner is the caller. @public */
export interface NewRouteRule {
  /** The environment the rule applies in. */
  environment: string;
  /** The feature branch as in the version's pre-release, e.g. `myfeature`. */
  branch: string;
  /** Default: the service's `kube-delivery.io/routing` annotation. */
  kind?: RoutingKind;
  /** Cookie name, header name or baggage key; default: the service's routing key. */
  key?: string;
  /** The value the request must carry to reach the branch. */
  value: string;
  /** Default 8 hours. */
  ttlMinutes?: number;
}

/** Which services the Deliveries matrix lists (entity references). @public */
export interface DeliveriesFilter {
  /** Services part of this System. */
  system?: string;
  /** Services owned by this Group or User. */
  owner?: string;
  /** Services of this catalog lifecycle. */
  lifecycle?: string;
}

/** The Kube Delivery backend, as the frontend uses it. @public */
export interface KubeDeliveryApi {
  /** The configured environments, in lifecycle order. */
  listEnvironments(): Promise<Environment[]>;
  /** Every service × environment the caller may read, in lifecycle order. */
  getDeliveries(filter?: DeliveriesFilter): Promise<DeliveryMatrix>;
  /** Per environment: what runs of the entity, its live rollout and active deployments. */
  getStatus(entityRef: string): Promise<EnvironmentStatus[]>;
  /** The entity's releases. */
  listReleases(entityRef: string): Promise<Release[]>;
  /** A page of the entity's deployments, newest first. */
  listDeployments(
    entityRef: string,
    options?: ListDeploymentsOptions,
  ): Promise<DeploymentPage>;
  /** One deployment with its steps. */
  getDeployment(entityRef: string, id: string): Promise<Deployment>;
  /** Into a protected environment the deployment waits for approval (`waiting-approval`) unless `bypassApproval`. */
  deploy(entityRef: string, request: ReleaseSelector): Promise<Deployment>;
  /** Redeploys an earlier release to an environment. */
  rollback(entityRef: string, request: ReleaseSelector): Promise<Deployment>;
  /** Deploys to an environment what succeeded in the previous lifecycle environment. */
  promote(
    entityRef: string,
    request: { environment: string; bypassApproval?: boolean },
  ): Promise<Deployment>;
  /** Restarts what an environment runs of the entity. */
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

  /** A page of the entity's Release history, newest first. */
  getHistory(entityRef: string, options?: HistoryOptions): Promise<HistoryPage>;
  /** One release with its delivery settings and manifest. */
  getRelease(entityRef: string, id: string): Promise<ReleaseDetail>;
  /** The latest health check of an environment. */
  getEnvironmentHealth(environment: string): Promise<EnvironmentHealth>;
  /** Checks the environment now instead of waiting for the schedule. */
  checkEnvironmentHealth(environment: string): Promise<EnvironmentHealth>;

  /** The entity's feature-branch routing rules. */
  listRoutes(entityRef: string): Promise<RouteRuleView[]>;
  /** Creates a routing rule owned by the caller. */
  createRoute(entityRef: string, rule: NewRouteRule): Promise<RouteRuleView>;
  /** Moves a rule's expiry to `ttlMinutes` from now. */
  extendRoute(
    entityRef: string,
    id: string,
    ttlMinutes: number,
  ): Promise<RouteRuleView>;
  /** Deletes a routing rule. */
  deleteRoute(entityRef: string, id: string): Promise<void>;
  /** Removes a feature branch's deployment and its rules from an environment. */
  removeBranch(
    entityRef: string,
    environment: string,
    branch: string,
  ): Promise<BranchRemoval>;
  /** Where a request with these headers goes in an environment. */
  testRoute(
    entityRef: string,
    request: { environment: string; headers: Record<string, string> },
  ): Promise<RouteTestResult>;

  /** An environment's gateway and its certificates. */
  listCertificates(environment: string): Promise<GatewayCertificateList>;
  /** Uploads a certificate for an environment's gateway. */
  uploadCertificate(
    environment: string,
    request: CertificateUpload,
  ): Promise<CertificateChange>;
  /** Has the configured cert-manager issuer issue the gateway's certificate. */
  useCertManager(environment: string): Promise<CertificateChange>;
}

/** The API reference of {@link KubeDeliveryApi}. @public */
export const kubeDeliveryApiRef = createApiRef<KubeDeliveryApi>({
  id: 'plugin.kube-delivery.service',
});
