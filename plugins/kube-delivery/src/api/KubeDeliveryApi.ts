import { createApiRef } from '@backstage/core-plugin-api';
import type {
  Deployment,
  DeploymentListPage,
  EnvironmentStatusView,
  EnvironmentSummary,
  ReleaseView,
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
  deploy(entityRef: string, request: ReleaseSelector): Promise<Deployment>;
  rollback(entityRef: string, request: ReleaseSelector): Promise<Deployment>;
  promote(
    entityRef: string,
    request: { environment: string },
  ): Promise<Deployment>;
  restart(
    entityRef: string,
    request: { environment: string },
  ): Promise<Deployment>;
}

/** The API reference of {@link KubeDeliveryApi}. @public */
export const kubeDeliveryApiRef = createApiRef<KubeDeliveryApi>({
  id: 'plugin.kube-delivery.service',
});
