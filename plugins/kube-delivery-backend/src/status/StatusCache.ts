import type { LoggerService } from '@backstage/backend-plugin-api';
import type {
  KubernetesObject,
  V1Deployment,
  V1Pod,
  V1ReplicaSet,
} from '@kubernetes/client-node';
import { rolloutStatusFrom, type RolloutStatus } from '../cluster';
import type { ClusterClients } from '../cluster/ClusterClients';
import type { KubeConnection } from '../cluster/connection';
import type { EnvironmentConfig } from '../config/environments';
import { LABEL_MANAGED_BY, MANAGER } from '../cluster/managedObjects';
import { Reflector, type ReflectorStats } from './Reflector';

/** Every workload object Kube Delivery renders carries this label, and so do its ReplicaSets and pods. */
const SELECTOR = `${LABEL_MANAGED_BY}=${MANAGER}`;

/** Live rollout state without a request per read; undefined when it cannot answer yet. */
export interface RolloutStatusSource {
  rolloutStatus(
    environment: string,
    deploymentName: string,
  ): RolloutStatus | undefined;
}

export interface EnvironmentCacheStats {
  environment: string;
  synced: boolean;
  /** From start() to the first time all of the environment's kinds were listed. */
  syncMs?: number;
  kinds: Record<string, ReflectorStats>;
}

/** Drops what no status read needs (managedFields, pod templates, container specs) to keep memory low. */
function trimMetadata<T extends KubernetesObject>(object: T): T {
  const {
    managedFields: _managed,
    annotations: _annotations,
    ...metadata
  } = object.metadata ?? {};
  return { ...object, metadata };
}

const trimDeployment = (d: V1Deployment): V1Deployment => ({
  ...trimMetadata(d),
  spec: d.spec && {
    replicas: d.spec.replicas,
    selector: d.spec.selector,
    template: { metadata: {} },
  },
});
const trimReplicaSet = (rs: V1ReplicaSet): V1ReplicaSet => ({
  metadata: trimMetadata(rs).metadata,
});
const trimPod = (pod: V1Pod): V1Pod => ({
  ...trimMetadata(pod),
  spec: pod.spec && { nodeName: pod.spec.nodeName, containers: [] },
});

/** The watched Deployments, ReplicaSets and pods of one environment's namespace. */
class EnvironmentStatusCache {
  readonly deployments: Reflector<V1Deployment>;
  readonly replicaSets: Reflector<V1ReplicaSet>;
  readonly pods: Reflector<V1Pod>;
  private startedAt = 0;
  private syncMs?: number;

  constructor(
    private readonly environment: EnvironmentConfig,
    /** The environment's namespace-scoped credentials; a token file is re-read on every list and watch. */
    connection: KubeConnection,
    logger: LoggerService,
  ) {
    const ns = encodeURIComponent(environment.namespace);
    const common = {
      connection,
      environment: environment.name,
      labelSelector: SELECTOR,
      logger,
    };
    this.deployments = new Reflector({
      ...common,
      kind: 'Deployments',
      path: `/apis/apps/v1/namespaces/${ns}/deployments`,
      trim: trimDeployment,
    });
    this.replicaSets = new Reflector({
      ...common,
      kind: 'ReplicaSets',
      path: `/apis/apps/v1/namespaces/${ns}/replicasets`,
      trim: trimReplicaSet,
    });
    this.pods = new Reflector({
      ...common,
      kind: 'Pods',
      path: `/api/v1/namespaces/${ns}/pods`,
      trim: trimPod,
    });
  }

  private get reflectors() {
    return [this.deployments, this.replicaSets, this.pods] as const;
  }

  start(): Promise<number> {
    this.startedAt = Date.now();
    for (const reflector of this.reflectors) reflector.start();
    return Promise.all(this.reflectors.map(r => r.whenSynced())).then(() => {
      this.syncMs = Date.now() - this.startedAt;
      return this.syncMs;
    });
  }

  stop() {
    return Promise.all(this.reflectors.map(r => r.stop()));
  }

  isSynced() {
    return this.reflectors.every(r => r.isSynced());
  }

  /** As EnvironmentCluster.rolloutStatus reads it: the Deployment, and the pods of the ReplicaSets it owns. */
  rolloutStatus(name: string): RolloutStatus | undefined {
    if (!this.isSynced()) return undefined;
    const deployment = this.deployments.get(name);
    // Not (or not yet) seen: let the direct read say whether it exists.
    if (!deployment) return undefined;
    const pods = this.replicaSets
      .ownedBy(deployment.metadata?.uid)
      .flatMap(rs => this.pods.ownedBy(rs.metadata?.uid));
    return rolloutStatusFrom(name, deployment, pods);
  }

  stats(): EnvironmentCacheStats {
    return {
      environment: this.environment.name,
      synced: this.isSynced(),
      syncMs: this.syncMs,
      kinds: {
        deployments: this.deployments.stats(),
        replicaSets: this.replicaSets.stats(),
        pods: this.pods.stats(),
      },
    };
  }
}

/**
 * A watch-fed view of every environment's Kube Delivery workloads, so the
 * status endpoint answers from memory instead of three API requests per
 * environment and read. Until an environment is synced (and again after a
 * watch error, until it has listed again) it answers undefined and the
 * caller reads the API server directly.
 */
export class StatusCache implements RolloutStatusSource {
  private readonly caches = new Map<string, EnvironmentStatusCache>();
  private started = false;

  constructor(
    environments: EnvironmentConfig[],
    private readonly clusters: ClusterClients,
    private readonly logger: LoggerService,
  ) {
    for (const environment of environments) {
      // A cluster located later (catalog locator) is added then.
      if (environment.cluster.clusterName && !environment.cluster.url) continue;
      this.caches.set(
        environment.name,
        new EnvironmentStatusCache(
          environment,
          clusters.status(environment),
          logger,
        ),
      );
    }
  }

  /** Watches an environment whose cluster was located after start-up. */
  addEnvironment(environment: EnvironmentConfig) {
    if (this.caches.has(environment.name)) return;
    const cache = new EnvironmentStatusCache(
      environment,
      this.clusters.status(environment),
      this.logger,
    );
    this.caches.set(environment.name, cache);
    if (this.started) void cache.start();
  }

  /**
   * Starts every environment's watches; resolves with the milliseconds until
   * all were synced. Does not wait for that: an unreachable cluster must not
   * block the backend's start-up.
   */
  start(): Promise<number> {
    this.started = true;
    const startedAt = Date.now();
    const synced = Promise.all(
      [...this.caches.entries()].map(([name, cache]) =>
        cache.start().then(syncMs => {
          this.logger.info('status cache synced', {
            environment: name,
            syncMs,
          });
        }),
      ),
    ).then(() => Date.now() - startedAt);
    return synced;
  }

  stop() {
    return Promise.all([...this.caches.values()].map(c => c.stop())).then(
      () => {},
    );
  }

  rolloutStatus(
    environment: string,
    deploymentName: string,
  ): RolloutStatus | undefined {
    return this.caches.get(environment)?.rolloutStatus(deploymentName);
  }

  stats(): EnvironmentCacheStats[] {
    return [...this.caches.values()].map(c => c.stats());
  }
}
