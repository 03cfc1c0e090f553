import type { DatabaseService } from '@backstage/backend-plugin-api';
import { ConflictError, NotFoundError } from '@backstage/errors';
import type {
  ApprovalState,
  Deployment,
  DeploymentKind,
  DeploymentStatus,
  DeploymentStep,
  DeploymentStrategy,
  Release,
} from '@internal/plugin-kube-delivery-common';
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { EVENTS_TABLE } from '../events';
import { approvalEventRow, type ApprovalEventInput } from './approvalEvents';
import { migratedClient } from './migrate';
import { pageOf, rowsAfterCursor } from './newestFirstPage';

/** What a release froze at creation: the service spec and its manifest text. */
export interface ReleaseSnapshot {
  /** The validated service spec (see catalog/), as JSON. */
  spec: Record<string, unknown>;
  /** The service's manifest YAML as read from its location, if it has one. */
  manifest?: string;
}

export interface ReleaseRecord extends Release {
  snapshot: ReleaseSnapshot;
}

export interface DeploymentRecord extends Deployment {
  /** `mainline` or the feature-branch slug: one active deployment per track. */
  track: string;
  /** The runner's checkpoint, so a resumed job continues where it stopped. */
  phase: string;
  previousReleaseId?: string;
  leaseOwner?: string;
  leaseExpiresAt?: number;
  attempts: number;
  cleanupAfter?: number;
}

export interface NewDeployment {
  entityRef: string;
  environment: string;
  track: string;
  releaseId: string;
  version: string;
  kind: DeploymentKind;
  strategy: DeploymentStrategy;
  createdBy: string;
  previousReleaseId?: string;
  /**
   * Into a protected environment: `waiting` stores it as `waiting-approval`
   * (no runner claims it until it is approved), `bypassed` queues it at once.
   * The event is written in the same transaction.
   */
  approval?: NewDeploymentApproval;
}

/** How a deployment into a protected environment starts. */
export type NewDeploymentApproval =
  | { state: 'waiting'; expiresAt: number; event: ApprovalEventInput }
  | { state: 'bypassed'; by: string; event: ApprovalEventInput };

/** A decision on a deployment waiting for approval. */
export interface ApprovalDecision {
  /** `approved` queues it; `rejected` and `expired` finish it. */
  state: 'approved' | 'rejected' | 'expired';
  by: string;
  /** Epoch milliseconds. */
  at: number;
  reason?: string;
  /** The deployment's message from now on. */
  message: string;
  /** The history event, written in the same transaction. */
  event: ApprovalEventInput;
}

/** Fields a runner may change while it holds the lease. */
export interface DeploymentUpdate {
  status?: DeploymentStatus;
  phase?: string;
  steps?: DeploymentStep[];
  message?: string;
  startedAt?: number;
  finishedAt?: number;
  cleanupAfter?: number | null;
  previousReleaseId?: string;
}

export interface DeploymentPage {
  items: DeploymentRecord[];
  /** Pass as `before` to get the next (older) page. */
  nextCursor?: string;
}

/** Persistence of releases and deployment jobs. */
/** What {@link DeliveryStore.latestByEnvironment} answers. */
export interface LatestDeployments {
  succeeded: DeploymentRecord[];
  /** The newest that ended, whatever its outcome (failed, rolled back, ...). */
  finished: DeploymentRecord[];
  active: DeploymentRecord[];
}

/** Entity refs per query: SQLite allows 999 bound parameters in older builds. */
const REFS_PER_QUERY = 500;

export interface DeliveryStore {
  createRelease(
    release: Omit<ReleaseRecord, 'id' | 'createdAt'>,
  ): Promise<ReleaseRecord>;
  getRelease(id: string): Promise<ReleaseRecord>;
  findRelease(
    entityRef: string,
    version: string,
  ): Promise<ReleaseRecord | undefined>;
  listReleases(entityRef: string, limit: number): Promise<ReleaseRecord[]>;

