import type { LoggerService } from '@backstage/backend-plugin-api';
import { parseEntityRef } from '@backstage/catalog-model';
import { ConflictError } from '@backstage/errors';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { EnvironmentCluster } from '../cluster';
import type { EnvironmentConfig } from '../config/environments';
import { LABEL_NAME, LABEL_TRACK, MAINLINE_TRACK } from '../manifests';
import type { RouteStore } from './RouteStore';
import { renderVirtualService, type VirtualService } from './virtualService';

export const VIRTUAL_SERVICE_API = 'networking.istio.io/v1';
export const VIRTUAL_SERVICE_KIND = 'VirtualService';
/** Attempts of read → render → apply before a conflict is given up. */
export const MAX_RECONCILE_ATTEMPTS = 6;

/** The branch Services of a service: slug (track label) to Service name. */
export async function liveBranches(
  cluster: EnvironmentCluster,
  service: string,
): Promise<Map<string, string>> {
  // `track` alone requires the label; `track!=mainline` alone would also
  // match objects without it.
  const selector = `${LABEL_NAME}=${service},${LABEL_TRACK},${LABEL_TRACK}!=${MAINLINE_TRACK}`;
  const services = await cluster.list('v1', 'Service', selector);
  const branches = new Map<string, string>();
  for (const item of services) {
    const track = item.metadata?.labels?.[LABEL_TRACK];
    const name = item.metadata?.name;
    if (track && name && !item.metadata?.deletionTimestamp) {
      branches.set(track, name);
    }
  }
  return branches;
}

interface Queue {
  tail: Promise<unknown>;
  /** A run that has not started yet: later callers share it. */
  waiting?: Promise<VirtualService>;
}

/**
 * Writes the whole managed VirtualService of a service from the rules in the
 * database and the branch Services live in the cluster.
 *
 * Each pass reads the live VirtualService first (its resourceVersion), then
 * the rules and branches, renders, and applies with that resourceVersion as a
 * precondition; on a conflict (another replica wrote in between) it starts
 * over. Because the rules are read after the resourceVersion, the apply that
 * wins has seen every rule committed before the object it replaces, so
 * concurrent edits from several backend replicas lose nothing. Within one
 * replica, reconciles of the same service are serialised and coalesced.
 */
export class RouteReconciler {
  private readonly queues = new Map<string, Queue>();

  constructor(
    private readonly options: {
      store: RouteStore;
      environment: (name: string) => EnvironmentConfig;
      cluster: (environment: EnvironmentConfig) => EnvironmentCluster;
      logger: LoggerService;
    },
  ) {}

  /**
   * Brings the VirtualService of the entity's service in an environment in
   * line with the database, and returns what was applied. `service` defaults
   * to the entity name (the mainline Service name).
   */
  reconcile(
    entityRef: string,
    environment: string,
    service: string = parseEntityRef(entityRef).name,
  ): Promise<VirtualService> {
    const key = `${environment}\u0000${entityRef}\u0000${service}`;
    let queue = this.queues.get(key);
    if (!queue) {
      queue = { tail: Promise.resolve() };
      this.queues.set(key, queue);
    }
    if (queue.waiting) return queue.waiting;
    const q = queue;
    const next: Promise<VirtualService> = q.tail
      .catch(() => undefined)
      .then(() => {
        // Running now: whoever comes next needs a run that starts after them.
        if (q.waiting === next) q.waiting = undefined;
        return this.reconcileNow(entityRef, environment, service);
      });
    q.waiting = next;
    q.tail = next;
    next
      .catch(() => undefined)
      .then(() => {
        if (q.tail === next) this.queues.delete(key);
      });
    return next;
  }

  private async reconcileNow(
    entityRef: string,
    environmentName: string,
    service: string,
  ): Promise<VirtualService> {
    const environment = this.options.environment(environmentName);
    const cluster = this.options.cluster(environment);
    for (let attempt = 1; ; attempt++) {
      const live = await cluster.read(VIRTUAL_SERVICE_API, VIRTUAL_SERVICE_KIND, service);
      const resourceVersion = live?.metadata?.resourceVersion;
      const now = new Date();
      const [rules, branches] = await Promise.all([
        this.options.store.list({ entityRef, environment: environmentName, now }),
        liveBranches(cluster, service),
      ]);
      const desired = renderVirtualService({
        service,
        namespace: environment.namespace,
        host: service,
        rules,
        mainline: { host: service },
        branches,
        now,
      });
      const body: KubernetesObject = {
        ...desired,
        metadata: {
          ...desired.metadata,
          ...(resourceVersion && { resourceVersion }),
        },
      };
      try {
        await cluster.apply([body]);
      } catch (error) {
        if (error instanceof ConflictError && attempt < MAX_RECONCILE_ATTEMPTS) {
          this.options.logger.debug(
            `VirtualService "${service}" in ${environmentName} changed while it was reconciled; retrying (attempt ${attempt})`,
          );
          continue;
        }
        if (error instanceof ConflictError) {
          throw new ConflictError(
            `VirtualService "${service}" in ${environmentName} kept changing during ${MAX_RECONCILE_ATTEMPTS} attempts; the rules are saved and the next reconcile applies them`,
          );
        }
        throw error;
      }
      // A create has no precondition: two replicas may both create. One more
      // pass, with a precondition, makes sure the last write saw every rule.
      if (!resourceVersion) continue;
      return desired;
    }
  }
}
