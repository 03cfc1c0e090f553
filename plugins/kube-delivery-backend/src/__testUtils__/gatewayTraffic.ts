/**
 * Real HTTP requests through the devcluster's Gateway API proxy (Traefik) to pods the
 * pod runner serves: each answer names the pod and the version that served it.
 */
import {
  environmentGateway,
  requireDataPlane,
  SERVED_POD_ANNOTATIONS,
  type DevCluster,
} from '@internal/devcluster';
import http from 'node:http';

export interface GatewayAnswer {
  status: number;
  /** The pod that answered, from the pod runner's echo. */
  pod?: string;
  version?: string;
  /** Connection error or timeout. */
  error?: string;
  /** The proxy's body when it is not the echo (e.g. "no available server"). */
  body?: string;
}

/** Sends requests for `host` to the gateway, on keep-alive connections. */
export class GatewayClient {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  private readonly url: URL;

  constructor(cluster: DevCluster) {
    this.url = new URL(requireDataPlane(cluster).httpUrl);
  }

  get(
    host: string,
    headers: Record<string, string> = {},
    path = '/',
  ): Promise<GatewayAnswer> {
    return new Promise(resolve => {
      const req = http.get(
        {
          host: this.url.hostname,
          port: this.url.port || 80,
          path,
          agent: this.agent,
          headers: { ...headers, host },
          timeout: 10_000,
        },
        res => {
          const chunks: Buffer[] = [];
          res.on('data', c => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const pod = res.headers['x-pod-name'];
            if (typeof pod === 'string') {
              resolve({
                status: res.statusCode ?? 0,
                pod,
                version: String(res.headers['x-pod-version'] ?? ''),
              });
            } else {
              resolve({
                status: res.statusCode ?? 0,
                body: text.slice(0, 200),
              });
            }
          });
          res.on('error', e => resolve({ status: 0, error: e.message }));
        },
      );
      req.on('timeout', () => req.destroy(new Error('timed out after 10 s')));
      req.on('error', e => resolve({ status: 0, error: e.message }));
    });
  }

  close() {
    this.agent.destroy();
  }
}

/** A request that failed: when (ms since the load started), and how. */
export interface FailedRequest {
  atMs: number;
  status: number;
  error?: string;
  body?: string;
}

export interface LoadFigures {
  sent: number;
  ok: number;
  failed: number;
  failures: FailedRequest[];
  /** Answers per version. */
  versions: Record<string, number>;
  /** The longest stretch (ms) from a failed request to the next successful one, 0 without failures. */
  longestOutageMs: number;
  seconds: number;
}

/**
 * Continuous traffic: `rps` requests per second for `host` with the given headers
 * until `stop()`, which waits for the requests in flight and returns the figures.
 */
export function startLoad(options: {
  client: GatewayClient;
  host: string;
  headers?: Record<string, string>;
  rps?: number;
}) {
  const rps = options.rps ?? 50;
  const started = Date.now();
  const inFlight = new Set<Promise<void>>();
  const answers: Array<{ atMs: number; answer: GatewayAnswer }> = [];
  const timer = setInterval(() => {
    const atMs = Date.now() - started;
    const done = options.client
      .get(options.host, options.headers ?? {})
      .then(answer => {
        answers.push({ atMs, answer });
      });
    inFlight.add(done);
    void done.then(() => inFlight.delete(done));
  }, 1000 / rps);
  return {
    /** Answers so far (e.g. to wait for a version). */
    answers,
    async stop(): Promise<LoadFigures> {
      clearInterval(timer);
      await Promise.all(inFlight);
      answers.sort((a, b) => a.atMs - b.atMs);
      const versions: Record<string, number> = {};
      const failures: FailedRequest[] = [];
      let outageStart: number | undefined;
      let longestOutageMs = 0;
      for (const { atMs, answer } of answers) {
        if (answer.status === 200 && answer.pod) {
          versions[answer.version ?? ''] =
            (versions[answer.version ?? ''] ?? 0) + 1;
          if (outageStart !== undefined) {
            longestOutageMs = Math.max(longestOutageMs, atMs - outageStart);
            outageStart = undefined;
          }
        } else {
          failures.push({ atMs, ...answer });
          outageStart ??= atMs;
        }
      }
      if (outageStart !== undefined) {
        longestOutageMs = Math.max(
          longestOutageMs,
          Date.now() - started - outageStart,
        );
      }
      return {
        sent: answers.length,
        ok: answers.length - failures.length,
        failed: failures.length,
        failures,
        versions,
        longestOutageMs,
        seconds: Math.round((Date.now() - started) / 100) / 10,
      };
    },
  };
}

/** Polls until `check` holds, or throws with `what` after `timeoutMs`. */
export async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise(resolve => setTimeout(resolve, 200));
  }
}

/** The dev Gateway served by Traefik, as an environment's `gateway` config names it. */
export const TRAEFIK_DEV_GATEWAY = {
  ...environmentGateway('dev'),
  hosts: ['dev.boutique.example', '*.dev.boutique.example'],
};

/**
 * The boutique frontend's manifest with its pods served by the pod runner (an HTTP
 * echo on 8080), so requests through the gateway reach a process.
 */
export function servedManifest(manifest: string): string {
  const [key, value] = Object.entries(SERVED_POD_ANNOTATIONS)[0];
  const served = manifest.replace(
    /(\n {2}template:\n {4}metadata:\n)/,
    `$1      annotations:\n        ${key}: "${value}"\n`,
  );
  if (served === manifest) {
    throw new Error('The manifest has no pod template metadata to annotate');
  }
  return served;
}
