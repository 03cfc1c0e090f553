import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse, stringify } from 'yaml';
import type { E2eGateway } from './gateway';
import { poll } from './poll';

/** The repository root (this file is packages/e2e-tests/src/backend.ts). */
// These tests always run from source in the repository, never bundled.
// eslint-disable-next-line no-restricted-syntax
export const REPO_ROOT = path.resolve(__dirname, '../../..');
const BACKEND_DIR = path.join(REPO_ROOT, 'packages/backend');
const APP_INDEX = path.join(REPO_ROOT, 'packages/app/dist/index.html');
const READY_TIMEOUT_MS = 180_000;

/** The real backend (packages/backend) serving the built app, as a child process. */
export interface E2eBackend {
  /** e.g. http://localhost:40123; the app and the API are both served here. */
  baseUrl: string;
  /** The static external-access token the backend accepts (a CI token). */
  token: string;
  /** The backend's log, for failures. */
  logPath: string;
  /** Calls the backend's API with the CI token; throws with the answer's body on a non-2xx status. */
  request<T = unknown>(
    method: string,
    apiPath: string,
    body?: unknown,
  ): Promise<T>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise(resolve => server.close(resolve));
  return port;
}

/** What the built app is made of: a build older than any of these is stale. */
const APP_SOURCES = [
  'packages/app/src',
  'packages/app/package.json',
  'plugins/kube-delivery/src',
  'plugins/kube-delivery/package.json',
  'plugins/kube-delivery-common/src',
  'yarn.lock',
].map(p => path.join(REPO_ROOT, p));

/** The newest modification time of a file or of any file under a directory. */
function newestChange(file: string): number {
  const stat = fs.statSync(file);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return fs
    .readdirSync(file)
    .reduce(
      (newest, entry) => Math.max(newest, newestChange(path.join(file, entry))),
      stat.mtimeMs,
    );
}

let appBuild: Promise<void> | undefined;

/**
 * Builds packages/app (`yarn workspace app build`) when its dist is missing or
 * older than its sources, so the browser never tests yesterday's app.
 */
export function ensureAppBuilt(): Promise<void> {
  appBuild ??= (async () => {
    const built = fs.existsSync(APP_INDEX) ? fs.statSync(APP_INDEX).mtimeMs : 0;
    const sources = Math.max(...APP_SOURCES.map(newestChange));
    if (built >= sources) return;
    const yarnrc = fs.readFileSync(path.join(REPO_ROOT, '.yarnrc.yml'), 'utf8');
    const yarnPath = /^yarnPath:\s*(\S+)/m.exec(yarnrc)?.[1];
    if (!yarnPath) throw new Error('.yarnrc.yml names no yarnPath');
    // eslint-disable-next-line no-console
    console.log(
      built
        ? 'packages/app/dist is older than its sources: building the app'
        : 'packages/app/dist is missing: building the app',
    );
    try {
      await promisify(execFile)(
        process.execPath,
        [path.join(REPO_ROOT, yarnPath), 'workspace', 'app', 'build'],
        {
          cwd: REPO_ROOT,
          maxBuffer: 64 * 1024 * 1024,
          // Not Jest's NODE_ENV=test: the app's browserslist has no "test"
          // environment, and Rspack refuses the query it falls back to.
          env: { ...process.env, NODE_ENV: 'production' },
        },
      );
    } catch (e) {
      appBuild = undefined;
      throw new Error(
        `\`yarn workspace app build\` failed; run it to see why: ${
          (e as Error).message
        }`,
      );
    }
  })();
  return appBuild;
}

/** The kubeDelivery environments of the running devcluster (tokens stay in files). */
async function devClusterConfig(): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        path.join(REPO_ROOT, 'packages/devcluster/bin/devcluster'),
        'app-config',
      ],
      { cwd: REPO_ROOT },
    );
    return stdout;
  } catch (e) {
    throw new Error(
      `The local control plane is needed: start it with \`yarn devcluster up\` (devcluster app-config failed: ${
        (e as Error).message
      })`,
    );
  }
}

