import * as fs from 'fs';
import * as http from 'http';
import * as https from 'https';
import { kubeApiRequest } from './api';
import { SERVE_ANNOTATION } from './versions';

/*
 * The pod runner: the kubelet of pods annotated `devcluster.kube-delivery.io/serve: "true"`.
 *
 * kwok gives such a pod an IP and phase Running but leaves it unready (kwok/pod-serve.yaml).
 * The runner then listens on podIP:containerPort for each TCP port (an HTTP echo of the
 * pod's name, its version label and the request's headers) and only then marks the pod
 * Ready. When the pod is deleted it keeps serving through the containers' preStop sleep
 * (bounded by the termination grace period), stops listening as an application that got
 * SIGTERM does, and deletes the pod object. So endpoint changes race with the proxy as
 * they do on a real node. Pod IPs are reachable because `up` makes the pod CIDR local
 * (`ip route add local <pod CIDR> dev lo`).
 */

export interface PodRunnerOptions {
  server: string;
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
  /** 127.0.0.1 port of /healthz and /pods. */
  healthPort: number;
  log?: (message: string) => void;
}

interface Container {
  name: string;
  ports?: Array<{ containerPort: number; protocol?: string; name?: string }>;
  lifecycle?: {
    preStop?: { sleep?: { seconds?: number }; exec?: { command?: string[] } };
  };
}

interface Pod {
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    deletionTimestamp?: string;
    deletionGracePeriodSeconds?: number;
    resourceVersion?: string;
  };
  spec: { containers: Container[]; terminationGracePeriodSeconds?: number };
  status?: {
    phase?: string;
    podIP?: string;
    conditions?: Array<{ type: string; status: string }>;
  };
}

interface ServedPod {
  namespace: string;
  name: string;
  uid: string;
  ip: string;
  ports: number[];
  servers: http.Server[];
  state: 'starting' | 'serving' | 'terminating' | 'stopped';
  requests: number;
}

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

/** The version a pod reports: its `version` label, else `app.kubernetes.io/version`. */
export function podVersion(pod: Pick<Pod, 'metadata'>): string {
  const labels = pod.metadata.labels ?? {};
  return labels.version ?? labels['app.kubernetes.io/version'] ?? '';
}

/**
 * Seconds the containers' preStop hooks sleep before the application is told to stop:
 * the `sleep` action, or an exec of `sleep <n>` (directly or through `sh -c`).
 */
export function preStopSeconds(containers: Container[]): number {
  let longest = 0;
  for (const container of containers) {
    const preStop = container.lifecycle?.preStop;
    let seconds = preStop?.sleep?.seconds ?? 0;
    const command = preStop?.exec?.command?.join(' ') ?? '';
    const match = /(?:^|\s|;|&&)sleep\s+(\d+(?:\.\d+)?)/.exec(command);
    if (match) seconds = Math.max(seconds, Number(match[1]));
    longest = Math.max(longest, seconds);
  }
  return longest;
}

/** TCP ports the pod's containers declare. */
function tcpPorts(pod: Pod): number[] {
  const ports = new Set<number>();
  for (const container of pod.spec.containers ?? []) {
    for (const port of container.ports ?? []) {
      if ((port.protocol ?? 'TCP') === 'TCP') ports.add(port.containerPort);
    }
  }
  return [...ports];
}

export class PodRunner {
  private readonly pods = new Map<string, ServedPod>();
  private readonly log: (message: string) => void;
  private listed = false;
  private stopped = false;
  private health?: http.Server;
  private watchRequest?: http.ClientRequest;

  constructor(private readonly options: PodRunnerOptions) {
    this.log = options.log ?? (() => {});
  }

