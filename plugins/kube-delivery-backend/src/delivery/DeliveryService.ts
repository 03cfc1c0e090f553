import type { Entity } from '@backstage/catalog-model';
import { ConflictError, InputError, NotFoundError } from '@backstage/errors';
import type { DeploymentKind } from '@internal/plugin-kube-delivery-common';
import type { RolloutStatus } from '../cluster';
import type { ServiceSpec } from '../catalog';
import type { DeliveryConfig, EnvironmentConfig } from '../config/environments';
import type {
  DeliveryStore,
  DeploymentRecord,
  NewDeploymentApproval,
  ReleaseRecord,
} from '../database';
import type { ApprovalBypass, ApprovalService } from '../approvals';
import { MAINLINE_TRACK, trackOf, type RenderedRelease } from '../manifests';
import { serviceHosts, type ClaimedName, type ClaimStore } from '../tenancy';
import type { ClusterClients } from '../cluster/ClusterClients';
import type { EnvironmentRegistry } from '../config/EnvironmentRegistry';
import type { DeploymentRunner } from './DeploymentRunner';
import { renderSnapshot } from './renderSnapshot';
import type { ReleaseService } from './ReleaseService';
import type { RolloutStatusSource } from '../status';
import { refusalOf } from './promotionRules';
import { releaseObjects } from './strategies/steps';
import type { Unreachable } from '../cluster/reachability';

/** How long after a deployment finished status reads still go to the cluster rather than the status cache. */
export const SETTLED_AFTER_MS = 5_000;

/** A deployment to queue: a release, where, why and by whom. */
export interface DeployInput {
  entity: Entity;
  release: ReleaseRecord;
  environment: string;
  kind: DeploymentKind;
  createdBy: string;
  /**
   * Into a protected environment: deploy at once instead of waiting for
   * approval. Needs the bypass permission (a 403 otherwise); audited.
   */
  bypassApproval?: ApprovalBypass;
}

/** What an environment runs of one service, for the Environments tab. */
export interface EnvironmentStatus {
  environment: string;
  namespace: string;
  current?: DeploymentRecord;
  active: DeploymentRecord[];
  rollout?: RolloutStatus;
  /** Why the live state could not be read, in words. */
  rolloutError?: string;
  /** The environment's cluster does not answer: since when, and why. */
  unreachable?: Unreachable;
}

/** The operations the API offers, independent of HTTP. */
export class DeliveryService {
  /** Deployment name of a release in an environment (releases are immutable): status reads skip reading and rendering the release. */
  private readonly workloadNames = new Map<string, string>();

  constructor(
    private readonly options: {
      config: DeliveryConfig;
      environments: EnvironmentRegistry;
      store: DeliveryStore;
      releases: ReleaseService;
      runner: DeploymentRunner;
      clusters: ClusterClients;
      /** Answers status reads from watches once synced; without it (or until then) they read the cluster. */
      statusCache?: RolloutStatusSource;
      /** Told of each queued deployment, for open tabs (signals). */
      onChange?: (entityRef: string) => void;
      /** Who owns which service name and host in each environment. */
      claims: ClaimStore;
      /**
       * Approvals for protected environments: deployments, promotions and
       * rollbacks into one wait for approval. Without it (tests of the
       * delivery parts alone) nothing waits.
       */
      approvals?: ApprovalService;

      /** Told about every deploy or promotion the rules refuse, before the 409; must not throw. */
      onRefused?: (refusal: {
        environment: string;
        entityRef: string;
        version?: string;
        kind: DeploymentKind;
        actor: string;
        message: string;
      }) => Promise<void>;
    },
  ) {}

  private environment(name: string): EnvironmentConfig {
    return this.options.environments.require(name);
  }

  createRelease(input: Parameters<ReleaseService['createRelease']>[0]) {
    return this.options.releases.createRelease(input);
  }

  createReleaseFromFeed(
    input: Parameters<ReleaseService['createReleaseFromFeed']>[0],
  ) {
    return this.options.releases.createReleaseFromFeed(input);
  }

  listFeed(entity: Entity) {
    return this.options.releases.listFeed(entity);
  }

  async release(entityRef: string, id: string): Promise<ReleaseRecord> {
    const release = await this.options.store.getRelease(id);
    if (release.entityRef !== entityRef) {
      throw new NotFoundError(`No release ${id} of ${entityRef}`);
    }
    return release;
  }

  async releaseByVersion(entityRef: string, version: string) {
    const release = await this.options.store.findRelease(entityRef, version);
    if (!release) {
      throw new NotFoundError(
        `${entityRef} has no release ${String(version).slice(
          0,
          128,
        )}; create it first`,
      );
    }
    return release;
  }

