import { parseEntityRef } from '@backstage/catalog-model';
import { ResponseError } from '@backstage/errors';
import {
  bodyOf,
  KubeDeliveryApiClient,
  type Deployment,
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

/** How {@link waitForDeployment} polls. @public */
export interface WaitOptions {
  /** Milliseconds between polls; default 1000. */
  pollIntervalMs?: number;
  /** Milliseconds after which waiting fails; default 600000 (10 minutes). */
  timeoutMs?: number;
  /** Stops waiting when aborted. */
  signal?: AbortSignal;
}

/**
 * The client of the Kube Delivery HTTP API generated from its OpenAPI spec,
 * as CI uses it: the scaffolder actions and the demo seed go through it, so
 * they exercise the same permission checks, validation and audit trail as
 * everyone else.
 *
 * Every request carries `Authorization: Bearer <token>`. An answer that is
 * not ok rejects the call with a `ResponseError` whose message names the
 * request and keeps the API's reason (what a template user or a CI log
 * needs to see), e.g.
 *
 * ```text
 * POST /entities/component/default/adservice/deployments: Request failed with 409 Conflict: 0.1.0 must first succeed in test
 * ```
 *
 * The answer's body is read with `bodyOf` of the Kube Delivery common package.
 *
 * @public
 */
export function createKubeDeliveryClient(
  options: KubeDeliveryClientOptions,
): KubeDeliveryApiClient {
  return new KubeDeliveryApiClient({
    discoveryApi: { getBaseUrl: () => options.baseUrl() },
    fetchApi: {
      fetch: async (input, init) => {
        const headers = new Headers(init?.headers);
        if (!headers.has('Authorization')) {
          headers.set('Authorization', `Bearer ${await options.token()}`);
        }
        const response = await fetch(input, { ...init, headers });
        if (!response.ok) {
          const error = await ResponseError.fromResponse(response);
          const url = String(input instanceof Request ? input.url : input);
          const baseUrl = await options.baseUrl();
          const path = url.startsWith(baseUrl)
            ? url.slice(baseUrl.length)
            : url;
          error.message = `${init?.method ?? 'GET'} ${path}: ${
            error.message
          }: ${error.cause.message}`;
          throw error;
        }
        return response;
      },
    },
  });
}

/**
 * Polls a deployment until it is no longer queued or running.
 *
 * @public
 */
export async function waitForDeployment(
  client: KubeDeliveryApiClient,
  entityRef: string,
  id: string,
  options: WaitOptions = {},
): Promise<Deployment> {
  const { pollIntervalMs = 1000, timeoutMs = 600_000, signal } = options;
  const deadline = Date.now() + timeoutMs;
  const path = { ...entityPathParams(entityRef), id };
  for (;;) {
    const deployment = await bodyOf(client.getDeployment({ path }));
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

/**
 * The path parameters of an entity reference as a template user writes it:
 * the kind defaults to `component` and the namespace to `default`.
 */
export function entityPathParams(entityRef: string): {
  kind: string;
  namespace: string;
  name: string;
} {
  const { kind, namespace, name } = parseEntityRef(entityRef, {
    defaultKind: 'component',
    defaultNamespace: 'default',
  });
  return { kind: kind.toLocaleLowerCase('en-US'), namespace, name };
}
