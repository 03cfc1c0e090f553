import type { LoggerService } from '@backstage/backend-plugin-api';
import { ConflictError } from '@backstage/errors';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { EnvironmentCluster } from '../cluster';
import {
  ANNOTATION_EPOCH,
  assertNotNewer,
  FencedError,
  liveEpoch,
  type Fence,
} from '../cluster/fence';
import type { EnvironmentConfig } from '../config/environments';
import type { EventRecorder } from '../events';
import { LABEL_NAME, LABEL_TRACK, MAINLINE_TRACK } from '../manifests';
import { serviceHosts } from '../tenancy/hosts';
import {
  ANNOTATION_OWNER_REF,
  LABEL_MANAGED_BY,
  LABEL_OWNER,
  MANAGER,
} from '../cluster/managedObjects';
import { assertWritable, ownerHash, ownerLabels } from '../tenancy/ownership';
import type { RouteStore } from './RouteStore';
import {
  handEditors,
  otherRouteApi,
  routeApi,
  type RouteApi,
  type RouteObject,
} from './routeApis';

/** Attempts of read → render → apply before a conflict is given up. */
export const MAX_RECONCILE_ATTEMPTS = 6;
/** The actor of changes the reconciler makes on its own (restores, expiry). */
export const ROUTING_ACTOR = 'kube-delivery:routing';

/** The service whose routing object is reconciled. */
export interface RouteTarget {
  entityRef: string;
  /** Mainline Kubernetes Service name; also the routing object's name. */
  service: string;
  /** The entity declares `kube-delivery.io/ingress`: bind to the environment's gateway. */
  ingress: boolean;
  /**
   * The gateway hosts the entity names (`kube-delivery.io/hosts`); absent:
   * every host the environment's gateway offers. Only those the gateway
   * offers are bound (see tenancy/hosts.ts `serviceHosts`).
   */
  hosts?: string[];
}

/** Entity refs compare case-insensitively in Backstage. */
function sameEntity(a: string, b: string): boolean {
  return a.toLocaleLowerCase('en-US') === b.toLocaleLowerCase('en-US');
}

/**
 * Refuses to write the target's routing object over a live object that is
 * not the entity's: one of another entity (owner label), one Kube Delivery
 * did not write (unless the environment adopts such objects), or one an
 * earlier version of Kube Delivery wrote, without owner label, for another
 * entity (its entity annotation). Our earlier objects of this entity, or
 * of no recorded entity, are taken over. A ConflictError naming the owner.
 */
export function assertRouteWritable(
  live: KubernetesObject | undefined,
  target: RouteTarget,
  api: Pick<RouteApi, 'apiVersion' | 'kind'>,
  environment: Pick<EnvironmentConfig, 'name' | 'adoptUnmanaged'>,
): void {
  if (!live) return;
  const meta = live.metadata;
  const legacyRef =
    meta?.labels?.[LABEL_OWNER] === undefined &&
    meta?.labels?.[LABEL_MANAGED_BY] === MANAGER
      ? meta?.annotations?.[ANNOTATION_OWNER_REF]
      : undefined;
  if (legacyRef !== undefined && !sameEntity(legacyRef, target.entityRef)) {
    throw new ConflictError(
      `${api.kind} "${target.service}" in environment "${environment.name}" belongs to entity ${legacyRef}, not to ${target.entityRef}; ` +
        "Kube Delivery never writes over another entity's object. Rename this service, or ask the owning team.",
    );
  }
  assertWritable(
    {
      apiVersion: api.apiVersion,
      kind: api.kind,
      metadata: {
        name: target.service,
        labels: ownerLabels(target.entityRef),
        annotations: { [ANNOTATION_OWNER_REF]: target.entityRef },
      },
    },
    live,
    {
      environment: environment.name,
      adoptUnmanaged: environment.adoptUnmanaged,
    },
  );
}

/**
 * Where a target with ingress is bound in an environment: its gateway, for
 * the hosts the service serves there. Undefined without ingress or gateway.
 */
export function gatewayBinding(
  target: Pick<RouteTarget, 'ingress' | 'hosts'>,
  environment: Pick<EnvironmentConfig, 'name' | 'gateway'>,
): { name: string; hosts: string[] } | undefined {
  const gateway = environment.gateway;
  if (!target.ingress || !gateway) return undefined;
  return {
    name: `${gateway.namespace}/${gateway.name}`,
    hosts: serviceHosts(
      {
        ingress: { namespace: gateway.namespace, name: gateway.name },
        ...(target.hosts && { hosts: target.hosts }),
      },
      environment,
    ),
  };
}

export interface ReconcileResult {
  /** The object as applied (read back from the API server). */
  object: RouteObject;
  /** Field managers whose hand edits this reconcile put back; empty when none. */
  restoredFrom: string[];
}

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
  waiting?: Promise<ReconcileResult>;
}

