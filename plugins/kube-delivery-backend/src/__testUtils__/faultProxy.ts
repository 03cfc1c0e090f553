import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { DevCluster } from '@internal/devcluster';

/**
 * What the proxy does to one request instead of forwarding it:
 * - `status`: answers like an API server that is throttling (429 with
 *   Retry-After) or failing (500, 503, 504 is its own request timeout);
 * - `reset`: closes the connection without an answer;
 * - `hang`: never answers, until the client gives up.
 */
export type Fault =
  | {
      kind: 'status';
      code: 429 | 500 | 502 | 503 | 504;
      retryAfterSeconds?: number;
    }
  | { kind: 'reset' }
  | { kind: 'hang' };

export interface ProxiedRequest {
  method: string;
  /** Path and query, e.g. /apis/apps/v1/namespaces/dev/deployments/x?dryRun=All */
  url: string;
  /** The fault injected instead of forwarding, if any. */
  fault?: string;
  /** The upstream answer's status when forwarded. */
  status?: number;
}

export interface FaultProxy {
  /** https://127.0.0.1:<port> */
  url: string;
  /** base64 PEM of the proxy's own self-signed certificate, for clients' caData. */
  caData: string;
  /** Every request received, in order. */
  readonly requests: ProxiedRequest[];
  /** Decides per request: a fault, or undefined to forward it. Default: forward all. */
  faults: (request: { method: string; url: string }) => Fault | undefined;
  /** The cluster as seen through the proxy: same tokens, the proxy's URL and CA. */
  cluster: DevCluster;
  close(): Promise<void>;
}

const REASONS: Record<number, string> = {
  429: 'TooManyRequests',
  500: 'InternalError',
  502: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

/** A throwaway self-signed certificate for 127.0.0.1 (openssl, as CI installs it). */
function selfSignedCertificate(): { cert: string; key: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kd-fault-proxy-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=kube-delivery fault proxy',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        path.join(dir, 'key.pem'),
        '-out',
        path.join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    return {
      cert: fs.readFileSync(path.join(dir, 'cert.pem'), 'utf8'),
      key: fs.readFileSync(path.join(dir, 'key.pem'), 'utf8'),
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * An HTTPS proxy in front of a devcluster's API server that records every
 * request and injects the faults `faults` picks: the cluster client talks to
 * it exactly as to the API server (TLS, bearer token), so retries, watches
 * and error handling are the production code's.
 */
export async function startFaultProxy(
  upstream: DevCluster,
): Promise<FaultProxy> {
  const { cert, key } = selfSignedCertificate();
  const target = new URL(upstream.server);
  const upstreamCa = Buffer.from(upstream.caData, 'base64');
  const sockets = new Set<Socket>();
  const requests: ProxiedRequest[] = [];
  let faults: FaultProxy['faults'] = () => undefined;

  const server = https.createServer({ cert, key }, (req, res) => {
    const record: ProxiedRequest = { method: req.method!, url: req.url! };
    requests.push(record);
    const fault = faults({ method: record.method, url: record.url });
    if (fault?.kind === 'reset') {
      record.fault = 'reset';
      req.socket.destroy();
      return;
    }
    if (fault?.kind === 'hang') {
      record.fault = 'hang';
      return; // the client's timeout closes the connection
    }
    if (fault?.kind === 'status') {
      record.fault = String(fault.code);
      res.writeHead(fault.code, {
        'Content-Type': 'application/json',
        ...(fault.retryAfterSeconds !== undefined && {
          'Retry-After': String(fault.retryAfterSeconds),
        }),
      });
      res.end(
        JSON.stringify({
          kind: 'Status',
          apiVersion: 'v1',
          status: 'Failure',
          message: `injected by the fault proxy: ${REASONS[fault.code]}`,
          reason: REASONS[fault.code],
          code: fault.code,
        }),
      );
      return;
    }
    const forward = https.request(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: target.host },
        ca: upstreamCa,
        agent: false,
      },
      answer => {
        record.status = answer.statusCode;
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    // The API server went away: the client sees its connection dropped, as it would.
    forward.on('error', () => req.socket.destroy());
    // The client went away (or the proxy closes): so does the upstream request, e.g. a watch.
    res.on('close', () => forward.destroy());
    req.pipe(forward);
  });
  server.on('connection', socket => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const url = `https://127.0.0.1:${port}`;
  const caData = Buffer.from(cert).toString('base64');

  return {
    url,
    caData,
    requests,
    get faults() {
      return faults;
    },
    set faults(decide) {
      faults = decide;
    },
    cluster: { ...upstream, server: url, caData },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise(resolve => server.close(resolve));
    },
  };
}
