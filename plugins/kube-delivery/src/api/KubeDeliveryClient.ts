import type { DiscoveryApi, FetchApi } from '@backstage/core-plugin-api';
import {
  bodyOf,
  entityPathOf,
  KubeDeliveryApiClient,
  type BranchRemoval,
  type CertificateUpload,
  type CertificateChange,
  type DeliveryMatrix,
  type Deployment,
  type DeploymentPage,
  type EnvironmentHealth,
  type EnvironmentStatus,
  type Environment,
  type GatewayCertificateList,
  type HistoryPage,
  type ReleaseDetail,
  type Release,
  type RouteRuleView,
  type RouteTestResult,
} from '@internal/plugin-kube-delivery-common';
import type {
  DeliveriesFilter,
  HistoryOptions,
  KubeDeliveryApi,
  ListDeploymentsOptions,
  NewRouteRule,
  ReleaseSelector,
} from './KubeDeliveryApi';

/**
 * {@link KubeDeliveryApi} over HTTP with the user's Backstage token: the
 * client generated from the backend's OpenAPI spec, answers unwrapped.
 * @public
 */
export class KubeDeliveryClient implements KubeDeliveryApi {
  private readonly client: KubeDeliveryApiClient;

  constructor(options: { discoveryApi: DiscoveryApi; fetchApi: FetchApi }) {
    this.client = new KubeDeliveryApiClient(options);
  }

  /** {@inheritDoc KubeDeliveryApi.listEnvironments} */
  async listEnvironments(): Promise<Environment[]> {
    return (await bodyOf(this.client.listEnvironments({}))).items;
  }

  /** {@inheritDoc KubeDeliveryApi.getDeliveries} */
  async getDeliveries(filter: DeliveriesFilter = {}): Promise<DeliveryMatrix> {
    return bodyOf(this.client.getDeliveries({ query: filter }));
  }

  /** {@inheritDoc KubeDeliveryApi.getStatus} */
  async getStatus(entityRef: string): Promise<EnvironmentStatus[]> {
    const path = entityPathOf(entityRef);
    return (await bodyOf(this.client.getStatus({ path }))).items;
  }

  /** {@inheritDoc KubeDeliveryApi.listReleases} */
  async listReleases(entityRef: string): Promise<Release[]> {
    const path = entityPathOf(entityRef);
    return (await bodyOf(this.client.listReleases({ path }))).items;
  }

  /** {@inheritDoc KubeDeliveryApi.listDeployments} */
  async listDeployments(
    entityRef: string,
    query: ListDeploymentsOptions = {},
  ): Promise<DeploymentPage> {
    const path = entityPathOf(entityRef);
    return bodyOf(this.client.listDeployments({ path, query }));
  }

  /** {@inheritDoc KubeDeliveryApi.getDeployment} */
  async getDeployment(entityRef: string, id: string): Promise<Deployment> {
    const path = { ...entityPathOf(entityRef), id };
    return bodyOf(this.client.getDeployment({ path }));
  }

  /** {@inheritDoc KubeDeliveryApi.deploy} */
  async deploy(entityRef: string, body: ReleaseSelector): Promise<Deployment> {
    const path = entityPathOf(entityRef);
    return bodyOf(this.client.deploy({ path, body }));
  }

  /** {@inheritDoc KubeDeliveryApi.rollback} */
  async rollback(
    entityRef: string,
    body: ReleaseSelector,
  ): Promise<Deployment> {
    const path = entityPathOf(entityRef);
    return bodyOf(this.client.rollback({ path, body }));
  }

  /** {@inheritDoc KubeDeliveryApi.promote} */
  async promote(
    entityRef: string,
    body: { environment: string; bypassApproval?: boolean },
  ): Promise<Deployment> {
    const path = entityPathOf(entityRef);
    return bodyOf(this.client.promote({ path, body }));
  }

  /** {@inheritDoc KubeDeliveryApi.restart} */
  async restart(
    entityRef: string,
    body: { environment: string },
  ): Promise<Deployment> {
    const path = entityPathOf(entityRef);
    return bodyOf(this.client.restart({ path, body }));
  }

  /** {@inheritDoc KubeDeliveryApi.approveDeployment} */
  async approveDeployment(entityRef: string, id: string): Promise<Deployment> {
    const path = { ...entityPathOf(entityRef), id };
    return bodyOf(this.client.approveDeployment({ path }));
  }

