import type { DatabaseService } from '@backstage/backend-plugin-api';
import { ConflictError } from '@backstage/errors';
import type { RouteRule } from '@internal/plugin-kube-delivery-common';
import type { Knex } from 'knex';
import { migratedClient } from '../database/migrate';
import { uuidv7 } from '../database/uuidv7';

const TABLE = 'kd_route_rules';

export type NewRouteRule = Omit<RouteRule, 'id' | 'createdAt'>;

/** Persistence of routing rules: the source of truth of feature-branch routing. */
export interface RouteStore {
  /**
   * Stores a rule. A ConflictError when a live rule of the entity and
   * environment already matches the same kind, key and value; an expired one
   * is replaced.
   */
  create(rule: NewRouteRule): Promise<RouteRule>;
  get(id: string): Promise<RouteRule | undefined>;
  /** Rules of an entity (optionally of one environment), oldest first; with `now`, only those not expired. */
  list(query: {
    entityRef: string;
    environment?: string;
    now?: Date;
  }): Promise<RouteRule[]>;
  /** Deletes a rule of an entity; the deleted rule, or undefined when there was none. */
  delete(entityRef: string, id: string): Promise<RouteRule | undefined>;
  /** Sets a rule's expiry; the updated rule, or undefined when there was none. */
  setExpiry(
    entityRef: string,
    id: string,
    expiresAt: string,
  ): Promise<RouteRule | undefined>;
  /** Deletes the rules of one branch of an entity in an environment; the deleted rules. */
  deleteBranch(
    entityRef: string,
    environment: string,
    branch: string,
  ): Promise<RouteRule[]>;
  /** Deletes every rule that expired at or before `now`; the deleted rules. */
  deleteExpired(now: Date): Promise<RouteRule[]>;
  /** The services that have rules live at `now`, each once per environment; optionally of one entity in one environment. */
  listTargets(
    now: Date,
    only?: { entityRef: string; environment: string },
  ): Promise<
    Array<{ entityRef: string; environment: string; service: string }>
  >;
}

/** A rule's row: the rule's own fields, its entity and times in columns of their own. */
type RouteRow = Pick<
  RouteRule,
  | 'id'
  | 'environment'
  | 'service'
  | 'branch'
  | 'kind'
  | 'key'
  | 'value'
  | 'owner'
> & {
  entity_ref: string;
  created_at: number | string;
  expires_at: number | string;
};

