import {
  ConflictError,
  InputError,
  NotAllowedError,
  NotFoundError,
} from '@backstage/errors';
import { ApiException } from '@kubernetes/client-node';

/** A request to the API server did not answer within the per-request timeout. */
export class RequestTimeoutError extends Error {
  constructor(method: string, path: string, timeoutMs: number) {
    super(`${method} ${path} did not answer within ${timeoutMs} ms`);
    this.name = 'RequestTimeoutError';
  }
}

/** The API server did not answer (a timeout or a network error), as opposed to answering with an error. */
export class ClusterUnreachableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ClusterUnreachableError';
  }
}

/** The environment a request went to, for messages. Never holds credentials. */
export interface EnvironmentRef {
  name: string;
  namespace: string;
  server: string;
}

/** What the caller was doing, for messages. */
export interface Operation {
  /** The Kubernetes verb, e.g. `patch` for a server-side apply. */
  verb: string;
  kind?: string;
  name?: string;
  dryRun?: boolean;
}

/** Network error codes worth another attempt (connection refused while an API server restarts, ...). */
const TRANSIENT_NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
]);

/** HTTP statuses worth another attempt. 409 is not one: a conflict needs a fresh read. */
const TRANSIENT_STATUS = new Set([429, 500, 502, 503, 504]);

function networkCode(error: unknown): string | undefined {
  const e = error as {
    name?: string;
    code?: unknown;
    errno?: unknown;
    type?: string;
  };
  if (!e || typeof e !== 'object') return undefined;
  if (e.name === 'FetchError' || e.type === 'system') {
    return String(e.code ?? e.errno ?? 'ERR');
  }
  return undefined;
}

function isAbort(error: unknown): boolean {
  return (error as { name?: string })?.name === 'AbortError';
}

/**
 * The HTTP status an API error should have had. A server-side apply with a field
 * the schema does not declare answers 500 "failed to create typed patch object"
 * (kubernetes/kubernetes#122480, #139253); it is a client error, like 400.
 */
export function effectiveStatus(error: ApiException<unknown>): number {
  if (
    error.code === 500 &&
    /^failed to create typed patch object/.test(apiMessage(error))
  ) {
    return 400;
  }
  return error.code;
}

/** Whether `error` may go away by itself: connection refused/reset, request timeout, 429, 5xx. */
export function isTransientError(error: unknown): boolean {
  if (error instanceof ApiException)
    return TRANSIENT_STATUS.has(effectiveStatus(error));
  if (error instanceof RequestTimeoutError) return true;
  const code = networkCode(error);
  return code !== undefined && TRANSIENT_NETWORK_CODES.has(code);
}

/** Whether the API server refused the credentials (401) or the permission (403). */
export function isDenied(error: unknown): boolean {
  return (
    error instanceof ApiException && (error.code === 401 || error.code === 403)
  );
}

/** Whether `error` means the API server was not reached (or did not answer) at all. */
export function isUnreachableError(error: unknown): boolean {
  return (
    error instanceof RequestTimeoutError || networkCode(error) !== undefined
  );
}

/** The server's Retry-After in milliseconds, if it sent one. */
export function retryAfterMs(error: unknown): number | undefined {
  if (!(error instanceof ApiException)) return undefined;
  const value = Number(error.headers?.['retry-after']);
  return Number.isFinite(value) && value > 0 ? value * 1000 : undefined;
}

/** The `message` of a Kubernetes Status body, or a short excerpt of whatever came back. */
export function apiMessage(error: ApiException<unknown>): string {
  const body = error.body as { message?: unknown } | string | undefined;
  if (body && typeof body === 'object' && typeof body.message === 'string') {
    return body.message;
  }
  if (typeof body === 'string' && body.trim()) return body.trim().slice(0, 500);
  return `HTTP ${error.code}`;
}

const FORBIDDEN = /cannot (\w+) resource "([^"]+)"(?: in API group "([^"]*)")?/;

/**
 * Turns an error from a request into what callers get: InputError (400/422, the
 * API server rejected the object), NotAllowedError (403, naming the verb and
 * resource the ServiceAccount lacks), NotFoundError (404), ConflictError (409),
 * and a plain Error with a clear message for everything else, notably an
 * unreachable cluster. Errors that are not from a request pass through unchanged.
 * Messages never contain credentials: they are built from the operation, the
 * server URL and the API server's Status message only.
 */
export function toClusterError(
  error: unknown,
  env: EnvironmentRef,
  op: Operation,
): Error {
  const what = op.kind
    ? `${op.kind}${op.name ? ` "${op.name}"` : 's'}`
    : 'the request';
  const where = `environment "${env.name}" (namespace "${env.namespace}")`;

  if (error instanceof ApiException) {
    const message = apiMessage(error);
    switch (effectiveStatus(error)) {
      case 400:
      case 422:
        return new InputError(
          `${what} was rejected by the Kubernetes API server of ${where}${
            op.dryRun ? ' in a dry run' : ''
          }: ${message}`,
        );
      case 403: {
        const m = FORBIDDEN.exec(message);
        const verb = m?.[1] ?? op.verb;
        const resource = m
          ? `${m[2]}${m[3] ? `.${m[3]}` : ''}`
          : op.kind ?? 'this resource';
        return new NotAllowedError(
          `The ServiceAccount of ${where} may not ${verb} ${resource} (needed to ${op.verb} ${what}); grant it in the namespace's Role. Kubernetes said: ${message}`,
        );
      }
      case 404:
        return new NotFoundError(
          `${what} was not found in ${where}: ${message}`,
        );
      case 409:
        return new ConflictError(
          `${what} in ${where} was changed concurrently: ${message}`,
        );
      case 401:
        return new Error(
          `The Kubernetes API server of ${where} at ${env.server} rejected the credentials (401 Unauthorized): the ServiceAccount token is missing, expired or revoked`,
        );
      default:
        return new Error(
          `The Kubernetes API server of ${where} at ${env.server} answered ${error.code} to ${op.verb} ${what}: ${message}`,
        );
    }
  }
  if (error instanceof RequestTimeoutError) {
    return new ClusterUnreachableError(
      `The Kubernetes API server of ${where} at ${env.server} did not answer: ${error.message}`,
    );
  }
  const code = networkCode(error);
  if (code !== undefined) {
    // node-fetch says "request to <url> failed, reason: <reason>"; keep the reason only.
    const reason = /reason: (.*)$/.exec((error as Error).message ?? '')?.[1];
    return new ClusterUnreachableError(
      `Cannot reach the Kubernetes API server of ${where} at ${
        env.server
      } while trying to ${op.verb} ${what}: ${reason ?? code}`,
    );
  }
  if (isAbort(error)) return error as Error;
  return error instanceof Error ? error : new Error(String(error));
}
