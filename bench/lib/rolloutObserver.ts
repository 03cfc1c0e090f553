/**
 * One external observer of rollouts, the same for every tool a benchmark
 * compares: a separate process (rolloutObserverProcess.ts) that watches the
 * namespace's ReplicaSets and pods with the admin kubeconfig. A rollout is
 * done at the first watch event after which every pod of the new ReplicaSet
 * (the Deployment's ReplicaSet whose pod template has the expected images) is
 * Ready, as many as the expected replicas, and no pod of another ReplicaSet of
 * that Deployment remains, terminating or not.
 *
 *   const observer = await RolloutObserver.start(kubeconfig, 'dev');
 *   const wait = await observer.expect([{ deployment, images, replicas: 2 }]);
 *   const t0 = observer.now();   // then send the request
 *   const [r] = await wait.done(timeoutMs);   // r.doneAt - t0
 */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';

export interface RolloutTarget {
  deployment: string;
  /** The images of the pod template's containers, in order: they identify the new ReplicaSet. */
  images: string[];
  replicas: number;
}

export interface ObservedRollout {
  deployment: string;
  newReplicaSet: string;
  /** When every pod of the new ReplicaSet was first seen Ready (old pods may remain). */
  newReadyAt: number;
  /** When, besides, no pod of another ReplicaSet of the Deployment remained. */
  doneAt: number;
}

export type ObserverRequest =
  | { type: 'expect'; id: number; targets: RolloutTarget[] }
  | { type: 'describe'; id: number };

export type ObserverReply =
  | { type: 'ready' }
  | { type: 'failed'; message: string }
  | { type: 'ack'; id: number }
  | {
      type: 'done';
      id: number;
      results: ObservedRollout[];
      /** Watches that ended and were listed again while this expectation was pending. */
      watchRestarts: number;
    }
  | { type: 'description'; id: number; text: string };

export interface Expectation {
  done(
    timeoutMs: number,
  ): Promise<{ results: ObservedRollout[]; watchRestarts: number }>;
}

export class RolloutObserver {
  private nextId = 1;
  private readonly waiters = new Map<string, (reply: any) => void>();
  private failure?: Error;

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (reply: ObserverReply) => {
      if (reply.type === 'ready' || reply.type === 'failed') return;
      const key = `${reply.type}:${reply.id}`;
      const waiter = this.waiters.get(key);
      if (waiter) {
        this.waiters.delete(key);
        waiter(reply);
      }
    });
    child.on('exit', code => {
      this.failure = new Error(`rollout observer exited with ${code}`);
    });
  }

  /** Forks the observer and waits until its lists are loaded and its watches open. */
  static async start(
    kubeconfigPath: string,
    namespace: string,
  ): Promise<RolloutObserver> {
    const child = fork(
      path.join(__dirname, 'rolloutObserverProcess.ts'),
      [kubeconfigPath, namespace],
      {
        execArgv: process.execArgv,
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      },
    );
    // Other messages may come first: Backstage's node transform reports each
    // file it loads over the IPC channel ({ type: 'watch' }).
    await new Promise<void>((resolve, reject) => {
      const onMessage = (reply: ObserverReply) => {
        if (reply.type === 'ready') resolve();
        else if (reply.type === 'failed')
          reject(new Error(`rollout observer: ${reply.message}`));
        else return;
        child.off('message', onMessage);
      };
      child.on('message', onMessage);
      child.once('exit', code =>
        reject(new Error(`rollout observer exited with ${code}`)),
      );
    });
    return new RolloutObserver(child);
  }

  /** Wall-clock ms with sub-ms precision, comparable with the observer's times. */
  now(): number {
    return performance.timeOrigin + performance.now();
  }

  private ask<T>(request: ObserverRequest, replyType: string): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise(resolve => {
      this.waiters.set(`${replyType}:${request.id}`, resolve);
      this.child.send(request);
    });
  }

  /** Registers the rollouts to wait for; resolves once the observer has them (start the clock after). */
  async expect(targets: RolloutTarget[]): Promise<Expectation> {
    const id = this.nextId++;
    const done = new Promise<any>(resolve =>
      this.waiters.set(`done:${id}`, resolve),
    );
    await this.ask({ type: 'expect', id, targets }, 'ack');
    return {
      done: async timeoutMs => {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(async () => {
            const text = await Promise.race([
              this.ask<{ text: string }>(
                { type: 'describe', id },
                'description',
              ).then(r => r.text),
              new Promise<string>(r => setTimeout(() => r('no answer'), 2000)),
            ]).catch(error => (error as Error).message);
            reject(
              new Error(
                `rollout observer: not settled after ${timeoutMs} ms: ${text}`,
              ),
            );
          }, timeoutMs);
        });
        try {
          const reply = await Promise.race([done, timeout]);
          return { results: reply.results, watchRestarts: reply.watchRestarts };
        } finally {
          clearTimeout(timer);
        }
      },
    };
  }

  stop() {
    if (this.child.connected) this.child.disconnect();
    this.child.kill();
  }
}