  /** Queues a deployment; a ConflictError when one is already active for the track. */
  createDeployment(deployment: NewDeployment): Promise<DeploymentRecord>;
  getDeployment(id: string): Promise<DeploymentRecord>;
  listDeployments(query: {
    entityRef: string;
    environment?: string;
    limit: number;
    before?: string;
  }): Promise<DeploymentPage>;
  /** The newest deployment that succeeded on a track, if any. */
  lastSucceeded(
    entityRef: string,
    environment: string,
    track: string,
  ): Promise<DeploymentRecord | undefined>;
  /** Active deployments of an entity. */
  listActive(entityRef: string): Promise<DeploymentRecord[]>;
  /**
   * For many entities at once (the Deliveries matrix): per entity and
   * environment on the track, the newest succeeded and the newest finished
   * deployment, and every active one. A few queries, whatever the count.
   */
  latestByEnvironment(
    entityRefs: readonly string[],
    track: string,
  ): Promise<LatestDeployments>;
  /** Whether a release has ever been deployed successfully to an environment. */
  hasSucceeded(releaseId: string, environment: string): Promise<boolean>;

  /**
   * Decides a deployment waiting for approval: approved or rejected only
   * before it expires, expired only after. Undefined (nothing written) when
   * it is not waiting, or the expiry says otherwise: another decision came
   * first.
   */
  decideApproval(
    id: string,
    decision: ApprovalDecision,
  ): Promise<DeploymentRecord | undefined>;
  /** Deployments waiting for approval whose expiry has passed, oldest first. */
  listExpiredApprovals(
    now: number,
    limit: number,
    track?: { entityRef: string; environment: string },
  ): Promise<DeploymentRecord[]>;

  /** Claims the oldest queued or running deployment whose lease is free or expired (never one waiting for approval). */
  claimNext(
    owner: string,
    leaseMs: number,
    options?: {
      /**
       * Deployments not to claim: those the caller still runs a job for. A
       * job whose lease lapsed (its replica was paused) must not be claimed
       * again under the same owner while it is alive: it would run twice,
       * its stale half passing every lease check of the new one.
       */
      exclude?: string[];
    },
  ): Promise<DeploymentRecord | undefined>;
  /** Extends a held lease; false when the lease was lost. */
  renewLease(id: string, owner: string, leaseMs: number): Promise<boolean>;
  /** Writes progress only while `owner` holds an unexpired lease; false otherwise. `freeLease`: the job is over, the lease and the track are freed. */
  updateDeployment(
    id: string,
    owner: string,
    update: DeploymentUpdate & { freeLease?: boolean },
  ): Promise<boolean>;
  /** Succeeded blue-green deployments whose previous workload is due for removal. */
  listDueCleanups(now: number): Promise<DeploymentRecord[]>;
  clearCleanup(id: string): Promise<void>;
}

type ReleaseRow = {
  id: string;
  entity_ref: string;
  version: string;
  image_ref: string;
  channel: string;
  branch: string | null;
  snapshot: string;
  created_at: number | string;
  created_by: string;
};

export type DeploymentRow = {
  id: string;
  entity_ref: string;
  environment: string;
  track: string;
  release_id: string;
  version: string;
  kind: DeploymentKind;
  strategy: DeploymentStrategy;
  status: DeploymentStatus;
  active: boolean | number;
  phase: string;
  steps: string;
  message: string | null;
  previous_release_id: string | null;
  created_by: string;
  created_at: number | string;
  started_at: number | string | null;
  finished_at: number | string | null;
  lease_owner: string | null;
  lease_expires_at: number | string | null;
  attempts: number;
  cleanup_after: number | string | null;
  /** Absent in rows written before approvals existed (tests, benchmarks). */
  approval?: ApprovalState | null;
  approval_expires_at?: number | string | null;
  approval_decided_by?: string | null;
  approval_decided_at?: number | string | null;
  approval_reason?: string | null;
};

/** The status of a deployment waiting for approval; active (it holds its track), never claimed. */
const WAITING: DeploymentStatus = 'waiting-approval';

// PostgreSQL returns bigint columns as strings.
const toNumber = (value: number | string | null) =>
  value === null ? undefined : Number(value);
