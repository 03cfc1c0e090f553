import {
  NotAllowedError,
  NotFoundError,
  ServiceUnavailableError,
} from '@backstage/errors';
import { parseWwwAuthenticate, type AuthChallenge } from './challenge';
import type { RegistryConfig } from './config';

/** Limits of one registry client; the defaults suit a backend serving a UI. */
export interface RegistryClientOptions {
  /** Per-request timeout, body included. Default 15 s. */
  timeoutMs?: number;
  /** Largest response body read, in bytes. Default 4 MiB (distribution's own manifest limit). */
  maxResponseBytes?: number;
  /** The fetch to use; the global one by default. */
  fetch?: typeof fetch;
}

/** A registry response that was read to its end (within the size cap). */
export interface RegistryResponse {
  status: number;
  headers: Headers;
  body: Buffer;
  /** The URL that answered, after redirects. */
  url: string;
}

export interface RegistryRequest {
  method: 'GET' | 'HEAD';
  url: string;
  /** The token scope the request needs, e.g. `repository:team/app:pull`. */
  scope: string;
  accept?: string;
  /** What the request is about, for messages: `tags of team/app`. */
  what: string;
  /** Repository and tag, to name what was not found. */
  repository: string;
  tag?: string;
}

const DEFAULT_TIMEOUT_MS = 15_000;
const DEFAULT_MAX_RESPONSE_BYTES = 4 * 1024 * 1024;
/** Token responses are small; a large one is not a token response. */
const MAX_TOKEN_RESPONSE_BYTES = 64 * 1024;
/** Error bodies are read only to find the error code. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;
/** Tokens without `expires_in` last 60 s (the token spec's default). */
const DEFAULT_TOKEN_SECONDS = 60;
const MAX_TOKEN_SECONDS = 3600;
const TOKEN_MARGIN_MS = 10_000;
const USER_AGENT = 'backstage-plugin-kube-delivery';

class ResponseTooLargeError extends Error {}

/**
 * Talks to one registry: authentication (anonymous, basic, static bearer
 * token, or the Docker token flow), timeouts and size caps, and errors that
 * say what went wrong without ever holding a credential.
 */
export class RegistryClient {
  private readonly timeoutMs: number;
  private readonly maxResponseBytes: number;
  private readonly fetchImpl: typeof fetch;
  /** The scheme the registry asked for, once known, so later requests authenticate up front. */
  private scheme: 'basic' | 'bearer' | undefined;
  /** Bearer tokens by scope. */
  private readonly tokens = new Map<
    string,
    { value: string; expiresAt: number }
  >();

  constructor(
    private readonly registry: RegistryConfig,
    options: RegistryClientOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.maxResponseBytes =
      options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    this.fetchImpl = options.fetch ?? fetch;
  }

  get host(): string {
    return this.registry.host;
  }

  /** The URL of a Distribution API path, e.g. `/v2/team/app/tags/list`. */
  apiUrl(path: string): string {
    return `${this.registry.url}${path}`;
  }

  /** Whether `url` is on the registry's own origin (where its credentials may go). */
  isOwnOrigin(url: string): boolean {
    return new URL(url).origin === new URL(this.registry.url).origin;
  }

  /**
   * Sends a request, authenticating as the registry asks, and reads the whole
   * answer. Anything but a 2xx becomes a clear error.
   */
  async send(request: RegistryRequest): Promise<RegistryResponse> {
    const { registry } = this;
    let authorization = this.authorizationFor(request.scope);
    let response = await this.fetchOnce(request, authorization);
    if (response.status === 401) {
      const challenges = parseWwwAuthenticate(
        response.headers.get('www-authenticate'),
      );
      const retry = await this.answerChallenge(
        challenges,
        request,
        authorization,
      );
      if (retry !== undefined) {
        authorization = retry;
        response = await this.fetchOnce(request, authorization);
      }
      if (response.status === 401) {
        throw this.unauthorized(
          parseWwwAuthenticate(response.headers.get('www-authenticate')),
          request,
        );
      }
    }
    if (response.status >= 200 && response.status < 300) return response;
    if (response.status === 403) {
      throw new NotAllowedError(
        `registry ${registry.host} denied access to ${request.what} (403)`,
      );
    }
    if (response.status === 404) {
      throw this.notFound(response, request);
    }
    if (response.status === 429) {
      throw new ServiceUnavailableError(
        `registry ${registry.host} is rate limiting requests for ${request.what} (429)`,
      );
    }
    if (response.status >= 500) {
      throw new ServiceUnavailableError(
        `registry ${registry.host} failed to answer for ${request.what} (${response.status})`,
      );
    }
    throw new Error(
      `registry ${registry.host} answered ${response.status} for ${
        request.what
      }${errorDetail(response)}`,
    );
  }

