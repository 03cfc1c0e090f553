import type { DiscoveryApi, FetchApi } from '@backstage/core-plugin-api';
import { parseEntityRef } from '@backstage/catalog-model';
import { ResponseError } from '@backstage/errors';
import type {
  Deployment,
  DeploymentListPage,
  EnvironmentStatusView,
  EnvironmentSummary,
  ItemsResponse,
  ReleaseView,
} from '@internal/plugin-kube-delivery-common';
import type {
  KubeDeliveryApi,
  ListDeploymentsOptions,
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

  async listEnvironments(): Promise<EnvironmentSummary[]> {
    const body = await this.request<ItemsResponse<EnvironmentSummary>>(
      '/environments',
    );
    return body.items;
  }

  async getStatus(entityRef: string): Promise<EnvironmentStatusView[]> {
    const body = await this.request<ItemsResponse<EnvironmentStatusView>>(
      `${entityPath(entityRef)}/status`,
    );
    return body.items;
  }

  async listReleases(entityRef: string): Promise<ReleaseView[]> {
    const body = await this.request<ItemsResponse<ReleaseView>>(
      `${entityPath(entityRef)}/releases`,
    );
    return body.items;
  }

  async listDeployments(
    entityRef: string,
    options: ListDeploymentsOptions = {},
  ): Promise<DeploymentListPage> {
    const query = new URLSearchParams();
    if (options.environment) query.set('environment', options.environment);
    if (options.limit !== undefined) query.set('limit', String(options.limit));
    if (options.before) query.set('before', options.before);
    const qs = query.toString();
    return this.request<DeploymentListPage>(
      `${entityPath(entityRef)}/deployments${qs ? `?${qs}` : ''}`,
    );
  }

  async getDeployment(entityRef: string, id: string): Promise<Deployment> {
    return this.request<Deployment>(
      `${entityPath(entityRef)}/deployments/${encodeURIComponent(id)}`,
    );
  }

  async deploy(entityRef: string, request: ReleaseSelector) {
    return this.post(`${entityPath(entityRef)}/deployments`, request);
  }

  async rollback(entityRef: string, request: ReleaseSelector) {
    return this.post(`${entityPath(entityRef)}/rollbacks`, request);
  }

  async promote(entityRef: string, request: { environment: string }) {
    return this.post(`${entityPath(entityRef)}/promotions`, request);
  }

  async restart(entityRef: string, request: { environment: string }) {
    return this.post(`${entityPath(entityRef)}/restarts`, request);
  }

  private post(path: string, body: object): Promise<Deployment> {
    return this.request<Deployment>(path, {
      method: 'POST',
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
    return (await response.json()) as T;
  }
}

/** `/entities/:kind/:namespace/:name` of an entity reference. */
function entityPath(entityRef: string): string {
  const { kind, namespace, name } = parseEntityRef(entityRef);
  return `/entities/${[kind, namespace, name]
    .map(part => encodeURIComponent(part))
    .join('/')}`;
}