const toIso = (value: number | string | null | undefined) =>
  value === null || value === undefined
    ? undefined
    : new Date(Number(value)).toISOString();

function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: string; message?: string };
  return (
    e?.code === '23505' ||
    e?.code === 'SQLITE_CONSTRAINT_UNIQUE' ||
    /UNIQUE constraint failed/.test(e?.message ?? '')
  );
}

/**
 * SQLite's answer when another connection kept the write lock for longer than
 * the busy timeout (SQLITE_BUSY and its extended codes). PostgreSQL waits for
 * a row lock instead of answering.
 */
function isDatabaseLocked(error: unknown): boolean {
  return /^SQLITE_(BUSY|LOCKED)/.test(
    String((error as { code?: unknown })?.code),
  );
}

function toRelease(row: ReleaseRow): ReleaseRecord {
  return {
    id: row.id,
    entityRef: row.entity_ref,
    version: row.version,
    imageRef: row.image_ref,
    channel: row.channel,
    branch: row.branch ?? undefined,
    createdAt: toIso(row.created_at)!,
    createdBy: row.created_by,
    snapshot: JSON.parse(row.snapshot),
  };
}

export function toDeployment(row: DeploymentRow): DeploymentRecord {
  return {
    id: row.id,
    entityRef: row.entity_ref,
    environment: row.environment,
    track: row.track,
    releaseId: row.release_id,
    version: row.version,
    kind: row.kind,
    strategy: row.strategy,
    status: row.status,
    phase: row.phase,
    steps: JSON.parse(row.steps),
    message: row.message ?? undefined,
    previousReleaseId: row.previous_release_id ?? undefined,
    createdBy: row.created_by,
    createdAt: toIso(row.created_at)!,
    startedAt: toIso(row.started_at),
    finishedAt: toIso(row.finished_at),
    leaseOwner: row.lease_owner ?? undefined,
    leaseExpiresAt: toNumber(row.lease_expires_at),
    attempts: Number(row.attempts),
    cleanupAfter: toNumber(row.cleanup_after),
    ...(row.approval && {
      approval: {
        state: row.approval,
        ...(row.approval_expires_at !== null &&
          row.approval_expires_at !== undefined && {
            expiresAt: toIso(row.approval_expires_at),
          }),
        ...(row.approval_decided_by && {
          decidedBy: row.approval_decided_by,
        }),
        ...(row.approval_decided_at !== null &&
          row.approval_decided_at !== undefined && {
            decidedAt: toIso(row.approval_decided_at),
          }),
        ...(row.approval_reason && { reason: row.approval_reason }),
      },
    }),
  };
}

/** Knex implementation of {@link DeliveryStore}, for SQLite and PostgreSQL. */
export class DatabaseDeliveryStore implements DeliveryStore {
  static async create(options: {
    database: DatabaseService;
    skipMigrations?: boolean;
  }): Promise<DatabaseDeliveryStore> {
    return new DatabaseDeliveryStore(
      await migratedClient(options.database, options.skipMigrations),
    );
  }

  constructor(private readonly db: Knex) {}

  async createRelease(
    release: Omit<ReleaseRecord, 'id' | 'createdAt'>,
  ): Promise<ReleaseRecord> {
    const row: ReleaseRow = {
      id: randomUUID(),
      entity_ref: release.entityRef,
      version: release.version,
      image_ref: release.imageRef,
      channel: release.channel,
      branch: release.branch ?? null,
      snapshot: JSON.stringify(release.snapshot),
      created_at: Date.now(),
      created_by: release.createdBy,
    };
    try {
      await this.db<ReleaseRow>('kd_releases').insert(row);
    } catch (error) {
      if (isUniqueViolation(error)) {
        throw new ConflictError(
          `Release ${release.version} of ${release.entityRef} already exists; releases are immutable, so publish a new version`,
        );
      }
      throw error;
    }
    return toRelease(row);
  }

  async getRelease(id: string): Promise<ReleaseRecord> {
    const row = await this.db<ReleaseRow>('kd_releases').where({ id }).first();
    if (!row) throw new NotFoundError(`No release with id ${id}`);
    return toRelease(row);
  }

