import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { exampleCatalogConfig } from './exampleCatalog';

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise(resolve => server.close(resolve));
  return port;
}

/**
 * Starts kubernetesPluginProcess.ts with `kubernetes` (as the devcluster's
 * app-config prints it, `$file` token included), a static token, and the
 * examples in its catalog. Returns its base URL and a stop function.
 */
export async function startKubernetesPlugin(options: {
  kubernetes: unknown;
  token: string;
}): Promise<{ baseUrl: string; stop: () => Promise<void> }> {
  const port = await freePort();
  const baseUrl = `http://localhost:${port}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kd-k8s-plugin-'));
  const configFile = path.join(dir, 'app-config.yaml');
  const examples = exampleCatalogConfig(options.token);
  fs.writeFileSync(
    configFile,
    stringify({
      backend: {
        baseUrl,
        listen: { port },
        database: { client: 'better-sqlite3', connection: ':memory:' },
        auth: examples.auth,
      },
      catalog: examples.catalog,
      kubernetes: options.kubernetes,
    }),
  );
  const child: ChildProcess = spawn(
    process.execPath,
    [
      '-r',
      require.resolve('@backstage/cli/config/nodeTransform.cjs'),
      path.join(__dirname, 'kubernetesPluginProcess.ts'),
      '--config',
      configFile,
    ],
    // A backend looks for its package.json upwards from its working
    // directory: packages/backend's.
    {
      cwd: path.resolve(__dirname, '../../..'),
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout!.on('data', chunk => (output += chunk));
  child.stderr!.on('data', chunk => (output += chunk));
  let exitCode: number | null | undefined;
  const exited = new Promise(resolve =>
    child.once('exit', code => {
      exitCode = code;
      resolve(code);
    }),
  );
  const deadline = Date.now() + 120_000;
  for (;;) {
    const ready = await fetch(`${baseUrl}/.backstage/health/v1/readiness`).then(
      r => r.ok,
      () => false,
    );
    if (ready) break;
    if (exitCode !== undefined || Date.now() > deadline) {
      child.kill();
      throw new Error(
        `The Kubernetes plugin's backend did not start (exit ${exitCode}):\n${output.slice(
          -4000,
        )}`,
      );
    }
    await new Promise(resolve => setTimeout(resolve, 500));
  }
  return {
    baseUrl,
    async stop() {
      if (exitCode === undefined) child.kill();
      await exited;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
