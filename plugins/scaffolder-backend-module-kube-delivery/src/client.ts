import { parseEntityRef } from '@backstage/catalog-model';
import { ResponseError } from '@backstage/errors';
import type {
  Deployment,
  DeploymentListPage,
  ItemsResponse,
  Release,
  RouteRule,
} from '@internal/plugin-kube-delivery-common';

/**
 * Where the Kube Delivery API is and how to authenticate to it, asked per request.
 *
 * @public
 */
export interface KubeDeliveryClientOptions {
  /** The plugin's base URL, e.g. `http://localhost:7007/api/kube-delivery`. */
  baseUrl: () => Promise<string>;
  /** A Backstage token: a plugin-to-plugin service token, or a static CI token. */
  token: () => Promise<string>;
}

/** How {@link KubeDeliveryClient.waitForDeployment} polls. @public */
export interface WaitOptions {
  /** Milliseconds between polls; default 1000. */
  pollIntervalMs?: number;
  /** Milliseconds after which waiting fails; default 600000 (10 minutes). */
  timeoutMs?: number;
  /** Stops waiting when aborted. */
  signal?: AbortSignal;
}

/**
 * A small client of the Kube Delivery HTTP API, the one CI uses: the
 * scaffolder actions and the demo seed go through it, so they exercise the
 * same permission checks, validation and audit trail as everyone else.
 *
 * @public
 */
export class KubeDeliveryClient {
  constructor(private readonly options: KubeDeliveryClientOptions) {}

  /** Creates a release of the entity (`POST …/releases`). */
  createRelease(
    entityRef: string,
    body: { version: string; tag?: string; digest?: string },
  ): Promise<Release> {
    return this.request('POST', `${entityPath(entityRef)}/releases`, body);
  }

  /** The entity's releases. */
  async listReleases(entityRef: string): Promise<Release[]> {
    const page = await this.request<ItemsResponse<Release>>(
      'GET',
      `${entityPath(entityRef)}/releases`,
    );
    return page.items;
  }

  /** Deploys a version of the entity to an environment (`POST …/deployments`). */
  deploy(
    entityRef: string,
    body: { environment: string; version: string },
  ): Promise<Deployment> {
    return this.request('POST', `${entityPath(entityRef)}/deployments`, body);
  }

  /** One deployment with its steps. */
  getDeployment(entityRef: string, id: string): Promise<Deployment> {
    return this.request(
      'GET',
      `${entityPath(entityRef)}/deployments/${encodeURIComponent(id)}`,
    );
  }

  /** The entity's latest deployments (up to 100) in an environment, newest first. */
  async listDeployments(
    entityRef: string,
    environment: string,
  ): Promise<Deployment[]> {
    const query = new URLSearchParams({ environment, limit: '100' });
    const page = await this.request<DeploymentListPage>(
      'GET',
      `${entityPath(entityRef)}/deployments?${query}`,
    );
    return page.items;
  }

  /** Polls a deployment until it is no longer queued or running. */
  async waitForDeployment(
    entityRef: string,
    id: string,
    options: WaitOptions = {},
  ): Promise<Deployment> {
    const { pollIntervalMs = 1000, timeoutMs = 600_000, signal } = options;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const deployment = await this.getDeployment(entityRef, id);
      if (deployment.status !== 'queued' && deployment.status !== 'running') {
        return deployment;
      }
      if (Date.now() > deadline) {
        throw new Error(
          `Deployment ${id} of ${entityRef} is still ${
            deployment.status
          } after ${Math.round(
            timeoutMs / 1000,
          )} s; follow it on the service's Environments tab`,
        );
      }
      signal?.throwIfAborted();
      await new Promise(resolve => setTimeout(resolve, pollIntervalMs));
    }
  }

  /** The entity's routing rules in an environment. */
  async listRoutes(
    entityRef: string,
    environment: string,
  ): Promise<RouteRule[]> {
    const query = new URLSearchParams({ environment });
    const page = await this.request<ItemsResponse<RouteRule>>(
      'GET',
      `${entityPath(entityRef)}/routes?${query}`,
    );
    return page.items;
  }

  /** Creates a feature-branch routing rule owned by the caller. */
  createRoute(
    entityRef: string,
    body: {
      environment: string;
      branch: string;
      kind?: string;
      key?: string;
      value: string;
      ttlMinutes?: number;
    },
  ): Promise<RouteRule> {
    return this.request('POST', `${entityPath(entityRef)}/routes`, body);
  }

  /** Any other call, e.g. one of an API this client does not wrap yet. */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await fetch(`${await this.options.baseUrl()}${path}`, {
      method,
      headers: {
        Authorization: `Bearer ${await this.options.token()}`,
        ...(body !== undefined && { 'Content-Type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!response.ok) {
      const error = await ResponseError.fromResponse(response);
      // The API's reason ("... already exists", "... must first succeed in
      // test") is what a template user or CI log needs to see.
      error.message = `${method} ${path}: ${error.message}: ${error.cause.message}`;
      throw error;
    }
    return (await response.json()) as T;
  }
}

/**
 * `/entities/:kind/:namespace/:name` of an entity reference such as
 * `component:default/adservice`.
 *
 * @public
 */
export function entityPath(entityRef: string): string {
  const { kind, namespace, name } = parseEntityRef(entityRef, {
    defaultKind: 'component',
    defaultNamespace: 'default',
  });
  return `/entities/${[kind.toLocaleLowerCase('en-US'), namespace, name]
    .map(encodeURIComponent)
    .join('/')}`;
}