  async findRelease(entityRef: string, version: string) {
    const row = await this.db<ReleaseRow>('kd_releases')
      .where({ entity_ref: entityRef, version })
      .first();
    return row ? toRelease(row) : undefined;
  }

  async listReleases(entityRef: string, limit: number) {
    const rows = await this.db<ReleaseRow>('kd_releases')
      .where({ entity_ref: entityRef })
      .orderBy([
        { column: 'created_at', order: 'desc' },
        { column: 'id', order: 'desc' },
      ])
      .limit(limit);
    return rows.map(toRelease);
  }

  async createDeployment(d: NewDeployment): Promise<DeploymentRecord> {
    const now = Date.now();
    const row: DeploymentRow = {
      id: randomUUID(),
      entity_ref: d.entityRef,
      environment: d.environment,
      track: d.track,
      release_id: d.releaseId,
      version: d.version,
      kind: d.kind,
      strategy: d.strategy,
      status: d.approval?.state === 'waiting' ? WAITING : 'queued',
      active: true,
      phase: 'start',
      steps: '[]',
      message: null,
      previous_release_id: d.previousReleaseId ?? null,
      created_by: d.createdBy,
      created_at: now,
      started_at: null,
      finished_at: null,
      lease_owner: null,
      lease_expires_at: null,
      attempts: 0,
      cleanup_after: null,
      ...(d.approval && {
        approval: d.approval.state,
        approval_expires_at:
          d.approval.state === 'waiting' ? d.approval.expiresAt : null,
        approval_decided_by:
          d.approval.state === 'bypassed' ? d.approval.by : null,
        approval_decided_at: d.approval.state === 'bypassed' ? now : null,
        message: d.approval.event.message,
      }),
    };
    try {
      const approval = d.approval;
      if (approval) {
        await this.db.transaction(async tx => {
          await tx<DeploymentRow>('kd_deployments').insert(row);
          await tx(EVENTS_TABLE).insert(
            approvalEventRow(toDeployment(row), approval.event, now),
          );
        });
      } else {
        await this.db<DeploymentRow>('kd_deployments').insert(row);
      }
    } catch (error) {
      if (isUniqueViolation(error)) {
        throw new ConflictError(
          `A deployment of ${d.entityRef} to ${d.environment} (${d.track}) is already queued or running; wait for it to finish and try again`,
        );
      }
      throw error;
    }
    return toDeployment(row);
  }

  async getDeployment(id: string): Promise<DeploymentRecord> {
    const row = await this.db<DeploymentRow>('kd_deployments')
      .where({ id })
      .first();
    if (!row) throw new NotFoundError(`No deployment with id ${id}`);
    return toDeployment(row);
  }

  async listDeployments(query: {
    entityRef: string;
    environment?: string;
    limit: number;
    before?: string;
  }): Promise<DeploymentPage> {
    let q = this.db<DeploymentRow>('kd_deployments').where({
      entity_ref: query.entityRef,
    });
    if (query.environment) q = q.where({ environment: query.environment });
    const rows = await rowsAfterCursor<DeploymentRow>(
      q,
      query.before,
      query.limit,
    );
    return pageOf(rows, query.limit, toDeployment);
  }

  async lastSucceeded(entityRef: string, environment: string, track: string) {
    const row = await this.db<DeploymentRow>('kd_deployments')
      .where({ entity_ref: entityRef, environment, track, status: 'succeeded' })
      .orderBy([
        { column: 'finished_at', order: 'desc' },
        { column: 'id', order: 'desc' },
      ])
      .first();
    return row ? toDeployment(row) : undefined;
  }

  async listActive(entityRef: string) {
    const rows = await this.db<DeploymentRow>('kd_deployments').where({
      entity_ref: entityRef,
      active: true,
    });
    return rows.map(toDeployment);
  }