function toRule(row: RouteRow): RouteRule {
  return {
    id: row.id,
    entityRef: row.entity_ref,
    environment: row.environment,
    service: row.service,
    branch: row.branch,
    kind: row.kind,
    key: row.key,
    value: row.value,
    owner: row.owner,
    createdAt: new Date(Number(row.created_at)).toISOString(),
    expiresAt: new Date(Number(row.expires_at)).toISOString(),
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Knex implementation of {@link RouteStore}, for SQLite and PostgreSQL. */
export class DatabaseRouteStore implements RouteStore {
  static async create(options: {
    database: DatabaseService;
    skipMigrations?: boolean;
  }): Promise<DatabaseRouteStore> {
    return new DatabaseRouteStore(
      await migratedClient(options.database, options.skipMigrations),
    );
  }

  constructor(private readonly db: Knex) {}

  async create(rule: NewRouteRule): Promise<RouteRule> {
    const now = Date.now();
    const expires = Date.parse(rule.expiresAt);
    if (!Number.isFinite(expires)) {
      throw new Error(`Invalid expiry ${rule.expiresAt}`);
    }
    const row: RouteRow = {
      id: uuidv7(now),
      entity_ref: rule.entityRef,
      environment: rule.environment,
      service: rule.service,
      branch: rule.branch,
      kind: rule.kind,
      key: rule.key,
      value: rule.value,
      owner: rule.owner,
      created_at: now,
      expires_at: expires,
    };
    const sameMatch = {
      entity_ref: rule.entityRef,
      environment: rule.environment,
      kind: rule.kind,
      key: rule.key,
      value: rule.value,
    };
    try {
      await this.db.transaction(async tx => {
        // An expired rule that was not swept yet must not block a new one.
        await tx(TABLE)
          .where(sameMatch)
          .andWhere('expires_at', '<=', now)
          .delete();
        await tx(TABLE).insert(row);
      });
    } catch (error) {
      const existing = await this.db<RouteRow>(TABLE).where(sameMatch).first();
      if (existing) {
        throw new ConflictError(
          `A rule for ${rule.kind} ${rule.key}=${rule.value} already exists in ${rule.environment} (id ${existing.id}, branch ${existing.branch}); delete it first`,
        );
      }
      throw error;
    }
    return toRule(row);
  }

  async get(id: string): Promise<RouteRule | undefined> {
    if (!UUID.test(id)) return undefined;
    const row = await this.db<RouteRow>(TABLE).where({ id }).first();
    return row && toRule(row);
  }

  async list(query: {
    entityRef: string;
    environment?: string;
    now?: Date;
  }): Promise<RouteRule[]> {
    let builder = this.db<RouteRow>(TABLE).where({
      entity_ref: query.entityRef,
    });
    if (query.environment !== undefined) {
      builder = builder.andWhere({ environment: query.environment });
    }
    if (query.now) {
      builder = builder.andWhere('expires_at', '>', query.now.getTime());
    }
    const rows = await builder.orderBy([
      { column: 'created_at', order: 'asc' },
      { column: 'id', order: 'asc' },
    ]);
    return rows.map(toRule);
  }

  async delete(entityRef: string, id: string): Promise<RouteRule | undefined> {
    if (!UUID.test(id)) return undefined;
    return this.db.transaction(async tx => {
      const row = await tx<RouteRow>(TABLE)
        .where({ id, entity_ref: entityRef })
        .first();
      if (!row) return undefined;
      await tx(TABLE).where({ id }).delete();
      return toRule(row);
    });
  }

  async setExpiry(
    entityRef: string,
    id: string,
    expiresAt: string,
  ): Promise<RouteRule | undefined> {
    if (!UUID.test(id)) return undefined;
    const expires = Date.parse(expiresAt);
    if (!Number.isFinite(expires))
      throw new Error(`Invalid expiry ${expiresAt}`);
    return this.db.transaction(async tx => {
      const updated = await tx(TABLE)
        .where({ id, entity_ref: entityRef })
        .update({ expires_at: expires });
      if (!updated) return undefined;
      const row = await tx<RouteRow>(TABLE).where({ id }).first();
      return row && toRule(row);
    });
  }

  deleteBranch(
    entityRef: string,
    environment: string,
    branch: string,
  ): Promise<RouteRule[]> {
    return this.deleteWhere(builder =>
      builder.where({ entity_ref: entityRef, environment, branch }),
    );
  }

  deleteExpired(now: Date): Promise<RouteRule[]> {
    return this.deleteWhere(builder =>
      builder.where('expires_at', '<=', now.getTime()),
    );
  }

  /** Deletes the rows selected, returning exactly those (another replica may delete some first). */
  private async deleteWhere(
    select: (
      builder: Knex.QueryBuilder<RouteRow>,
    ) => Knex.QueryBuilder<RouteRow>,
  ): Promise<RouteRule[]> {
    const rows: RouteRow[] = await select(this.db<RouteRow>(TABLE));
    const deleted: RouteRule[] = [];
    for (const row of rows) {
      // One statement per row: whoever deletes a row reports it, once.
      const count = await this.db(TABLE).where({ id: row.id }).delete();
      if (count) deleted.push(toRule(row));
    }
    return deleted;
  }

  async listTargets(
    now: Date,
    only?: { entityRef: string; environment: string },
  ): Promise<
    Array<{ entityRef: string; environment: string; service: string }>
  > {
    const query = this.db<RouteRow>(TABLE)
      .distinct('entity_ref', 'environment', 'service')
      .where('expires_at', '>', now.getTime());
    if (only) {
      query.where({
        entity_ref: only.entityRef,
        environment: only.environment,
      });
    }
    const rows: Array<
      Pick<RouteRow, 'entity_ref' | 'environment' | 'service'>
    > = await query;
    return rows.map(row => ({
      entityRef: row.entity_ref,
      environment: row.environment,
      service: row.service,
    }));
  }
}
