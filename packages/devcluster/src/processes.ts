import { spawn } from 'child_process';
import * as fs from 'fs';
import * as https from 'https';
import * as http from 'http';
import * as net from 'net';

export interface ComponentState {
  name: string;
  pid: number;
  port: number;
  /** URL of the health endpoint (etcd /health, apiserver /readyz, others /healthz). */
  healthUrl: string;
  binary: string;
  log: string;
  /** Command-line arguments, so the component can be started again (see startDevClusterComponent). */
  args?: string[];
  /** Environment variables it is started with besides this process's (e.g. KUBECONFIG). */
  env?: Record<string, string>;
}

/** Asks the kernel for a free port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address() as net.AddressInfo;
      server.close(() => resolve(address.port));
    });
  });
}

/** Distinct free ports. */
export async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

/**
 * Starts a process detached from this one: its own session and process group, output
 * appended to `log`, so it outlives the CLI.
 */
export function spawnDetached(
  binary: string,
  args: string[],
  log: string,
  env: NodeJS.ProcessEnv = process.env,
): number {
  const fd = fs.openSync(log, 'a');
  fs.writeSync(
    fd,
    `\n==== ${new Date().toISOString()} ${binary} ${args.join(' ')}\n`,
  );
  const child = spawn(binary, args, {
    detached: true,
    stdio: ['ignore', fd, fd],
    env,
  });
  fs.closeSync(fd);
  child.on('error', () => {});
  child.unref();
  if (!child.pid) throw new Error(`could not start ${binary}`);
  return child.pid;
}

/** True if pid is a live (non-zombie) process running `binary`. */
export function isRunning(pid: number, binary?: string): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    if (state === 'Z' || state === 'X') return false;
    if (binary) {
      const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      return cmdline.split('\0')[0] === binary;
    }
    return true;
  } catch {
    return false;
  }
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch {
    return false;
  }
  // kill(-pgid, 0) also succeeds for zombies; look for a live member.
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid && fields[0] !== 'Z') return true;
    } catch {
      // raced with exit
    }
  }
  return false;
}

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

/** SIGTERM the process group, then SIGKILL whatever is left after `graceMs`. */
export async function killGroup(pgid: number, graceMs = 10000): Promise<void> {
  try {
    process.kill(-pgid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!groupAlive(pgid)) return;
    await sleep(100);
  }
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    return;
  }
  while (groupAlive(pgid)) await sleep(100);
}

/** GET url; resolves the status code (0 when the connection fails), body and headers. */
export function httpStatus(
  url: string,
  options: {
    ca?: Buffer;
    cert?: Buffer;
    key?: Buffer;
    timeoutMs?: number;
    headers?: Record<string, string>;
  } = {},
): Promise<{
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}> {
  return new Promise(resolve => {
    const u = new URL(url);
    const mod = u.protocol === 'https:' ? https : http;
    const req = mod.get(
      u,
      {
        agent: false,
        ca: options.ca,
        cert: options.cert,
        key: options.key,
        headers: options.headers,
        timeout: options.timeoutMs ?? 3000,
      } as https.RequestOptions,
      res => {
        const chunks: Buffer[] = [];
        res.on('data', c => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString('utf8'),
            headers: res.headers,
          }),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ status: 0, body: '', headers: {} }));
  });
}

export function tail(file: string, lines = 25): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** Polls the component's health URL until it answers 200, or fails with its log tail. */
export async function waitHealthy(
  component: ComponentState,
  ca: Buffer | undefined,
  timeoutMs = 120000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: { status: number; body: string } = { status: 0, body: '' };
  while (Date.now() < deadline) {
    if (!isRunning(component.pid)) {
      throw new Error(
        `${component.name} exited while starting; last lines of ${
          component.log
        }:\n${tail(component.log)}`,
      );
    }
    last = await httpStatus(component.healthUrl, { ca });
    if (last.status === 200) return;
    await sleep(250);
  }
  throw new Error(
    `${component.name} did not become healthy at ${
      component.healthUrl
    } within ${timeoutMs / 1000}s (last status ${last.status} ${last.body.slice(
      0,
      500,
    )}); last lines of ${component.log}:\n${tail(component.log)}`,
  );
}