  async start(): Promise<void> {
    this.health = http.createServer((req, res) => {
      if (req.url === '/healthz') {
        res
          .writeHead(this.listed ? 200 : 503)
          .end(this.listed ? 'ok' : 'listing pods');
        return;
      }
      if (req.url === '/pods') {
        res.setHeader('content-type', 'application/json');
        res.end(
          JSON.stringify(
            [...this.pods.values()].map(({ servers, ...served }) => served),
          ),
        );
        return;
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve, reject) => {
      this.health!.once('error', reject);
      this.health!.listen(this.options.healthPort, '127.0.0.1', resolve);
    });
    void this.watchLoop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.watchRequest?.destroy();
    await Promise.all(
      [...this.pods.values()].map(served => this.closeServers(served, 0)),
    );
    await new Promise(resolve => this.health?.close(resolve));
  }

  private request(
    method: string,
    path: string,
    body?: unknown,
    contentType?: string,
  ): Promise<{ status: number; body: any }> {
    return kubeApiRequest(
      {
        server: this.options.server,
        caData: this.options.ca.toString('base64'),
      },
      {
        method,
        path,
        body,
        contentType,
        clientCertificate: { cert: this.options.cert, key: this.options.key },
      },
    );
  }

  /** List, then watch from the list's resourceVersion; on any break, list again. */
  private async watchLoop(): Promise<void> {
    while (!this.stopped) {
      try {
        const list = await this.request('GET', '/api/v1/pods');
        if (list.status !== 200) throw new Error(`list pods: ${list.status}`);
        const seen = new Set<string>();
        for (const pod of list.body.items as Pod[]) {
          seen.add(pod.metadata.uid);
          this.reconcile(pod, false);
        }
        for (const served of this.pods.values()) {
          if (!seen.has(served.uid)) void this.closeServers(served, 0);
        }
        this.listed = true;
        await this.watch(list.body.metadata.resourceVersion);
      } catch (e) {
        if (!this.stopped) this.log(`watch of pods broke: ${e}; listing again`);
      }
      if (!this.stopped) await sleep(500);
    }
  }

  private watch(resourceVersion: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const req = https.request(
        new URL(
          `/api/v1/pods?watch=true&resourceVersion=${resourceVersion}&timeoutSeconds=300`,
          this.options.server,
        ),
        {
          agent: false,
          ca: this.options.ca,
          cert: this.options.cert,
          key: this.options.key,
          headers: { Accept: 'application/json' },
        },
        res => {
          if (res.statusCode !== 200) {
            res.resume();
            reject(new Error(`watch pods: ${res.statusCode}`));
            return;
          }
          let buffered = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            buffered += chunk;
            let newline = buffered.indexOf('\n');
            while (newline >= 0) {
              const line = buffered.slice(0, newline);
              buffered = buffered.slice(newline + 1);
              newline = buffered.indexOf('\n');
              if (!line.trim()) continue;
              const event = JSON.parse(line);
              if (event.type === 'ERROR') {
                req.destroy();
                reject(new Error(`watch error: ${event.object?.message}`));
                return;
              }
              this.reconcile(event.object, event.type === 'DELETED');
            }
          });
          res.on('end', resolve);
          res.on('error', reject);
        },
      );
      this.watchRequest = req;
      req.on('error', reject);
      req.end();
    });
  }

  private reconcile(pod: Pod, deleted: boolean): void {
    if (pod.metadata.annotations?.[SERVE_ANNOTATION] !== 'true') return;
    const served = this.pods.get(pod.metadata.uid);
    if (deleted) {
      if (served) void this.closeServers(served, 0);
      return;
    }
    if (pod.metadata.deletionTimestamp) {
      if (
        served &&
        served.state !== 'terminating' &&
        served.state !== 'stopped'
      ) {
        void this.terminate(pod, served);
      } else if (!served) {
        void this.deletePod(pod); // nothing serves it: a kubelet would finish at once
      }
      return;
    }
    if (served) {
      // A status write that failed (or was overwritten) is made again.
      const ready = pod.status?.conditions?.some(
        c => c.type === 'Ready' && c.status === 'True',
      );
      if (served.state === 'serving' && !ready) {
        void this.markReady(pod).catch(e =>
          this.log(
            `${served.namespace}/${served.name}: marking Ready failed: ${e}`,
          ),
        );
      }
      return;
    }
    if (pod.status?.phase !== 'Running' || !pod.status.podIP) return;
    void this.serve(pod);
  }

  private async serve(pod: Pod): Promise<void> {
    const served: ServedPod = {
      namespace: pod.metadata.namespace,
      name: pod.metadata.name,
      uid: pod.metadata.uid,
      ip: pod.status!.podIP!,
      ports: tcpPorts(pod),
      servers: [],
      state: 'starting',
      requests: 0,
    };
    this.pods.set(served.uid, served);
    const version = podVersion(pod);
    for (const port of served.ports) {
      const server = http.createServer((req, res) => {
        served.requests++;
        const body = JSON.stringify({
          pod: served.name,
          namespace: served.namespace,
          version,
          path: req.url,
          headers: req.headers,
        });
        res.writeHead(200, {
          'content-type': 'application/json',
          'x-pod-name': served.name,
          'x-pod-version': version,
        });
        res.end(`${body}\n`);
      });
      server.keepAliveTimeout = 5000;
      served.servers.push(server);
      // The address can still be held by a pod that had this IP and is shutting down.
      for (let attempt = 1; ; attempt++) {
        try {
          await new Promise<void>((resolve, reject) => {
            server.once('error', reject);
            server.listen(port, served.ip, () => {
              server.off('error', reject);
              resolve();
            });
          });
          break;
        } catch (e: any) {
          if (served.state !== 'starting') return;
          if (attempt >= 150) {
            this.log(
              `${served.namespace}/${served.name}: cannot listen on ${served.ip}:${port}: ${e.message}`,
            );
            return;
          }
          await sleep(200);
        }
      }
    }
    if (served.state !== 'starting') {
      await this.closeServers(served, 0);
      return;
    }
    served.state = 'serving';
    await this.markReady(pod).catch(e =>
      this.log(
        `${served.namespace}/${served.name}: marking Ready failed: ${e}`,
      ),
    );
  }

  private async markReady(pod: Pod): Promise<void> {
    const now = new Date().toISOString();
    const condition = (type: string) => ({
      type,
      status: 'True',
      lastTransitionTime: now,
      reason: null,
      message: null,
    });
    const result = await this.request(
      'PATCH',
      `/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}/status`,
      {
        metadata: { uid: pod.metadata.uid },
        status: {
          conditions: [condition('Ready'), condition('ContainersReady')],
          containerStatuses: pod.spec.containers.map(c => ({
            name: c.name,
            ready: true,
          })),
        },
      },
      'application/strategic-merge-patch+json',
    );
    if (result.status !== 200) {
      throw new Error(`${result.status} ${result.body?.message ?? ''}`);
    }
  }

  /** SIGTERM after the preStop sleep, then the pod object goes, as a kubelet does it. */
  private async terminate(pod: Pod, served: ServedPod): Promise<void> {
    served.state = 'terminating';
    const grace =
      pod.metadata.deletionGracePeriodSeconds ??
      pod.spec.terminationGracePeriodSeconds ??
      30;
    const preStop = Math.min(preStopSeconds(pod.spec.containers), grace);
    await sleep(preStop * 1000);
    await this.closeServers(served, Math.max(grace - preStop, 0) * 1000);
    await this.deletePod(pod);
  }

  /** Stops listening; in-flight requests get until `drainMs`, then their connections are cut. */
  private async closeServers(
    served: ServedPod,
    drainMs: number,
  ): Promise<void> {
    served.state = 'stopped';
    this.pods.delete(served.uid);
    await Promise.all(
      served.servers.map(
        server =>
          new Promise<void>(resolve => {
            if (!server.listening) {
              resolve();
              return;
            }
            const cut = setTimeout(() => server.closeAllConnections(), drainMs);
            server.close(() => {
              clearTimeout(cut);
              resolve();
            });
            server.closeIdleConnections();
          }),
      ),
    );
  }

  private async deletePod(pod: Pod): Promise<void> {
    const result = await this.request(
      'DELETE',
      `/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}`,
      { gracePeriodSeconds: 0, preconditions: { uid: pod.metadata.uid } },
    ).catch(e => ({ status: 0, body: { message: String(e) } }));
    if (![200, 404, 409].includes(result.status)) {
      this.log(
        `${pod.metadata.namespace}/${pod.metadata.name}: delete failed: ${
          result.status
        } ${result.body?.message ?? ''}`,
      );
    }
  }
}

/** `devcluster pod-runner <options.json>`: runs until SIGTERM. */
export async function runPodRunner(optionsFile: string): Promise<never> {
  const raw = JSON.parse(fs.readFileSync(optionsFile, 'utf8'));
  const runner = new PodRunner({
    server: raw.server,
    ca: fs.readFileSync(raw.caFile),
    cert: fs.readFileSync(raw.certFile),
    key: fs.readFileSync(raw.keyFile),
    healthPort: raw.healthPort,
    log: message => console.log(`${new Date().toISOString()} ${message}`),
  });
  await runner.start();
  console.log(
    `${new Date().toISOString()} pod runner serving on :${raw.healthPort}`,
  );
  return new Promise<never>(() => {
    const exit = () =>
      runner.stop().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    process.once('SIGTERM', exit);
    process.once('SIGINT', exit);
  });
}