  async latestByEnvironment(
    entityRefs: readonly string[],
    track: string,
  ): Promise<LatestDeployments> {
    const result: LatestDeployments = {
      succeeded: [],
      finished: [],
      active: [],
    };
    for (let i = 0; i < entityRefs.length; i += REFS_PER_QUERY) {
      const refs = entityRefs.slice(i, i + REFS_PER_QUERY);
      // The newest row per entity and environment, by a window function
      // (SQLite 3.25+ and PostgreSQL), so history length does not matter.
      const newest = (succeededOnly: boolean) =>
        this.db
          .select('*')
          .from(
            this.db<DeploymentRow>('kd_deployments')
              .select(
                '*',
                this.db.raw(
                  'row_number() over (partition by entity_ref, environment order by finished_at desc, id desc) as newest',
                ),
              )
              .whereIn('entity_ref', refs)
              .andWhere({ track, active: false })
              .whereNotNull('finished_at')
              .modify(q => {
                if (succeededOnly) q.andWhere({ status: 'succeeded' });
              })
              .as('ranked'),
          )
          .where('newest', 1);
      const [succeeded, finished, active] = await Promise.all([
        newest(true),
        newest(false),
        this.db<DeploymentRow>('kd_deployments')
          .whereIn('entity_ref', refs)
          .andWhere({ active: true }),
      ]);
      result.succeeded.push(...succeeded.map(toDeployment));
      result.finished.push(...finished.map(toDeployment));
      result.active.push(...active.map(toDeployment));
    }
    return result;
  }

  async hasSucceeded(releaseId: string, environment: string) {
    const row = await this.db<DeploymentRow>('kd_deployments')
      .where({ release_id: releaseId, environment, status: 'succeeded' })
      .first('id');
    return row !== undefined;
  }

  async decideApproval(id: string, decision: ApprovalDecision) {
    const update: Partial<DeploymentRow> = {
      approval: decision.state,
      approval_decided_by: decision.by,
      approval_decided_at: decision.at,
      approval_reason: decision.reason ?? null,
      message: decision.message,
      ...(decision.state === 'approved'
        ? { status: 'queued' }
        : {
            status: decision.state,
            active: false,
            finished_at: decision.at,
          }),
    };
    return this.db.transaction(async tx => {
      const updated = await tx<DeploymentRow>('kd_deployments')
        .where({ id, status: WAITING })
        .andWhere(
          'approval_expires_at',
          decision.state === 'expired' ? '<=' : '>',
          decision.at,
        )
        .update(update);
      if (updated !== 1) return undefined;
      const row = await tx<DeploymentRow>('kd_deployments')
        .where({ id })
        .first();
      const deployment = toDeployment(row!);
      await tx(EVENTS_TABLE).insert(
        approvalEventRow(deployment, decision.event, decision.at),
      );
      return deployment;
    });
  }

  async listExpiredApprovals(
    now: number,
    limit: number,
    track?: { entityRef: string; environment: string },
  ) {
    let q = this.db<DeploymentRow>('kd_deployments')
      .where({ status: WAITING })
      .andWhere('approval_expires_at', '<=', now);
    if (track) {
      q = q.where({
        entity_ref: track.entityRef,
        environment: track.environment,
      });
    }
    const rows = await q.orderBy('approval_expires_at', 'asc').limit(limit);
    return rows.map(toDeployment);
  }

  async claimNext(
    owner: string,
    leaseMs: number,
    options: { exclude?: string[] } = {},
  ) {
    const now = Date.now();
    const exclude = options.exclude ?? [];
    const candidates = await this.db<DeploymentRow>('kd_deployments')
      .where({ active: true })
      .modify(query => {
        if (exclude.length) query.whereNotIn('id', exclude);
      })
      .whereNot({ status: WAITING })
      .andWhere(free =>
        free
          .whereNull('lease_expires_at')
          .orWhere('lease_expires_at', '<', now),
      )
      .orderBy('created_at', 'asc')
      .limit(5);
    for (const candidate of candidates) {
      // Compare-and-set on the lease we read: only one replica wins.
      const claimed = await this.db<DeploymentRow>('kd_deployments')
        .where({ id: candidate.id, active: true })
        .whereNot({ status: WAITING })
        .andWhere(same =>
          candidate.lease_expires_at === null
            ? same.whereNull('lease_expires_at')
            : same.where('lease_expires_at', '=', candidate.lease_expires_at),
        )
        .update({
          lease_owner: owner,
          lease_expires_at: now + leaseMs,
          attempts: Number(candidate.attempts) + 1,
        });
      if (claimed === 1) return this.getDeployment(candidate.id);
    }
    return undefined;
  }