  /**
   * Queues a deployment of a release; a 409 if the track is busy. Into a
   * protected environment (but a restart) it waits for approval instead,
   * unless the caller asks to bypass the approval and may.
   */
  async deploy(input: DeployInput): Promise<DeploymentRecord> {
    const environment = this.environment(input.environment);
    const approvals = this.options.approvals;
    if (!approvals?.requiresApproval(environment, input.kind)) {
      return this.queue(input, environment);
    }
    const request = {
      entityRef: input.release.entityRef,
      environment: environment.name,
      version: input.release.version,
      kind: input.kind,
      createdBy: input.createdBy,
    };
    if (input.bypassApproval) {
      return approvals.bypass(request, input.bypassApproval, approval =>
        this.queue(input, environment, () => approval),
      );
    }
    return this.queue(input, environment, () => approvals.waiting(request));
  }

  private async queue(
    input: DeployInput,
    environment: EnvironmentConfig,
    approvalOf?: () => NewDeploymentApproval,
  ): Promise<DeploymentRecord> {
    const { release } = input;
    const refusal = await refusalOf({
      release,
      environment,
      kind: input.kind,
      config: this.options.config,
      succeededIn: name => this.options.store.hasSucceeded(release.id, name),
    });
    if (refusal) {
      await this.options.onRefused?.({
        environment: environment.name,
        entityRef: release.entityRef,
        version: release.version,
        kind: input.kind,
        actor: input.createdBy,
        message: refusal,
      });
      throw new ConflictError(refusal);
    }
    const spec = release.snapshot.spec as unknown as ServiceSpec;
    // Render now: a release that cannot render for this environment is a 400
    // before anything is queued.
    const rendered = renderSnapshot(release, environment).rendered;
    await this.checkTenancy(release.entityRef, spec, environment, rendered);
    const track = trackOf(release.version, spec.name);
    const previous = await this.options.store.lastSucceeded(
      release.entityRef,
      environment.name,
      track,
    );
    // A request whose approval lapsed before the expiry task ran no longer
    // holds the track.
    await this.options.approvals?.expireDue({
      entityRef: release.entityRef,
      environment: environment.name,
    });
    const approval = approvalOf?.();
    const deployment = await this.options.store.createDeployment({
      entityRef: release.entityRef,
      environment: environment.name,
      track,
      releaseId: release.id,
      version: release.version,
      kind: input.kind,
      strategy: spec.strategy,
      createdBy: input.createdBy,
      previousReleaseId: previous?.releaseId,
      ...(approval && { approval }),
    });
    if (deployment.status === 'queued') this.options.runner.poke();
    if (deployment.status === 'waiting-approval') {
      this.options.approvals?.requested(deployment);
    }
    this.options.onChange?.(deployment.entityRef);
    return deployment;
  }

  /**
   * Before a deployment is queued: the service name and hosts are not
   * another entity's (database claims), the namespace enforces PodSecurity,
   * the cluster's objects of this
   * release are not another entity's and its pods pass PodSecurity (a
   * server-side dry run), then the names are claimed for the entity. A 409
   * or 400 here leaves the cluster as it was.
   */
  private async checkTenancy(
    entityRef: string,
    spec: ServiceSpec,
    environment: EnvironmentConfig,
    rendered: RenderedRelease,
  ) {
    const names: ClaimedName[] = [
      { kind: 'service', name: spec.name },
      ...serviceHosts(spec, environment).map(host => ({
        kind: 'host' as const,
        name: host,
      })),
    ];
    const { claims, clusters } = this.options;
    await claims.assertNotClaimedByOthers(environment.name, entityRef, names);
    try {
      await clusters.deploy(environment).dryRun(releaseObjects(rendered));
    } catch (error) {
      // What the cluster refuses is the caller's to hear now; an unreachable
      // or refusing cluster is recorded by the job's own dry run instead.
      if (error instanceof InputError || error instanceof ConflictError)
        throw error;
    }
    await claims.claim(environment.name, entityRef, names);
  }

  /**
   * Deploys to an environment the release that last succeeded in the
   * environment before it in the lifecycle.
   */
  async promote(input: {
    entity: Entity;
    entityRef: string;
    environment: string;
    createdBy: string;
    bypassApproval?: ApprovalBypass;
  }) {
    const environment = this.environment(input.environment);
    const lifecycle = this.options.config.lifecycle;
    const position = lifecycle.indexOf(environment.name);
    const refuse = async (message: string) => {
      await this.options.onRefused?.({
        environment: environment.name,
        entityRef: input.entityRef,
        kind: 'promote',
        actor: input.createdBy,
        message,
      });
      return new ConflictError(message);
    };
    if (position <= 0) {
      throw await refuse(
        `Lifecycle rule: ${environment.name} is ${
          position === 0
            ? 'the first environment of the lifecycle'
            : 'not in the lifecycle'
        }; deploy a release to it instead of promoting`,
      );
    }
    const source = lifecycle[position - 1];
    const last = await this.options.store.lastSucceeded(
      input.entityRef,
      source,
      MAINLINE_TRACK,
    );
    if (!last) {
      throw await refuse(
        `Lifecycle rule: nothing has succeeded in ${source} yet, so there is nothing to promote to ${environment.name}`,
      );
    }
    return this.deploy({
      entity: input.entity,
      release: await this.options.store.getRelease(last.releaseId),
      environment: environment.name,
      kind: 'promote',
      createdBy: input.createdBy,
      ...(input.bypassApproval && { bypassApproval: input.bypassApproval }),
    });
  }

