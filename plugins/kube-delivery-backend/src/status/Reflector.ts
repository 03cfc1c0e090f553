import type { LoggerService } from '@backstage/backend-plugin-api';
import { Watch, type KubernetesObject } from '@kubernetes/client-node';
import type { KubeConnection } from '../cluster/connection';
import { backoffDelay, sleep } from '../cluster';

/** How long one watch request stays open before the server ends it and we watch again. */
const WATCH_TIMEOUT_SECONDS = 300;
const RETRY_BASE_MS = 500;
const RETRY_MAX_MS = 30_000;

export interface ReflectorOptions<T extends KubernetesObject> {
  connection: KubeConnection;
  /** Collection path, e.g. /apis/apps/v1/namespaces/dev/deployments. */
  path: string;
  /** e.g. Deployment, for logs. */
  kind: string;
  /** Environment name, for logs. */
  environment: string;
  labelSelector: string;
  logger: LoggerService;
  /** Keeps only what readers need, to hold less memory per object. */
  trim?: (object: T) => T;
}

/** What a reflector has done so far, for logs and benchmarks. */
export interface ReflectorStats {
  synced: boolean;
  objects: number;
  lists: number;
  /** Watches answered 410 Gone (resourceVersion expired). */
  gone: number;
  /** Watches that failed or were cut, and lists that failed. */
  errors: number;
}

class GoneError extends Error {}

/**
 * The objects of one kind in one namespace, kept current by list + watch, as
 * client-go's reflector does: list (synced), watch from the list's
 * resourceVersion, watch again from the last seen one when the server ends
 * the watch, and list again after 410 Gone or an error. From an error until
 * the next list has completed it is not synced, so readers fall back to
 * direct reads rather than answering from a view that may have missed events.
 */
export class Reflector<T extends KubernetesObject> {
  private readonly items = new Map<string, T>();
  /** owner uid → names of the objects it owns. */
  private readonly owned = new Map<string, Set<string>>();
  private resourceVersion?: string;
  private synced = false;
  private readonly counts = { lists: 0, gone: 0, errors: 0 };
  private stopped = false;
  private loop?: Promise<void>;
  private watchController?: AbortController;
  private readonly stopController = new AbortController();
  private syncWaiters: Array<() => void> = [];

  constructor(private readonly options: ReflectorOptions<T>) {}

  start() {
    this.loop ??= this.run();
  }

  async stop() {
    this.stopped = true;
    this.stopController.abort();
    this.watchController?.abort();
    await this.loop;
  }

  isSynced() {
    return this.synced;
  }

  /** Resolves when the view is synced (at once if it is). */
  whenSynced(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise(resolve => this.syncWaiters.push(resolve));
  }

  get(name: string): T | undefined {
    return this.items.get(name);
  }

  /** The objects with an owner reference to `uid`. */
  ownedBy(uid: string | undefined): T[] {
    const names = uid ? this.owned.get(uid) : undefined;
    return names ? [...names].map(name => this.items.get(name)!) : [];
  }

  stats(): ReflectorStats {
    return { synced: this.synced, objects: this.items.size, ...this.counts };
  }

  private async run() {
    let failures = 0;
    while (!this.stopped) {
      try {
        await this.list();
        failures = 0;
        // Watch until an error or 410; a watch the server ends normally is
        // resumed from the last resourceVersion without a list.
        while (!this.stopped) await this.watchOnce();
      } catch (error) {
        if (this.stopped) break;
        this.synced = false;
        if (error instanceof GoneError) {
          this.counts.gone++;
          this.options.logger.info(
            `Status cache: ${this.describe()} watch expired (410 Gone), listing again`,
          );
          continue;
        }
        this.counts.errors++;
        failures++;
        const delayMs = backoffDelay(failures, RETRY_BASE_MS, RETRY_MAX_MS);
        this.options.logger.warn(
          `Status cache: ${this.describe()} ${
            (error as Error).message
          }; listing again in ${delayMs} ms (status reads go to the API server until then)`,
        );
        await sleep(delayMs, this.stopController.signal).catch(() => {});
      }
    }
  }

  private describe() {
    return `${this.options.kind} of environment "${this.options.environment}"`;
  }

  private async list() {
    const batch = await this.options.connection.batch();
    const fresh: T[] = [];
    let token: string | undefined;
    let resourceVersion: string | undefined;
    do {
      const page = await batch.request<{
        items?: T[];
        metadata?: { continue?: string; resourceVersion?: string };
      }>({
        method: 'GET',
        path: this.options.path,
        query: {
          labelSelector: this.options.labelSelector,
          limit: '500',
          continue: token,
        },
        signal: this.stopController.signal,
      });
      fresh.push(...(page.items ?? []));
      token = page.metadata?.continue || undefined;
      resourceVersion = page.metadata?.resourceVersion;
    } while (token);
    this.items.clear();
    this.owned.clear();
    for (const item of fresh) this.upsert(item);
    this.resourceVersion = resourceVersion;
    this.counts.lists++;
    this.synced = true;
    const waiters = this.syncWaiters;
    this.syncWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /** One watch request; resolves when the server ends it, rejects on 410 or an error. */
  private async watchOnce(): Promise<void> {
    const config = await this.options.connection.currentConfig();
    await new Promise<void>((resolve, reject) => {
      let failed: Error | undefined;
      const fail = (error: Error) => {
        failed ??= error;
        this.watchController?.abort();
      };
      new Watch(config)
        .watch(
          this.options.path,
          {
            labelSelector: this.options.labelSelector,
            resourceVersion: this.resourceVersion,
            allowWatchBookmarks: true,
            timeoutSeconds: WATCH_TIMEOUT_SECONDS,
          },
          (type: string, object: any) => {
            if (failed) return;
            if (type === 'ERROR') {
              fail(
                object?.code === 410
                  ? new GoneError('410 Gone')
                  : new Error(`watch error: ${object?.message ?? 'unknown'}`),
              );
              return;
            }
            const version = object?.metadata?.resourceVersion;
            if (type === 'ADDED' || type === 'MODIFIED') this.upsert(object);
            else if (type === 'DELETED') this.remove(object);
            if (version) this.resourceVersion = version;
          },
          (error: any) => {
            this.watchController = undefined;
            if (failed) reject(failed);
            else if (error && !this.stopped) {
              reject(
                error.statusCode === 410
                  ? new GoneError('410 Gone')
                  : new Error(`watch failed: ${error.message ?? error}`),
              );
            } else resolve();
          },
        )
        .then(controller => {
          this.watchController = controller;
          if (this.stopped || failed) controller.abort();
        }, reject);
    });
  }

  private upsert(raw: T) {
    const object = this.options.trim ? this.options.trim(raw) : raw;
    const name = object.metadata?.name;
    if (!name) return;
    this.remove(object);
    this.items.set(name, object);
    for (const owner of object.metadata?.ownerReferences ?? []) {
      let names = this.owned.get(owner.uid);
      if (!names) this.owned.set(owner.uid, (names = new Set()));
      names.add(name);
    }
  }

  private remove(object: T) {
    const name = object.metadata?.name;
    if (!name) return;
    const previous = this.items.get(name);
    this.items.delete(name);
    for (const owner of previous?.metadata?.ownerReferences ?? []) {
      const names = this.owned.get(owner.uid);
      names?.delete(name);
      if (names?.size === 0) this.owned.delete(owner.uid);
    }
  }
}