  private notFound(response: RegistryResponse, request: RegistryRequest) {
    const codes = errorCodes(response);
    const { host } = this.registry;
    if (codes.includes('NAME_UNKNOWN') || request.tag === undefined) {
      return new NotFoundError(
        `repository ${request.repository} was not found in registry ${host}`,
      );
    }
    return new NotFoundError(
      `tag ${request.tag} of ${request.repository} was not found in registry ${host}`,
    );
  }

  private unauthorized(challenges: AuthChallenge[], request: RegistryRequest) {
    const { host } = this.registry;
    if (!this.hasCredentials()) {
      return new NotAllowedError(
        `registry ${host} requires credentials for ${request.what}, and none are configured for it (401)`,
      );
    }
    const bearer = challenges.find(c => c.scheme === 'bearer');
    if (bearer?.params.error === 'insufficient_scope') {
      return new NotAllowedError(
        `the credentials configured for registry ${host} do not grant pull access to ${request.repository}, or it does not exist (401)`,
      );
    }
    return this.credentialsRefused();
  }

  private credentialsRefused() {
    return new NotAllowedError(
      `registry ${this.registry.host} refused the credentials configured for it (401)`,
    );
  }

  private hasCredentials(): boolean {
    return (
      this.registry.token !== undefined || this.registry.username !== undefined
    );
  }

  private basicAuthorization(): string | undefined {
    const { username, password } = this.registry;
    if (username === undefined) return undefined;
    return `Basic ${Buffer.from(`${username}:${password ?? ''}`).toString(
      'base64',
    )}`;
  }

  /** The Authorization header to send before any challenge, when one is known to be needed. */
  private authorizationFor(scope: string): string | undefined {
    if (this.registry.token !== undefined) {
      return `Bearer ${this.registry.token}`;
    }
    if (this.scheme === 'basic') return this.basicAuthorization();
    if (this.scheme === 'bearer') {
      const cached = this.tokens.get(scope);
      if (cached && cached.expiresAt > Date.now()) {
        return `Bearer ${cached.value}`;
      }
    }
    return undefined;
  }

  /**
   * The Authorization header to retry with after a 401, or undefined when a
   * retry cannot succeed.
   */
  private async answerChallenge(
    challenges: AuthChallenge[],
    request: RegistryRequest,
    sent: string | undefined,
  ): Promise<string | undefined> {
    // A static token was sent and refused: nothing else to try.
    if (this.registry.token !== undefined) return undefined;
    const bearer = challenges.find(
      c => c.scheme === 'bearer' && c.params.realm,
    );
    if (bearer) {
      // A fresh token, also when a cached one was refused (expired or revoked).
      this.scheme = 'bearer';
      const token = await this.fetchToken(bearer, request);
      return `Bearer ${token}`;
    }
    if (challenges.some(c => c.scheme === 'basic')) {
      const basic = this.basicAuthorization();
      if (basic === undefined || sent === basic) return undefined;
      this.scheme = 'basic';
      return basic;
    }
    return undefined;
  }

