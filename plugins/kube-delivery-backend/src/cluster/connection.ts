import { promises as fs } from 'node:fs';
import type { LoggerService } from '@backstage/backend-plugin-api';
import {
  ApiException,
  HttpMethod,
  IsomorphicFetchHttpLibrary,
  KubeConfig,
  RequestContext,
  type V1APIResource,
} from '@kubernetes/client-node';
import type { KubernetesCredential } from '@backstage/plugin-kubernetes-node';
import {
  isDenied,
  isTransientError,
  isUnreachableError,
  RequestTimeoutError,
} from './errors';
import { RetryOptions, withRetry } from './retry';

/** How to reach one environment's cluster (the `cluster` block of an environment, plus its namespace). */
export interface ClusterTarget {
  /** Environment name, for messages and logs. */
  name: string;
  /** Every call is confined to this namespace. */
  namespace: string;
  /** API server URL. With it, credentials come from serviceAccountToken(File). */
  url?: string;
  /** base64 of the PEM CA bundle of the API server. */
  caData?: string;
  serviceAccountToken?: string;
  /** Path of a token file (a projected ServiceAccount token); re-read for every request batch. */
  serviceAccountTokenFile?: string;
  /** Without `url`: the kubeconfig context to use (default: the current one). */
  kubeconfigContext?: string;
  /** Without `url`: the kubeconfig file (default: $KUBECONFIG or ~/.kube/config). */
  kubeconfigPath?: string;
  skipTLSVerify?: boolean;
  /** How long reads for the tabs and health checks wait for this cluster; default 5. */
  timeoutSeconds?: number;
  /** A cluster of `kubernetes.clusterLocatorMethods`; `url` and `caData` are filled in once it is located. */
  clusterName?: string;
  /** Why the named cluster is not located (yet). */
  unlocated?: string;
  /** Without a token of its own: the credentials of the located cluster's auth strategy. */
  credentials?: ClusterCredentials;
}

/** Credentials from the Kubernetes plugin's authentication strategy of a cluster. */
export interface ClusterCredentials {
  /** In words, for messages. */
  description: string;
  get(): Promise<KubernetesCredential>;
}

export interface ConnectionOptions {
  /** Timeout of one HTTP request. Default 30 s. */
  requestTimeoutMs?: number;
  /** Retries of one request on transient errors. */
  retry?: Pick<RetryOptions, 'attempts' | 'baseDelayMs' | 'maxDelayMs'>;
}

export interface KubeRequest {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** Path below the server URL, e.g. /apis/apps/v1/namespaces/dev/deployments/x */
  path: string;
  query?: Record<string, string | undefined>;
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal;
  /** When given, the texts of the response's `Warning` headers are pushed here. */
  warnings?: string[];
}

/** What discovery says about a kind. */
export interface ResourceInfo {
  /** Plural resource name, e.g. deployments. */
  resource: string;
  group: string;
  namespaced: boolean;
}

/** Requests made with one set of credentials (a token file is read once per batch). */
export interface Batch {
  request<T = any>(req: KubeRequest): Promise<T>;
  /** Like request, but resolves undefined on 404. */
  requestOrUndefined<T = any>(req: KubeRequest): Promise<T | undefined>;
  /** Discovery (cached); undefined when the server does not serve the kind. */
  resourceFor(
    apiVersion: string,
    kind: string,
  ): Promise<ResourceInfo | undefined>;
}

const http = new IsomorphicFetchHttpLibrary();

/** Base path of an apiVersion: /api/v1 or /apis/<group>/<version>. */
export function apiVersionPath(apiVersion: string): string {
  return apiVersion.includes('/')
    ? `/apis/${apiVersion}`
    : `/api/${apiVersion}`;
}