/**
 * Writes the whole managed routing object of a service (an Istio
 * VirtualService, or a Gateway API HTTPRoute where the environment says
 * `routingApi: gateway-api`) from the rules in the database and the branch
 * Services live in the cluster.
 *
 * Each pass reads the live object first (its resourceVersion), then the
 * rules and branches, renders, and applies with that resourceVersion as a
 * precondition; on a conflict (another replica wrote in between) it starts
 * over. Because the rules are read after the resourceVersion, the apply that
 * wins has seen every rule committed before the object it replaces, so
 * concurrent edits from several backend replicas lose nothing. Within one
 * replica, reconciles of the same service are serialised and coalesced.
 *
 * A routing field owned by another field manager is a hand edit: the forced
 * apply puts it back and the environment timeline says so.
 */
export class RouteReconciler {
  private readonly queues = new Map<string, Queue>();

  constructor(
    private readonly options: {
      store: RouteStore;
      environment: (name: string) => EnvironmentConfig;
      cluster: (environment: EnvironmentConfig) => EnvironmentCluster;
      logger: LoggerService;
      /** The environment timeline, where put-back hand edits are recorded. */
      events?: EventRecorder;
    },
  ) {}

  /** Brings the routing object of the target in an environment in line with the database. */
  reconcile(
    target: RouteTarget,
    environment: string,
    options: {
      expectExisting?: boolean;
      /**
       * A deployment job's fence: the routing object is refused
       * (FencedError) when a newer deployment wrote it, and written carrying
       * the fence's epoch. Without one, the live object's epoch is kept.
       */
      fence?: Fence;
    } = {},
  ): Promise<ReconcileResult> {
    const key = `${environment}\u0000${target.entityRef}\u0000${target.service}`;
    let queue = this.queues.get(key);
    if (!queue) {
      queue = { tail: Promise.resolve() };
      this.queues.set(key, queue);
    }
    // A fenced run is a job's own: never shared with another caller's.
    if (queue.waiting && !options.fence) return queue.waiting;
    const q = queue;
    const next: Promise<ReconcileResult> = q.tail
      .catch(() => undefined)
      .then(() => {
        // Running now: whoever comes next needs a run that starts after them.
        if (q.waiting === next) q.waiting = undefined;
        return this.reconcileNow(
          target,
          environment,
          options.expectExisting,
          options.fence,
        );
      });
    if (!options.fence) q.waiting = next;
    q.tail = next;
    next
      .catch(() => undefined)
      .then(() => {
        if (q.tail === next) this.queues.delete(key);
      });
    return next;
  }

  private async reconcileNow(
    target: RouteTarget,
    environmentName: string,
    expectExisting = false,
    fence?: Fence,
  ): Promise<ReconcileResult> {
    const { service } = target;
    const environment = this.options.environment(environmentName);
    const cluster = this.options.cluster(environment);
    const api = routeApi(environment.routingApi);
    const gateway = gatewayBinding(target, environment);
    let restoredFrom: string[] = [];
    let missing = false;
    for (let attempt = 1; ; attempt++) {
      const live = await cluster.read(api.apiVersion, api.kind, service);
      // Not retried: another entity's object stays another's.
      assertRouteWritable(live, target, api, environment);
      // The epoch of the deployment that last wrote it: a job's reconcile
      // is refused when a newer one did; any other keeps it.
      const what = `${api.kind} "${service}" in environment "${environmentName}"`;
      if (fence) assertNotNewer(live, fence, what);
      const epoch = fence?.epoch ?? liveEpoch(live);
      const resourceVersion = live?.metadata?.resourceVersion;
      if (live) restoredFrom = handEditors(live, api);
      if (attempt === 1) missing = !live;
      const now = new Date();
      const [rules, branches, port] = await Promise.all([
        this.options.store.list({
          entityRef: target.entityRef,
          environment: environmentName,
          now,
        }),
        liveBranches(cluster, service),
        api.needsPort
          ? servicePort(cluster, service, environmentName)
          : undefined,
      ]);
      const desired = api.render({
        entityRef: target.entityRef,
        service,
        namespace: environment.namespace,
        host: service,
        port,
        rules,
        mainline: { host: service },
        branches,
        gateway,
        now,
      });
      const body: KubernetesObject = {
        ...desired,
        metadata: {
          ...desired.metadata,
          ...(epoch && {
            annotations: {
              ...desired.metadata?.annotations,
              [ANNOTATION_EPOCH]: epoch,
            },
          }),
          ...(resourceVersion && { resourceVersion }),
        },
      };
      let applied: KubernetesObject;
      try {
        // Fenced: a create that fails if it exists, or an apply with the
        // resourceVersion read above; the epoch was checked on that read.
        [applied] = (
          fence
            ? await cluster.apply([body], { fence })
            : await cluster.apply([body])
        ).objects;
      } catch (error) {
        if (error instanceof FencedError && attempt < MAX_RECONCILE_ATTEMPTS) {
          // Written in between: read again, and check the epoch again.
          continue;
        }
        if (
          error instanceof ConflictError &&
          attempt < MAX_RECONCILE_ATTEMPTS
        ) {
          this.options.logger.debug(
            `${api.kind} "${service}" in ${environmentName} changed while it was reconciled; retrying (attempt ${attempt})`,
          );
          continue;
        }
        if (error instanceof ConflictError) {
          throw new ConflictError(
            `${api.kind} "${service}" in ${environmentName} kept changing during ${MAX_RECONCILE_ATTEMPTS} attempts; the rules are saved and the next reconcile applies them`,
          );
        }
        throw error;
      }
      // A create has no precondition: two replicas may both create. One more
      // pass, with a precondition, makes sure the last write saw every rule.
      if (!resourceVersion) continue;
      if (restoredFrom.length) {
        await this.recordRestore(target, environmentName, api.kind, {
          action: 'restored',
          what: `was changed by hand (${restoredFrom.join(', ')})`,
          editors: restoredFrom,
        });
      } else if (missing && expectExisting) {
        await this.recordRestore(target, environmentName, api.kind, {
          action: 'recreated',
          what: 'was missing though rules exist (deleted by hand?)',
          editors: [],
        });
      }
      if (missing) {
        await this.removeLeftover(
          cluster,
          otherRouteApi(api),
          target,
          environmentName,
        );
      }
      return { object: applied as RouteObject, restoredFrom };
    }
  }

