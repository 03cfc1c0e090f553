import type { DatabaseService } from '@backstage/backend-plugin-api';
import {
  APPROVAL_EVENT_KINDS,
  type DeploymentKind,
  type HistoryEntry,
  type HistoryEntryKind,
  type HistoryPage,
} from '@internal/plugin-kube-delivery-common';
import type { Knex } from 'knex';
import { toDeployment, type DeploymentRow } from '../database';
import { rowsAfterCursor } from '../database/newestFirstPage';
import { toApiDeployment } from '../delivery/apiViews';
import {
  EVENTS_TABLE,
  toEvent,
  type EnvironmentEventKind,
  type EventRow,
} from '../events';

const DEPLOYMENT_KINDS: readonly string[] = [
  'deploy',
  'promote',
  'rollback',
  'restart',
] satisfies DeploymentKind[];

/** Environment events that belong in a service's timeline. */
const EVENT_KINDS: readonly string[] = [
  ...([
    'route-changed',
    'certificate-changed',
    'promotion-refused',
  ] satisfies EnvironmentEventKind[]),
  // Requested, granted, rejected, expired and bypassed approvals.
  ...APPROVAL_EVENT_KINDS,
];

export interface HistoryQuery {
  entityRef: string;
  environment?: string;
  kind?: HistoryEntryKind;
  limit: number;
  before?: string;
}

/** Reads one service's deployments and the environment events about it as one timeline. */
export interface HistoryStore {
  list(query: HistoryQuery): Promise<HistoryPage>;
}

type Keyed = { createdAt: number; id: string; entry: HistoryEntry };

/** Newest first, ties broken by id, as both SQL queries order. */
function newestFirst(a: Keyed, b: Keyed): number {
  if (a.createdAt !== b.createdAt) return b.createdAt - a.createdAt;
  if (a.id === b.id) return 0;
  return a.id < b.id ? 1 : -1;
}

/**
 * Knex implementation of {@link HistoryStore}. Both tables are ordered by
 * (created_at, id) descending; a page reads `limit + 1` rows of each after the
 * cursor and merges them, so the cursor of the merged page is valid for both.
 */
export class DatabaseHistoryStore implements HistoryStore {
  static async create(options: {
    database: DatabaseService;
  }): Promise<DatabaseHistoryStore> {
    // The delivery and health stores own (and migrate) the tables read here.
    return new DatabaseHistoryStore(await options.database.getClient());
  }

  constructor(private readonly db: Knex) {}

  async list(query: HistoryQuery): Promise<HistoryPage> {
    const wantsDeployments =
      !query.kind || DEPLOYMENT_KINDS.includes(query.kind);
    const wantsEvents = !query.kind || EVENT_KINDS.includes(query.kind);
    const [deployments, events] = await Promise.all([
      wantsDeployments ? this.deployments(query) : [],
      wantsEvents ? this.events(query) : [],
    ]);
    const merged = [...deployments, ...events].sort(newestFirst);
    const page = merged.slice(0, query.limit);
    const last =
      merged.length > query.limit ? page[page.length - 1] : undefined;
    return {
      items: page.map(k => k.entry),
      ...(last && { nextCursor: `${last.createdAt}:${last.id}` }),
    };
  }

  private async deployments(query: HistoryQuery): Promise<Keyed[]> {
    let q = this.db<DeploymentRow>('kd_deployments').where({
      entity_ref: query.entityRef,
    });
    if (query.environment) q = q.where({ environment: query.environment });
    if (query.kind) q = q.where({ kind: query.kind as DeploymentKind });
    const rows = await rowsAfterCursor<DeploymentRow>(
      q,
      query.before,
      query.limit,
    );
    return rows.map(row => {
      const deployment = toApiDeployment(toDeployment(row));
      return {
        createdAt: Number(row.created_at),
        id: row.id,
        entry: {
          id: deployment.id,
          kind: deployment.kind,
          environment: deployment.environment,
          createdAt: deployment.createdAt,
          actor: deployment.createdBy,
          ...(deployment.message && { message: deployment.message }),
          deployment,
        },
      };
    });
  }

  private async events(query: HistoryQuery): Promise<Keyed[]> {
    let q = this.db<EventRow>(EVENTS_TABLE)
      .whereIn('kind', query.kind ? [query.kind] : [...EVENT_KINDS])
      // A gateway certificate is the environment's, not one service's, yet
      // every public service of the environment serves with it.
      .where(about =>
        about
          .where({ entity_ref: query.entityRef })
          .orWhere(shared =>
            shared
              .whereNull('entity_ref')
              .andWhere({ kind: 'certificate-changed' }),
          ),
      );
    if (query.environment) q = q.where({ environment: query.environment });
    const rows = await rowsAfterCursor<EventRow>(q, query.before, query.limit);
    return rows.map(row => {
      const event = toEvent(row);
      return {
        createdAt: Number(row.created_at),
        id: row.id,
        // The plugin's own recorders wrote the details of each kind.
        entry: {
          id: event.id,
          kind: event.kind,
          environment: event.environment,
          createdAt: event.createdAt,
          actor: event.actor,
          message: event.message,
          details: event.details,
        } as unknown as HistoryEntry,
      };
    });
  }
}