function parseBody(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * The credentials and transport of one environment. Requests go through
 * client-node's KubeConfig (TLS, auth providers) and HTTP library, but bodies are
 * sent and read as plain JSON: client-node's typed serializer would drop every
 * field its models do not know (a typo, or a field newer than the models),
 * which would hide invalid manifests from the server-side dry run.
 */
export class KubeConnection {
  readonly server: string;
  private readonly baseConfig: KubeConfig;
  private tokenConfig?: { token: string; config: KubeConfig };
  private strategyConfig?: { credential: string; config: KubeConfig };
  private readonly discovery = new Map<
    string,
    { fetchedAt: number; resources: V1APIResource[] }
  >();
  private readonly requestTimeoutMs: number;

  constructor(
    private readonly target: ClusterTarget,
    private readonly logger: LoggerService,
    private readonly options: ConnectionOptions = {},
  ) {
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.baseConfig = buildBaseConfig(target);
    const cluster = this.baseConfig.getCurrentCluster();
    if (!cluster) {
      throw new Error(
        `Environment "${target.name}": no cluster in its kubeconfig context`,
      );
    }
    this.server = cluster.server;
    if (cluster.skipTLSVerify) {
      logger.warn(
        `Environment "${target.name}": TLS verification of ${this.server} is disabled (skipTLSVerify)`,
      );
    }
  }

  /** Starts a batch of requests with the credentials of this moment. */
  async batch(): Promise<Batch> {
    const config = await this.currentConfig();
    const request = <T>(req: KubeRequest) => this.send<T>(config, req);
    return {
      request,
      requestOrUndefined: async <T>(req: KubeRequest) => {
        try {
          return await request<T>(req);
        } catch (error) {
          if (error instanceof ApiException && error.code === 404)
            return undefined;
          throw error;
        }
      },
      resourceFor: (apiVersion, kind) =>
        this.resourceFor(config, apiVersion, kind),
    };
  }

  /** The credential this environment uses, in words, for messages. */
  get credential(): string {
    const t = this.target;
    if (t.credentials) return t.credentials.description;
    if (t.serviceAccountTokenFile) {
      return `the ServiceAccount token in ${t.serviceAccountTokenFile}`;
    }
    if (t.serviceAccountToken) return 'its configured serviceAccountToken';
    return `the credentials of kubeconfig context "${
      t.kubeconfigContext ?? 'current'
    }"`;
  }

  /**
   * Whether the API server says it is ready (`/readyz`, asked without
   * credentials, which every cluster allows): a server that is ready and
   * still refuses a credential has revoked or narrowed it, whereas one
   * restarting refuses until its caches are loaded.
   */
  async serverReady(): Promise<boolean> {
    const cluster = this.baseConfig.getCurrentCluster()!;
    const anonymous = new KubeConfig();
    anonymous.loadFromOptions({
      clusters: [cluster],
      users: [{ name: 'anonymous' }],
      contexts: [
        { name: 'anonymous', cluster: cluster.name, user: 'anonymous' },
      ],
      currentContext: 'anonymous',
    });
    try {
      const text = await this.sendOnce<unknown>(anonymous, {
        method: 'GET',
        path: '/readyz',
      });
      return text === 'ok';
    } catch {
      return false;
    }
  }

  /** The KubeConfig with the credentials of this moment (a token file is re-read), e.g. for watch streams. */
  async currentConfig(): Promise<KubeConfig> {
    if (this.target.credentials) return this.strategyCredentials();
    const file = this.target.serviceAccountTokenFile;
    if (!file) return this.baseConfig;
    let token: string;
    try {
      token = (await fs.readFile(file, 'utf8')).trim();
    } catch (error) {
      throw new Error(
        `Environment "${
          this.target.name
        }": cannot read the ServiceAccount token file ${file}: ${
          (error as NodeJS.ErrnoException).code ?? 'unreadable'
        }`,
      );
    }
    if (!token) {
      throw new Error(
        `Environment "${this.target.name}": the ServiceAccount token file ${file} is empty`,
      );
    }
    if (this.tokenConfig?.token !== token) {
      if (this.tokenConfig) {
        this.logger.info(
          `Environment "${this.target.name}": ServiceAccount token rotated`,
        );
      }
      this.tokenConfig = { token, config: withToken(this.baseConfig, token) };
    }
    return this.tokenConfig.config;
  }

  /** The strategy's credential of this moment (strategies cache and refresh their tokens). */
  private async strategyCredentials(): Promise<KubeConfig> {
    const credential = await this.target.credentials!.get();
    const key = JSON.stringify(credential);
    if (this.strategyConfig?.credential !== key) {
      this.strategyConfig = {
        credential: key,
        config: withCredential(this.baseConfig, credential),
      };
    }
    return this.strategyConfig.config;
  }

  private send<T>(config: KubeConfig, req: KubeRequest): Promise<T> {
    let sawUnreachable = false;
    return withRetry(() => this.sendOnce<T>(config, req), {
      ...this.options.retry,
      signal: req.signal,
      // A restarting API server refuses connections, then answers 401/403
      // until its authenticator and RBAC caches have synced: a denial right
      // after the server was unreachable is part of the restart.
      isRetryable: error => {
        if (isDenied(error) && sawUnreachable) return true;
        if (isUnreachableError(error)) sawUnreachable = true;
        return isTransientError(error);
      },
      onRetry: (error, attempt, delayMs) =>
        this.logger.warn(
          `Environment "${this.target.name}": ${req.method} ${
            req.path
          } failed (${describe(
            error,
          )}), attempt ${attempt}, retrying in ${delayMs} ms`,
        ),
    });
  }

  private async sendOnce<T>(config: KubeConfig, req: KubeRequest): Promise<T> {
    const context = new RequestContext(
      `${this.server.replace(/\/+$/, '')}${req.path}`,
      HttpMethod[req.method],
    );
    for (const [key, value] of Object.entries(req.query ?? {})) {
      if (value !== undefined) context.setQueryParam(key, value);
    }
    // Sets the Authorization header (or client certificate) and the TLS agent.
    await config.applySecurityAuthentication(context);
    context.setHeaderParam('Accept', 'application/json');
    if (req.body !== undefined) {
      context.setHeaderParam(
        'Content-Type',
        req.contentType ?? 'application/json',
      );
      context.setBody(JSON.stringify(req.body));
    }
    const timeout = AbortSignal.timeout(this.requestTimeoutMs);
    context.setSignal(
      req.signal ? AbortSignal.any([req.signal, timeout]) : timeout,
    );

    let status: number;
    let headers: Record<string, string>;
    let text: string;
    try {
      const response = await http.send(context).toPromise();
      status = response.httpStatusCode;
      headers = response.headers;
      text = await response.body.text();
    } catch (error) {
      if (timeout.aborted && !req.signal?.aborted) {
        throw new RequestTimeoutError(
          req.method,
          req.path,
          this.requestTimeoutMs,
        );
      }
      if (req.signal?.aborted) req.signal.throwIfAborted();
      throw error;
    }
    const body = parseBody(text);
    if (req.warnings && headers.warning) {
      req.warnings.push(...warningTexts(headers.warning));
    }
    if (status >= 400) {
      const message =
        body && typeof body === 'object' && 'message' in body
          ? String((body as { message: unknown }).message)
          : `HTTP ${status}`;
      throw new ApiException(status, message, body, headers);
    }
    return body as T;
  }

  private async resourceFor(
    config: KubeConfig,
    apiVersion: string,
    kind: string,
  ): Promise<ResourceInfo | undefined> {
    const find = (resources: V1APIResource[]) =>
      resources.find(r => r.kind === kind && !r.name.includes('/'));
    const cached = this.discovery.get(apiVersion);
    let found = cached && find(cached.resources);
    // Look again at most every 10 s: a CRD may have been installed since.
    if (!found && (!cached || Date.now() - cached.fetchedAt > 10_000)) {
      let list: { resources?: V1APIResource[] } | undefined;
      try {
        list = await this.send(config, {
          method: 'GET',
          path: apiVersionPath(apiVersion),
        });
      } catch (error) {
        if (!(error instanceof ApiException && error.code === 404)) throw error;
      }
      const resources = list?.resources ?? [];
      this.discovery.set(apiVersion, { fetchedAt: Date.now(), resources });
      found = find(resources);
    }
    if (!found) return undefined;
    return {
      resource: found.name,
      group: apiVersion.includes('/') ? apiVersion.split('/')[0] : '',
      namespaced: found.namespaced,
    };
  }
}

/**
 * The texts of `Warning` header values (RFC 7234: `299 - "text"`; several
 * headers arrive joined by ", ").
 */
export function warningTexts(header: string): string[] {
  const texts: string[] = [];
  for (const match of header.matchAll(/\d{3} \S+ "((?:[^"\\]|\\.)*)"/g)) {
    texts.push(match[1].replace(/\\(.)/g, '$1'));
  }
  return texts;
}