  /** {@inheritDoc KubeDeliveryApi.rejectDeployment} */
  async rejectDeployment(
    entityRef: string,
    id: string,
    reason: string,
  ): Promise<Deployment> {
    const path = { ...entityPathOf(entityRef), id };
    return bodyOf(this.client.rejectDeployment({ path, body: { reason } }));
  }

  /** {@inheritDoc KubeDeliveryApi.getHistory} */
  async getHistory(
    entityRef: string,
    options: HistoryOptions = {},
  ): Promise<HistoryPage> {
    const { kind: entryKind, ...rest } = options;
    const path = entityPathOf(entityRef);
    return bodyOf(
      this.client.getHistory({ path, query: { ...rest, entryKind } }),
    );
  }

  /** {@inheritDoc KubeDeliveryApi.getRelease} */
  async getRelease(entityRef: string, id: string): Promise<ReleaseDetail> {
    const path = { ...entityPathOf(entityRef), id };
    return bodyOf(this.client.getRelease({ path }));
  }

  /** {@inheritDoc KubeDeliveryApi.getEnvironmentHealth} */
  async getEnvironmentHealth(name: string): Promise<EnvironmentHealth> {
    return bodyOf(this.client.getEnvironmentHealth({ path: { name } }));
  }

  /** {@inheritDoc KubeDeliveryApi.checkEnvironmentHealth} */
  async checkEnvironmentHealth(name: string): Promise<EnvironmentHealth> {
    return bodyOf(this.client.checkEnvironmentHealth({ path: { name } }));
  }

  /** {@inheritDoc KubeDeliveryApi.listRoutes} */
  async listRoutes(entityRef: string): Promise<RouteRuleView[]> {
    const path = entityPathOf(entityRef);
    return (await bodyOf(this.client.listRoutes({ path, query: {} }))).items;
  }

  /** {@inheritDoc KubeDeliveryApi.createRoute} */
  async createRoute(
    entityRef: string,
    body: NewRouteRule,
  ): Promise<RouteRuleView> {
    const path = entityPathOf(entityRef);
    return bodyOf(this.client.createRoute({ path, body }));
  }

  /** {@inheritDoc KubeDeliveryApi.extendRoute} */
  async extendRoute(
    entityRef: string,
    id: string,
    ttlMinutes: number,
  ): Promise<RouteRuleView> {
    const path = { ...entityPathOf(entityRef), id };
    return bodyOf(this.client.extendRoute({ path, body: { ttlMinutes } }));
  }

  /** {@inheritDoc KubeDeliveryApi.deleteRoute} */
  async deleteRoute(entityRef: string, id: string): Promise<void> {
    const path = { ...entityPathOf(entityRef), id };
    await bodyOf(this.client.deleteRoute({ path }));
  }

  /** {@inheritDoc KubeDeliveryApi.removeBranch} */
  async removeBranch(
    entityRef: string,
    environment: string,
    branch: string,
  ): Promise<BranchRemoval> {
    const path = { ...entityPathOf(entityRef), environment, branch };
    return bodyOf(this.client.removeBranch({ path }));
  }

  /** {@inheritDoc KubeDeliveryApi.testRoute} */
  async testRoute(
    entityRef: string,
    body: { environment: string; headers: Record<string, string> },
  ): Promise<RouteTestResult> {
    const path = entityPathOf(entityRef);
    return bodyOf(this.client.testRoute({ path, body }));
  }

  /** {@inheritDoc KubeDeliveryApi.listCertificates} */
  async listCertificates(name: string): Promise<GatewayCertificateList> {
    return bodyOf(this.client.listCertificates({ path: { name } }));
  }

  /** {@inheritDoc KubeDeliveryApi.uploadCertificate} */
  async uploadCertificate(
    name: string,
    body: CertificateUpload,
  ): Promise<CertificateChange> {
    return bodyOf(this.client.uploadCertificate({ path: { name }, body }));
  }

  /** {@inheritDoc KubeDeliveryApi.useCertManager} */
  async useCertManager(name: string): Promise<CertificateChange> {
    return bodyOf(this.client.useCertManager({ path: { name }, body: {} }));
  }
}