  /** The Docker token flow: GET realm?service=...&scope=..., with basic credentials if configured. */
  private async fetchToken(
    challenge: AuthChallenge,
    request: RegistryRequest,
  ): Promise<string> {
    const { host } = this.registry;
    let realm: URL;
    try {
      realm = new URL(challenge.params.realm);
    } catch {
      throw new Error(
        `registry ${host} named an invalid token service in its challenge`,
      );
    }
    const registryProtocol = new URL(this.registry.url).protocol;
    if (
      realm.protocol !== 'https:' &&
      !(realm.protocol === 'http:' && registryProtocol === 'http:')
    ) {
      // Never send credentials over a weaker channel than the registry's own.
      throw new Error(
        `registry ${host} named a token service that is not https (${realm.protocol})`,
      );
    }
    const scope = challenge.params.scope || request.scope;
    realm.searchParams.delete('service');
    realm.searchParams.delete('scope');
    if (challenge.params.service) {
      realm.searchParams.set('service', challenge.params.service);
    }
    for (const s of scope.split(' ').filter(Boolean)) {
      realm.searchParams.append('scope', s);
    }
    const headers: Record<string, string> = {
      accept: 'application/json',
      'user-agent': USER_AGENT,
    };
    const basic = this.basicAuthorization();
    if (basic) headers.authorization = basic;
    const what = `a token for ${request.what}`;
    let response: Response;
    try {
      response = await this.fetchImpl(realm, {
        method: 'GET',
        headers,
        redirect: 'follow',
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      throw this.networkError(error, what, `token service ${realm.host}`);
    }
    let body: Buffer;
    try {
      body = await readCapped(response, MAX_TOKEN_RESPONSE_BYTES);
    } catch (error) {
      throw this.networkError(error, what, `token service ${realm.host}`);
    }
    if (response.status === 401 || response.status === 403) {
      if (!basic) {
        throw new NotAllowedError(
          `registry ${host} requires credentials for ${request.what}, and none are configured for it (${response.status})`,
        );
      }
      throw new NotAllowedError(
        `registry ${host} refused the credentials configured for it (${response.status})`,
      );
    }
    if (response.status < 200 || response.status >= 300) {
      const error = `the token service of registry ${host} answered ${response.status}`;
      throw response.status >= 500 || response.status === 429
        ? new ServiceUnavailableError(error)
        : new Error(error);
    }
    let parsed: {
      token?: unknown;
      access_token?: unknown;
      expires_in?: unknown;
    };
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      throw new Error(
        `the token service of registry ${host} did not answer with JSON`,
      );
    }
    const token =
      typeof parsed?.token === 'string' && parsed.token
        ? parsed.token
        : parsed?.access_token;
    if (typeof token !== 'string' || !token || /[\s]/.test(token)) {
      throw new Error(
        `the token service of registry ${host} answered without a token`,
      );
    }
    const seconds =
      typeof parsed.expires_in === 'number' && parsed.expires_in > 0
        ? Math.min(parsed.expires_in, MAX_TOKEN_SECONDS)
        : DEFAULT_TOKEN_SECONDS;
    this.tokens.set(request.scope, {
      value: token,
      expiresAt: Date.now() + Math.max(seconds * 1000 - TOKEN_MARGIN_MS, 0),
    });
    if (this.tokens.size > 1000) {
      // Old scopes are not worth keeping around in a long-running backend.
      for (const [key, value] of this.tokens) {
        if (value.expiresAt <= Date.now()) this.tokens.delete(key);
      }
    }
    return token;
  }

  private async fetchOnce(
    request: RegistryRequest,
    authorization: string | undefined,
  ): Promise<RegistryResponse> {
    const headers: Record<string, string> = { 'user-agent': USER_AGENT };
    if (request.accept) headers.accept = request.accept;
    if (authorization) headers.authorization = authorization;
    const signal = AbortSignal.timeout(this.timeoutMs);
    let response: Response;
    try {
      // fetch drops the Authorization header on a redirect to another origin.
      response = await this.fetchImpl(request.url, {
        method: request.method,
        headers,
        redirect: 'follow',
        signal,
      });
    } catch (error) {
      throw this.networkError(error, request.what);
    }
    const ok = response.status >= 200 && response.status < 300;
    let body: Buffer;
    try {
      body =
        request.method === 'HEAD'
          ? Buffer.alloc(0)
          : await readCapped(
              response,
              ok ? this.maxResponseBytes : MAX_ERROR_BODY_BYTES,
            );
    } catch (error) {
      if (error instanceof ResponseTooLargeError && !ok) {
        body = Buffer.alloc(0);
      } else {
        throw this.networkError(error, request.what);
      }
    }
    return {
      status: response.status,
      headers: response.headers,
      body,
      url: response.url || request.url,
    };
  }

  private networkError(error: unknown, what: string, peer?: string): Error {
    const { host, url } = this.registry;
    const name = peer ?? `registry ${host} (${url})`;
    if (error instanceof ResponseTooLargeError) {
      return new Error(
        `${name} answered more than ${error.message} bytes for ${what}`,
      );
    }
    const e = error as { name?: string; message?: string; cause?: unknown };
    if (e?.name === 'TimeoutError' || e?.name === 'AbortError') {
      return new ServiceUnavailableError(
        `${name} did not answer within ${this.timeoutMs} ms for ${what}`,
      );
    }
    const cause = e?.cause as { code?: string; message?: string } | undefined;
    const reason = cause?.code ?? cause?.message ?? e?.message ?? String(error);
    return new ServiceUnavailableError(
      `${name} is unreachable for ${what}: ${reason}`,
    );
  }
}

/** Reads a response body, failing once it grows beyond `maxBytes`. */
async function readCapped(
  response: Response,
  maxBytes: number,
): Promise<Buffer> {
  const declared = Number(response.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > maxBytes) {
    await response.body?.cancel().catch(() => {});
    throw new ResponseTooLargeError(String(maxBytes));
  }
  if (!response.body) return Buffer.alloc(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => {});
      throw new ResponseTooLargeError(String(maxBytes));
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

/** The `errors[].code` values of a Distribution API error body. */
function errorCodes(response: RegistryResponse): string[] {
  try {
    const parsed = JSON.parse(response.body.toString('utf8'));
    return Array.isArray(parsed?.errors)
      ? parsed.errors
          .map((e: { code?: unknown }) => e?.code)
          .filter((c: unknown): c is string => typeof c === 'string')
      : [];
  } catch {
    return [];
  }
}

function errorDetail(response: RegistryResponse): string {
  const codes = errorCodes(response).slice(0, 3);
  return codes.length ? ` (${codes.join(', ')})` : '';
}