/** The end of the backend's log, without the readiness polls that would fill it. */
function tail(file: string, lines = 60): string {
  try {
    return fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .filter(line => !line.includes('/.backstage/health/'))
      .slice(-lines)
      .join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * Starts packages/backend as `yarn start` runs it (Backstage's Node transform,
 * NODE_ENV=development, so guest sign-in works), on a free port, a fresh
 * SQLite directory, the devcluster's environments and only the given catalog
 * file (and, if given, a gateway of the test's own), and waits for
 * /.backstage/health/v1/readiness. The app it serves is
 * packages/app/dist, built first when it is missing or stale (ensureAppBuilt).
 */
export async function startE2eBackend(options: {
  catalogFile: string;
  /** The environments' gateway, instead of the shared ingressgateway. */
  gateway?: E2eGateway;
  /**
   * Who the sign-in page's guest provider signs in (its `userEntityRef`),
   * e.g. the demo's admin; default the provider's guest user.
   */
  signInAs?: string;
  /** More `kubeDelivery` configuration, e.g. `approvals` or `servicePrincipals`. */
  kubeDelivery?: Record<string, unknown>;
  /** The plugins the CI token may call (its `accessRestrictions`); default the shipped app-config's. */
  ciTokenPlugins?: string[];
}): Promise<E2eBackend> {
  await ensureAppBuilt();
  const port = await freePort();
  const baseUrl = `http://localhost:${port}`;
  const token = randomBytes(24).toString('base64url');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kd-e2e-backend-'));
  const configPath = path.join(dir, 'app-config.e2e.yaml');
  const { kubeDelivery } = parse(await devClusterConfig());
  if (options.gateway) {
    // The test's own Istio Gateway (the devcluster's environments default to its
    // Traefik-served Gateway API Gateways).
    for (const environment of kubeDelivery.environments) {
      environment.gateway = {
        namespace: options.gateway.namespace,
        name: options.gateway.name,
        hosts: environment.gateway.hosts,
        cluster: environment.gateway.cluster,
        tls: { secretName: options.gateway.secretName(environment.name) },
      };
    }
  }
  fs.writeFileSync(
    configPath,
    stringify({
      app: { baseUrl },
      backend: {
        baseUrl,
        listen: { port },
        cors: { origin: baseUrl },
        ...(options.ciTokenPlugins && {
          auth: {
            externalAccess: [
              {
                type: 'static',
                options: { token, subject: 'ci' },
                accessRestrictions: options.ciTokenPlugins.map(plugin => ({
                  plugin,
                })),
              },
            ],
          },
        }),
      },
      catalog: { locations: [{ type: 'file', target: options.catalogFile }] },
      kubeDelivery: {
        ...kubeDelivery,
        deployments: { pollIntervalMs: 200 },
        ...options.kubeDelivery,
      },
      ...(options.signInAs && {
        auth: {
          providers: { guest: { userEntityRef: options.signInAs } },
        },
      }),
    }),
  );
  const logPath = path.join(dir, 'backend.log');
  const log = fs.openSync(logPath, 'w');
  const child: ChildProcess = spawn(
    process.execPath,
    [
      '--enable-source-maps',
      '--require',
      require.resolve('@backstage/cli/config/nodeTransform.cjs'),
      'src/index.ts',
      '--config',
      path.join(REPO_ROOT, 'app-config.yaml'),
      '--config',
      configPath,
    ],
    {
      cwd: BACKEND_DIR,
      detached: true,
      stdio: ['ignore', log, log],
      env: {
        ...process.env,
        NODE_ENV: 'development',
        KUBE_DELIVERY_CI_TOKEN: token,
        KUBE_DELIVERY_DATA_DIR: path.join(dir, 'data'),
        ESBK_TSCONFIG_PATH: path.join(REPO_ROOT, 'tsconfig.json'),
      },
    },
  );
  fs.closeSync(log);
  let exited = false;
  const exitedPromise = new Promise<void>(resolve =>
    child.once('exit', () => {
      exited = true;
      resolve();
    }),
  );

  const stop = async () => {
    if (!exited && child.pid) {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
      const killLater = setTimeout(() => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          // already gone
        }
      }, 10_000);
      await exitedPromise;
      clearTimeout(killLater);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };

  // -1: the process has exited, or its start failed (a plugin threw; the
  // process then lives on, never ready); 0: no answer yet.
  const failedToStart = () =>
    exited ||
    fs.readFileSync(logPath, 'utf8').includes('Backend startup failed');
  const readiness = () =>
    failedToStart()
      ? Promise.resolve(-1)
      : fetch(`${baseUrl}/.backstage/health/v1/readiness`).then(
          r => r.status,
          () => 0,
        );
  const failure = async (what: string) => {
    const text = tail(logPath);
    await stop();
    return new Error(`The backend ${what}:\n${text}`);
  };
  const status = await poll(readiness, s => s === 200 || s === -1, {
    timeoutMs: READY_TIMEOUT_MS,
    intervalMs: 500,
    describe: () => `not ready after ${READY_TIMEOUT_MS / 1000}s`,
  }).catch(async e => {
    throw await failure((e as Error).message);
  });
  if (status === -1) throw await failure('failed to start');

  const request = async <T>(
    method: string,
    apiPath: string,
    body?: unknown,
  ) => {
    const response = await fetch(`${baseUrl}${apiPath}`, {
      method,
      headers: {
        Authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) {
      throw new Error(
        `${method} ${apiPath} answered ${response.status}: ${text}`,
      );
    }
    return (text ? JSON.parse(text) : undefined) as T;
  };

  return { baseUrl, token, logPath, request, stop };
}
