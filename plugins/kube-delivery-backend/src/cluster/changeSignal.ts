import type { LoggerService } from '@backstage/backend-plugin-api';
import { Watch } from '@kubernetes/client-node';
import type { KubeConnection } from './connection';
import { sleep } from './retry';

/**
 * Wakes a polling loop early when the object it waits for changes. A change
 * that arrives while the loop is busy reading is kept, so the next sleep
 * returns at once instead of losing it.
 */
export class ChangeSignal {
  private pending = false;
  private wake?: () => void;

  notify() {
    this.pending = true;
    this.wake?.();
  }

  /** Sleeps `ms`, or less if a change arrives (or has arrived since the last sleep). */
  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (this.pending) {
      this.pending = false;
      return;
    }
    const woken = new AbortController();
    this.wake = () => woken.abort();
    try {
      await sleep(
        ms,
        signal ? AbortSignal.any([signal, woken.signal]) : woken.signal,
      );
    } catch (error) {
      if (!woken.signal.aborted || signal?.aborted) throw error;
    } finally {
      this.wake = undefined;
      this.pending = false;
    }
  }
}

/**
 * Watches one object (by name, through the collection's watch) and notifies
 * `changes` on every event, so a rollout is seen complete when the API server
 * says so rather than at the next poll. Best effort: the poll stays the source
 * of truth, so a watch that fails or ends only costs that speed. Returns the
 * function that stops the watch.
 */
export function watchForChanges(
  connection: KubeConnection,
  collectionPath: string,
  name: string,
  changes: ChangeSignal,
  logger: LoggerService,
): () => void {
  let stopped = false;
  let controller: AbortController | undefined;
  const note = (error: unknown) => {
    if (!stopped) {
      logger.debug(
        `Watch of ${collectionPath} ${name} ended (${String(
          (error as Error)?.message ?? error,
        )}); polling only`,
      );
    }
  };
  connection
    .currentConfig()
    .then(config =>
      new Watch(config).watch(
        collectionPath,
        { fieldSelector: `metadata.name=${name}` },
        () => changes.notify(),
        error => {
          if (error) note(error);
        },
      ),
    )
    .then(started => {
      controller = started;
      if (stopped) started.abort();
    }, note);
  return () => {
    stopped = true;
    controller?.abort();
  };
}
