import type { DiscoveryApi, FetchApi } from '@backstage/core-plugin-api';
import { parseEntityRef } from '@backstage/catalog-model';
import { ResponseError } from '@backstage/errors';
import type {
  ApprovalBypassRequest,
  ApprovalRejectRequest,
  BranchRemovalView,
  CertificateUploadRequest,
  CertificateUploadResponse,
  Deployment,
  DeploymentListPage,
  EnvironmentHealthView,
  EnvironmentStatusView,
  EnvironmentSummary,
  GatewayCertificateListResponse,
  HistoryPage,
  ItemsResponse,
  ReleaseDetailView,
  ReleaseView,
  RouteExtendRequest,
  RouteRule,
  RouteTestView,
} from '@internal/plugin-kube-delivery-common';
import type {
  HistoryOptions,
  KubeDeliveryApi,
  ListDeploymentsOptions,
  NewRouteRule,
  ReleaseSelector,
} from './KubeDeliveryApi';

/** {@link KubeDeliveryApi} over HTTP, with the user's Backstage token. @public */
export class KubeDeliveryClient implements KubeDeliveryApi {
  private readonly discoveryApi: DiscoveryApi;
  private readonly fetchApi: FetchApi;

  constructor(options: { discoveryApi: DiscoveryApi; fetchApi: FetchApi }) {
    this.discoveryApi = options.discoveryApi;
    this.fetchApi = options.fetchApi;
  }

  /** {@inheritDoc KubeDeliveryApi.listEnvironments} */
  async listEnvironments(): Promise<EnvironmentSummary[]> {
    const body = await this.request<ItemsResponse<EnvironmentSummary>>(
      '/environments',
    );
    return body.items;
  }

  /** {@inheritDoc KubeDeliveryApi.getStatus} */
  async getStatus(entityRef: string): Promise<EnvironmentStatusView[]> {
    const body = await this.request<ItemsResponse<EnvironmentStatusView>>(
      `${entityPath(entityRef)}/status`,
    );
    return body.items;
  }

  /** {@inheritDoc KubeDeliveryApi.listReleases} */
  async listReleases(entityRef: string): Promise<ReleaseView[]> {
    const body = await this.request<ItemsResponse<ReleaseView>>(
      `${entityPath(entityRef)}/releases`,
    );
    return body.items;
  }

  /** {@inheritDoc KubeDeliveryApi.listDeployments} */
  async listDeployments(
    entityRef: string,
    options: ListDeploymentsOptions = {},
  ): Promise<DeploymentListPage> {
    return this.request<DeploymentListPage>(
      `${entityPath(entityRef)}/deployments${queryString(options)}`,
    );
  }

  /** {@inheritDoc KubeDeliveryApi.getDeployment} */
  async getDeployment(entityRef: string, id: string): Promise<Deployment> {
    return this.request<Deployment>(
      `${entityPath(entityRef)}/deployments/${encodeURIComponent(id)}`,
    );
  }

  /** {@inheritDoc KubeDeliveryApi.deploy} */
  async deploy(
    entityRef: string,
    request: ReleaseSelector & ApprovalBypassRequest,
  ) {
    return this.post(`${entityPath(entityRef)}/deployments`, request);
  }

  /** {@inheritDoc KubeDeliveryApi.rollback} */
  async rollback(
    entityRef: string,
    request: ReleaseSelector & ApprovalBypassRequest,
  ) {
    return this.post(`${entityPath(entityRef)}/rollbacks`, request);
  }

  /** {@inheritDoc KubeDeliveryApi.promote} */
  async promote(
    entityRef: string,
    request: { environment: string } & ApprovalBypassRequest,
  ) {
    return this.post(`${entityPath(entityRef)}/promotions`, request);
  }

  /** {@inheritDoc KubeDeliveryApi.approveDeployment} */
  async approveDeployment(entityRef: string, id: string) {
    return this.post(
      `${entityPath(entityRef)}/deployments/${encodeURIComponent(id)}/approve`,
      {},
    );
  }

  /** {@inheritDoc KubeDeliveryApi.rejectDeployment} */
  async rejectDeployment(entityRef: string, id: string, reason: string) {
    return this.post(
      `${entityPath(entityRef)}/deployments/${encodeURIComponent(id)}/reject`,
      { reason } satisfies ApprovalRejectRequest,
    );
  }

  /** {@inheritDoc KubeDeliveryApi.restart} */
  async restart(entityRef: string, request: { environment: string }) {
    return this.post(`${entityPath(entityRef)}/restarts`, request);
  }

  /** {@inheritDoc KubeDeliveryApi.getHistory} */
  async getHistory(
    entityRef: string,
    options: HistoryOptions = {},
  ): Promise<HistoryPage> {
    return this.request<HistoryPage>(
      `${entityPath(entityRef)}/history${queryString(options)}`,
    );
  }