  async renewLease(id: string, owner: string, leaseMs: number) {
    let now = Date.now();
    const renewed = await this.leaseHolderWrite(id, owner, () => {
      now = Date.now();
      return this.db<DeploymentRow>('kd_deployments')
        .where({ id, lease_owner: owner, active: true })
        .andWhere('lease_expires_at', '>', now)
        .update({ lease_expires_at: now + leaseMs });
    });
    // A renewal that waited (for a row lock) until the lease it extends had
    // run out did not renew it.
    return renewed && Date.now() < now + leaseMs;
  }

  /**
   * A write that needs `owner`'s unexpired lease: true when it landed, false
   * when the lease is not (or no longer) `owner`'s.
   *
   * A SQLite file's write lock held by another process (a replica frozen in a
   * transaction) makes a write fail with SQLITE_BUSY after the connection's
   * busy timeout. That is waited out, try after try, for as long as the lease
   * lasts; once it has run out (or another replica took the deployment over)
   * the write is dropped and the answer is false, as PostgreSQL answers once
   * the blocking transaction ends. Never the error: a failed renewal would
   * leave the job running without knowing its lease was gone (its runner
   * could claim the deployment again and run it twice under the same owner),
   * and a failed progress write would fail the step over a lock.
   */
  private async leaseHolderWrite(
    id: string,
    owner: string,
    write: () => Promise<number>,
  ): Promise<boolean> {
    for (;;) {
      try {
        return (await write()) === 1;
      } catch (error) {
        if (!isDatabaseLocked(error)) throw error;
        // Readers are not blocked by the write lock (WAL).
        const lease = await this.db<DeploymentRow>('kd_deployments')
          .where({ id })
          .first('lease_owner', 'lease_expires_at');
        const expiresAt = toNumber(lease?.lease_expires_at ?? null);
        if (
          lease?.lease_owner !== owner ||
          expiresAt === undefined ||
          expiresAt <= Date.now()
        ) {
          return false;
        }
        await new Promise(resolve => setTimeout(resolve, 100));
      }
    }
  }

  async updateDeployment(
    id: string,
    owner: string,
    update: DeploymentUpdate & { freeLease?: boolean },
  ) {
    const row: Partial<DeploymentRow> = {};
    if (update.status !== undefined) row.status = update.status;
    if (update.phase !== undefined) row.phase = update.phase;
    if (update.steps !== undefined) row.steps = JSON.stringify(update.steps);
    if (update.message !== undefined) row.message = update.message;
    if (update.startedAt !== undefined) row.started_at = update.startedAt;
    if (update.finishedAt !== undefined) row.finished_at = update.finishedAt;
    if (update.cleanupAfter !== undefined)
      row.cleanup_after = update.cleanupAfter;
    if (update.previousReleaseId !== undefined) {
      row.previous_release_id = update.previousReleaseId;
    }
    if (update.freeLease) {
      // The job is over: free the track for the next deployment.
      row.active = false;
      row.lease_owner = null;
      row.lease_expires_at = null;
    }
    return this.leaseHolderWrite(id, owner, () =>
      this.db<DeploymentRow>('kd_deployments')
        .where({ id, lease_owner: owner })
        .andWhere('lease_expires_at', '>', Date.now())
        .update(row),
    );
  }

  async listDueCleanups(now: number) {
    const rows = await this.db<DeploymentRow>('kd_deployments')
      .whereNotNull('cleanup_after')
      .andWhere('cleanup_after', '<=', now);
    return rows.map(toDeployment);
  }

  async clearCleanup(id: string) {
    await this.db<DeploymentRow>('kd_deployments')
      .where({ id })
      .update({ cleanup_after: null });
  }
}