  /**
   * After an environment switched `routingApi`, the service's first object
   * of the new API is created; our object of the old API would still route
   * (or confuse whoever reads it). It goes, but only if it is ours and this
   * entity's (its owner label, or, written before objects had owners, its
   * entity annotation): another team's object of that name is left alone.
   */
  private async removeLeftover(
    cluster: EnvironmentCluster,
    old: RouteApi,
    target: RouteTarget,
    environment: string,
  ) {
    try {
      const leftover = await cluster.read(
        old.apiVersion,
        old.kind,
        target.service,
      );
      const meta = leftover?.metadata;
      const owner = meta?.labels?.[LABEL_OWNER];
      const ref = meta?.annotations?.[ANNOTATION_OWNER_REF];
      if (owner !== undefined) {
        if (owner !== ownerHash(target.entityRef)) return;
        await cluster.delete(old.apiVersion, old.kind, target.service, {
          owner,
        });
      } else {
        if (
          meta?.labels?.[LABEL_MANAGED_BY] !== MANAGER ||
          ref === undefined ||
          !sameEntity(ref, target.entityRef)
        ) {
          return;
        }
        await cluster.delete(old.apiVersion, old.kind, target.service);
      }
      this.options.logger.info(
        `Removed ${old.kind} "${target.service}" in ${environment}: the environment routes with another API now`,
        { entityRef: target.entityRef },
      );
    } catch (error) {
      // Not served here (no such CRD), or not readable: nothing to clean up
      // that this reconcile could see; routing itself is written.
      this.options.logger.debug(
        `Could not check for a ${old.kind} "${
          target.service
        }" left in ${environment}: ${(error as Error).message}`,
      );
    }
  }

  private async recordRestore(
    target: RouteTarget,
    environment: string,
    kind: string,
    change: {
      action: 'restored' | 'recreated';
      what: string;
      editors: string[];
    },
  ) {
    const message = `${kind} "${target.service}" ${change.what}; kube-delivery put back the routing from its rules`;
    this.options.logger.warn(message, {
      environment,
      entityRef: target.entityRef,
    });
    await this.options.events?.record({
      environment,
      entityRef: target.entityRef,
      kind: 'route-changed',
      message,
      details: {
        action: change.action,
        object: `${kind}/${target.service}`,
        editors: change.editors,
      },
      actor: ROUTING_ACTOR,
    });
  }
}

/** The first port of the mainline Service: Gateway API backendRefs must name one. */
async function servicePort(
  cluster: EnvironmentCluster,
  service: string,
  environment: string,
): Promise<number> {
  const live = await cluster.read<
    KubernetesObject & { spec?: { ports?: Array<{ port: number }> } }
  >('v1', 'Service', service);
  const port = live?.spec?.ports?.[0]?.port;
  if (port === undefined) {
    throw new ConflictError(
      `Service "${service}" has no port in ${environment}; deploy the mainline there before routing to its branches`,
    );
  }
  return port;
}