  /** {@inheritDoc KubeDeliveryApi.getRelease} */
  async getRelease(entityRef: string, id: string): Promise<ReleaseDetailView> {
    return this.request<ReleaseDetailView>(
      `${entityPath(entityRef)}/releases/${encodeURIComponent(id)}`,
    );
  }

  /** {@inheritDoc KubeDeliveryApi.getEnvironmentHealth} */
  async getEnvironmentHealth(
    environment: string,
  ): Promise<EnvironmentHealthView> {
    return this.request<EnvironmentHealthView>(
      `/environments/${encodeURIComponent(environment)}/health`,
    );
  }

  /** {@inheritDoc KubeDeliveryApi.checkEnvironmentHealth} */
  async checkEnvironmentHealth(
    environment: string,
  ): Promise<EnvironmentHealthView> {
    return this.send<EnvironmentHealthView>(
      'POST',
      `/environments/${encodeURIComponent(environment)}/health`,
      {},
    );
  }

  /** {@inheritDoc KubeDeliveryApi.listRoutes} */
  async listRoutes(entityRef: string): Promise<RouteRule[]> {
    const body = await this.request<ItemsResponse<RouteRule>>(
      `${entityPath(entityRef)}/routes`,
    );
    return body.items;
  }

  /** {@inheritDoc KubeDeliveryApi.createRoute} */
  async createRoute(entityRef: string, rule: NewRouteRule) {
    return this.send<RouteRule>(
      'POST',
      `${entityPath(entityRef)}/routes`,
      rule,
    );
  }

  /** {@inheritDoc KubeDeliveryApi.extendRoute} */
  async extendRoute(entityRef: string, id: string, ttlMinutes: number) {
    return this.send<RouteRule>(
      'PATCH',
      `${entityPath(entityRef)}/routes/${encodeURIComponent(id)}`,
      { ttlMinutes } satisfies RouteExtendRequest,
    );
  }

  /** {@inheritDoc KubeDeliveryApi.deleteRoute} */
  async deleteRoute(entityRef: string, id: string): Promise<void> {
    await this.request(
      `${entityPath(entityRef)}/routes/${encodeURIComponent(id)}`,
      { method: 'DELETE' },
    );
  }

  /** {@inheritDoc KubeDeliveryApi.removeBranch} */
  async removeBranch(
    entityRef: string,
    environment: string,
    branch: string,
  ): Promise<BranchRemovalView> {
    return this.request<BranchRemovalView>(
      `${entityPath(entityRef)}/branches/${encodeURIComponent(
        environment,
      )}/${encodeURIComponent(branch)}`,
      { method: 'DELETE' },
    );
  }

  /** {@inheritDoc KubeDeliveryApi.testRoute} */
  async testRoute(
    entityRef: string,
    request: { environment: string; headers: Record<string, string> },
  ) {
    return this.send<RouteTestView>(
      'POST',
      `${entityPath(entityRef)}/routes/test`,
      request,
    );
  }

  /** {@inheritDoc KubeDeliveryApi.listCertificates} */
  async listCertificates(
    environment: string,
  ): Promise<GatewayCertificateListResponse> {
    return this.request<GatewayCertificateListResponse>(
      `/environments/${encodeURIComponent(environment)}/certificates`,
    );
  }

  /** {@inheritDoc KubeDeliveryApi.uploadCertificate} */
  async uploadCertificate(
    environment: string,
    request: CertificateUploadRequest,
  ) {
    return this.send<CertificateUploadResponse>(
      'POST',
      `/environments/${encodeURIComponent(environment)}/certificates`,
      request,
    );
  }

  /** {@inheritDoc KubeDeliveryApi.useCertManager} */
  async useCertManager(environment: string) {
    return this.send<CertificateUploadResponse>(
      'POST',
      `/environments/${encodeURIComponent(
        environment,
      )}/certificates/cert-manager`,
      {},
    );
  }

  private post(path: string, body: object): Promise<Deployment> {
    return this.send<Deployment>('POST', path, body);
  }

  private send<T>(method: string, path: string, body: object): Promise<T> {
    return this.request<T>(path, {
      method,
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
  }

  private async request<T>(path: string, init?: RequestInit): Promise<T> {
    const baseUrl = await this.discoveryApi.getBaseUrl('kube-delivery');
    const response = await this.fetchApi.fetch(`${baseUrl}${path}`, init);
    if (!response.ok) {
      throw await ResponseError.fromResponse(response);
    }
    if (response.status === 204) return undefined as T;
    return (await response.json()) as T;
  }
}

/** `?environment=…&kind=…&limit=…&before=…` of the options that are set. */
function queryString(options: HistoryOptions): string {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(options)) {
    if (value !== undefined && value !== '') query.set(key, String(value));
  }
  const qs = query.toString();
  return qs ? `?${qs}` : '';
}

/** `/entities/:kind/:namespace/:name` of an entity reference. */
function entityPath(entityRef: string): string {
  const { kind, namespace, name } = parseEntityRef(entityRef);
  return `/entities/${[kind, namespace, name]
    .map(part => encodeURIComponent(part))
    .join('/')}`;
}
