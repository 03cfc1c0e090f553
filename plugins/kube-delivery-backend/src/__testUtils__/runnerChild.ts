import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { RunnerSettings } from '../config/environments';
import type { RunnerProcessConfig } from './runnerProcess';
import type { SharedDatabaseConnection } from './sharedDatabase';

const RUNNER_ENTRY = path.resolve(__dirname, 'runnerProcess.ts');

/** The child processes still alive, so a test file can kill them all in afterAll. */
const alive = new Set<RunnerChild>();

/**
 * A DeploymentRunner in a child Node process (see runnerProcess.ts): another
 * backend replica that a test can SIGKILL in the middle of a deploy.
 */
export class RunnerChild {
  private exit?: { code: number | null; signal: NodeJS.Signals | null };
  private readonly exited: Promise<{
    code: number | null;
    signal: NodeJS.Signals | null;
  }>;

  private constructor(
    private readonly child: ChildProcess,
    /**
     * The lease owner id the child's runner claims deployments with (for a
     * backendProcess.ts child: the `<hostname>-<pid>-` its ids start with).
     */
    readonly owner: string,
    /** The port a backendProcess.ts child serves its HTTP API on. */
    readonly port: number | undefined,
    exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>,
    private readonly readOutput: () => string,
  ) {
    this.exited = exited.then(result => {
      this.exit = result;
      alive.delete(this);
      return result;
    });
  }

  /** Starts the process and waits until its runner polls for work. */
  static async start(options: {
    database: SharedDatabaseConnection;
    runner: RunnerSettings;
    timeoutMs?: number;
    /** Another entry with the same protocol, e.g. backendProcess.ts, and what it reads besides. */
    entry?: string;
    extra?: Record<string, unknown>;
  }): Promise<RunnerChild> {
    const config: RunnerProcessConfig = {
      database: options.database,
      runner: options.runner,
      ...options.extra,
    };
    const child = spawn(
      process.execPath,
      [
        '-r',
        require.resolve('@backstage/cli/config/nodeTransform.cjs'),
        options.entry ?? RUNNER_ENTRY,
      ],
      {
        cwd: path.resolve(__dirname, '../..'),
        env: { ...process.env, KD_RUNNER_CONFIG: JSON.stringify(config) },
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      },
    );
    let output = '';
    child.stdout!.on('data', chunk => {
      output += chunk;
    });
    child.stderr!.on('data', chunk => {
      output += chunk;
    });
    const exited = new Promise<{
      code: number | null;
      signal: NodeJS.Signals | null;
    }>(resolve =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    const timeoutMs = options.timeoutMs ?? 60_000;
    let timer: NodeJS.Timeout | undefined;
    try {
      const ready = await Promise.race([
        new Promise<{ owner: string; port?: number }>(resolve =>
          child.on('message', (message: any) => {
            if (message?.type === 'ready') resolve(message);
          }),
        ),
        exited.then(({ code, signal }) => {
          throw new Error(
            `runner process exited before it was ready (code ${code}, signal ${signal}):\n${output}`,
          );
        }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new Error(
                  `runner process not ready within ${timeoutMs} ms:\n${output}`,
                ),
              ),
            timeoutMs,
          );
        }),
      ]);
      const runner = new RunnerChild(
        child,
        ready.owner,
        ready.port,
        exited,
        () => output,
      );
      alive.add(runner);
      return runner;
    } catch (error) {
      child.kill('SIGKILL');
      await exited;
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  get pid() {
    return this.child.pid!;
  }

  get running() {
    return this.exit === undefined;
  }

  /** What the process wrote (JSON log lines, errors), for failure messages. */
  logs(): string {
    return this.readOutput();
  }

  /** Kills the process (SIGKILL: no chance to clean up) and waits until it is gone. */
  async kill(signal: NodeJS.Signals = 'SIGKILL') {
    if (this.exit === undefined) this.child.kill(signal);
    return this.exited;
  }

  /** Kills every child process still running. For afterAll/afterEach. */
  static async killAll() {
    await Promise.all([...alive].map(child => child.kill()));
  }
}