function describe(error: unknown): string {
  if (error instanceof ApiException) return `HTTP ${error.code}`;
  const e = error as { code?: string; name?: string };
  return e?.code ?? e?.name ?? 'error';
}

function buildBaseConfig(target: ClusterTarget): KubeConfig {
  const where = `Environment "${target.name}"`;
  if (target.serviceAccountToken && target.serviceAccountTokenFile) {
    throw new Error(
      `${where}: set serviceAccountToken or serviceAccountTokenFile, not both`,
    );
  }
  const kc = new KubeConfig();
  if (target.clusterName && !target.url) {
    throw new Error(
      `${where}: cluster "${target.clusterName}" ${
        target.unlocated ?? 'is not located yet'
      }`,
    );
  }
  if (target.url) {
    if (
      !target.serviceAccountToken &&
      !target.serviceAccountTokenFile &&
      !target.credentials
    ) {
      throw new Error(
        `${where}: cluster.url needs serviceAccountToken or serviceAccountTokenFile`,
      );
    }
    kc.loadFromOptions({
      clusters: [
        {
          name: target.name,
          server: target.url,
          caData: target.caData,
          skipTLSVerify: target.skipTLSVerify ?? false,
        },
      ],
      // The token of a token file is filled in per batch.
      users: [{ name: target.name, token: target.serviceAccountToken }],
      contexts: [
        {
          name: target.name,
          cluster: target.name,
          user: target.name,
          namespace: target.namespace,
        },
      ],
      currentContext: target.name,
    });
    return kc;
  }
  if (!target.kubeconfigPath && !target.kubeconfigContext) {
    throw new Error(
      `${where}: set cluster.url (with a ServiceAccount token) or kubeconfigPath / kubeconfigContext`,
    );
  }
  if (target.kubeconfigPath) kc.loadFromFile(target.kubeconfigPath);
  else kc.loadFromDefault();
  if (target.kubeconfigContext) {
    if (!kc.getContextObject(target.kubeconfigContext)) {
      throw new Error(
        `${where}: kubeconfig has no context "${target.kubeconfigContext}"`,
      );
    }
    kc.setCurrentContext(target.kubeconfigContext);
  }
  if (target.skipTLSVerify || target.caData) {
    const cluster = kc.getCurrentCluster();
    if (cluster) {
      kc.loadFromClusterAndUser(
        {
          ...cluster,
          caData: target.caData ?? cluster.caData,
          caFile: target.caData ? undefined : cluster.caFile,
          skipTLSVerify: target.skipTLSVerify ?? cluster.skipTLSVerify,
        },
        kc.getCurrentUser() ?? { name: 'anonymous' },
      );
    }
  }
  if (target.serviceAccountToken) {
    return withToken(kc, target.serviceAccountToken);
  }
  return kc;
}

/** The same cluster as `kc`, authenticated with a bearer token only. */
function withToken(kc: KubeConfig, token: string): KubeConfig {
  return withCredential(kc, { type: 'bearer token', token });
}

/** The same cluster as `kc`, authenticated with one credential of an auth strategy. */
function withCredential(
  kc: KubeConfig,
  credential: KubernetesCredential,
): KubeConfig {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('no cluster in the kubeconfig context');
  const next = new KubeConfig();
  next.loadFromClusterAndUser(cluster, userFor(credential));
  return next;
}

function userFor(credential: KubernetesCredential) {
  switch (credential.type) {
    case 'bearer token':
      return { name: 'kube-delivery', token: credential.token };
    case 'x509 client certificate':
      return {
        name: 'kube-delivery',
        certData: Buffer.from(credential.cert).toString('base64'),
        keyData: Buffer.from(credential.key).toString('base64'),
      };
    default:
      return { name: 'anonymous' };
  }
}
