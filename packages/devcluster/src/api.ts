import type { IncomingHttpHeaders } from 'http';
import * as https from 'https';
import type { DevCluster } from './cluster';

export interface KubeApiRequest {
  method?: string;
  /** e.g. /apis/apps/v1/namespaces/dev/deployments */
  path: string;
  /** Bearer token, e.g. cluster.tokens.dev; or a client certificate instead. */
  token?: string;
  /** PEM client certificate and key (e.g. the admin's, as the pod runner uses them). */
  clientCertificate?: { cert: Buffer; key: Buffer };
  body?: unknown;
  contentType?: string;
}

export interface KubeApiResponse {
  status: number;
  body: any;
  headers: IncomingHttpHeaders;
  /** The texts of the API server's `Warning: 299 - "<text>"` headers (e.g. PodSecurity's). */
  warnings: string[];
}

/** The text of one `Warning` header as the API server sends it: `299 - "<quoted text>"`. */
export function warningText(header: string): string {
  const match = /^\d{3} \S+ "((?:[^"\\]|\\.)*)"/.exec(header);
  return match ? match[1].replace(/\\(.)/g, '$1') : header;
}

/** One request to the cluster's API server as the holder of `token`. */
export function kubeApiRequest(
  cluster: Pick<DevCluster, 'server' | 'caData'>,
  request: KubeApiRequest,
): Promise<KubeApiResponse> {
  const url = new URL(request.path, cluster.server);
  const payload =
    request.body === undefined
      ? undefined
      : Buffer.from(JSON.stringify(request.body));
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      {
        method: request.method ?? 'GET',
        // Own connection, not the global agent (which test setups may replace).
        agent: false,
        ca: cluster.caData ? Buffer.from(cluster.caData, 'base64') : undefined,
        cert: request.clientCertificate?.cert,
        key: request.clientCertificate?.key,
        headers: {
          ...(request.token && { Authorization: `Bearer ${request.token}` }),
          Accept: 'application/json',
          ...(payload
            ? {
                'Content-Type': request.contentType ?? 'application/json',
                'Content-Length': payload.length,
              }
            : {}),
        },
        timeout: 30000,
      },
      res => {
        const chunks: Buffer[] = [];
        res.on('data', c => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: any = text;
          try {
            body = JSON.parse(text);
          } catch {
            // not JSON
          }
          resolve({
            status: res.statusCode ?? 0,
            body,
            headers: res.headers,
            warnings: (res.headersDistinct.warning ?? []).map(warningText),
          });
        });
      },
    );
    req.on('timeout', () =>
      req.destroy(new Error(`request to ${url} timed out`)),
    );
    req.on('error', reject);
    req.end(payload);
  });
}