  /** Redeploys what an environment runs, restarting its pods. */
  async restart(input: {
    entity: Entity;
    entityRef: string;
    environment: string;
    createdBy: string;
  }) {
    const current = await this.options.store.lastSucceeded(
      input.entityRef,
      this.environment(input.environment).name,
      MAINLINE_TRACK,
    );
    if (!current) {
      throw new InputError(
        `${input.entityRef} has never been deployed to ${input.environment}`,
      );
    }
    return this.deploy({
      entity: input.entity,
      release: await this.options.store.getRelease(current.releaseId),
      environment: input.environment,
      kind: 'restart',
      createdBy: input.createdBy,
    });
  }

  async deployment(entityRef: string, id: string) {
    const deployment = await this.options.store.getDeployment(id);
    if (deployment.entityRef !== entityRef) {
      throw new NotFoundError(`No deployment ${id} of ${entityRef}`);
    }
    return deployment;
  }

  listDeployments(query: {
    entityRef: string;
    environment?: string;
    limit: number;
    before?: string;
  }) {
    return this.options.store.listDeployments(query);
  }

  listReleases(entityRef: string, limit: number) {
    return this.options.store.listReleases(entityRef, limit);
  }

  /** Every environment's current release and live rollout state. */
  async status(entityRef: string): Promise<EnvironmentStatus[]> {
    const active = await this.options.store.listActive(entityRef);
    return Promise.all(
      this.options.environments.list().map(async environment => {
        const current = await this.options.store.lastSucceeded(
          entityRef,
          environment.name,
          MAINLINE_TRACK,
        );
        const status: EnvironmentStatus = {
          environment: environment.name,
          namespace: environment.namespace,
          current,
          active: active.filter(d => d.environment === environment.name),
        };
        if (current) {
          try {
            const workloadName = await this.workloadName(
              current.releaseId,
              environment,
            );
            // While a deployment runs or has just finished, read the cluster: the
            // answer then matches what the runner saw, not a watch a few events behind.
            // One waiting for approval changes nothing yet.
            const settled =
              status.active.every(d => d.status === 'waiting-approval') &&
              Date.now() - Date.parse(current.finishedAt ?? '') >
                SETTLED_AFTER_MS;
            const { clusters } = this.options;
            const cached = settled
              ? this.options.statusCache?.rolloutStatus(
                  environment.name,
                  workloadName,
                )
              : undefined;
            // A synced cache has listed since any outage began.
            if (cached) clusters.reachability.answered(environment.name);
            status.rollout =
              cached ??
              (await clusters.reachability.read(environment.name, () =>
                clusters.reads(environment).rolloutStatus(workloadName),
              ));
          } catch (error) {
            status.rolloutError = (error as Error).message;
          }
        }
        const unreachable = this.options.clusters.reachability.unreachable(
          environment.name,
        );
        if (unreachable) status.unreachable = unreachable;
        return status;
      }),
    );
  }

  /**
   * The live state of a finished deployment from the status cache only,
   * never from the cluster: undefined when the cache cannot answer (not
   * synced, or the Deployment not seen). For views of many services.
   */
  async cachedRollout(
    current: DeploymentRecord,
  ): Promise<RolloutStatus | undefined> {
    const { statusCache, environments } = this.options;
    const environment = environments.get(current.environment);
    if (!statusCache || !environment) return undefined;
    const workloadName = await this.workloadName(
      current.releaseId,
      environment,
    );
    return statusCache.rolloutStatus(environment.name, workloadName);
  }

  private async workloadName(
    releaseId: string,
    environment: EnvironmentConfig,
  ) {
    const key = `${releaseId}/${environment.name}`;
    let name = this.workloadNames.get(key);
    if (!name) {
      const release = await this.options.store.getRelease(releaseId);
      name = renderSnapshot(release, environment).rendered.workloadName;
      // Bounded: a long-running backend sees many releases.
      if (this.workloadNames.size >= 10_000) this.workloadNames.clear();
      this.workloadNames.set(key, name);
    }
    return name;
  }
}
