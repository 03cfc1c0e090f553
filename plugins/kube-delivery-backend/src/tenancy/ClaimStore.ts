import type { DatabaseService } from '@backstage/backend-plugin-api';
import { ConflictError, NotFoundError } from '@backstage/errors';
import type { Knex } from 'knex';
import { migratedClient } from '../database/migrate';

import type {
  ClaimKind,
  NameClaim,
} from '@internal/plugin-kube-delivery-common';

// Defined once, in the API spec: a service name or a gateway host, and who holds it.
export type { ClaimKind, NameClaim };

/** A name to claim: its kind and the name. */
export type ClaimedName = Pick<NameClaim, 'kind' | 'name'>;

/** Which entity owns which name in each environment. */
export interface ClaimStore {
  /**
   * Claims every name for the entity, all or nothing: a ConflictError naming
   * the owner when another entity holds one of them.
   */
  claim(
    environment: string,
    entityRef: string,
    names: ClaimedName[],
  ): Promise<void>;
  /** A ConflictError when another entity holds one of the names; claims nothing. */
  assertNotClaimedByOthers(
    environment: string,
    entityRef: string,
    names: ClaimedName[],
  ): Promise<void>;
  /** Gives up the entity's claims of these names (those it holds). */
  releaseOwn(
    environment: string,
    entityRef: string,
    names: ClaimedName[],
  ): Promise<void>;
  /** Removes a claim whoever holds it (a platform admin's action); the claim removed. */
  release(environment: string, name: ClaimedName): Promise<NameClaim>;
  list(environment: string): Promise<NameClaim[]>;
}

type Row = {
  environment: string;
  kind: ClaimKind;
  name: string;
  entity_ref: string;
  claimed_at: number | string;
};

const TABLE = 'kd_name_claims';

/** Entity refs compare case-insensitively in Backstage. */
const sameEntity = (a: string, b: string) =>
  a.toLocaleLowerCase('en-US') === b.toLocaleLowerCase('en-US');

function toClaim(row: Row): NameClaim {
  return {
    environment: row.environment,
    kind: row.kind,
    name: row.name,
    entityRef: row.entity_ref,
    claimedAt: new Date(Number(row.claimed_at)).toISOString(),
  };
}

function conflict(
  environment: string,
  entityRef: string,
  held: Row,
): ConflictError {
  const what = held.kind === 'host' ? "this entity's host" : 'this entity';
  return new ConflictError(
    `The ${held.kind} name "${held.name}" in environment "${environment}" belongs to ${held.entity_ref}, not to ${entityRef}. ` +
      `Two entities can never share a ${held.kind} name in one environment: rename ${what}, ` +
      'or ask a platform admin to release the claim if the other entity is gone.',
  );
}

/** Knex implementation of {@link ClaimStore}, for SQLite and PostgreSQL. */
export class DatabaseClaimStore implements ClaimStore {
  static async create(options: {
    database: DatabaseService;
  }): Promise<DatabaseClaimStore> {
    return new DatabaseClaimStore(await migratedClient(options.database));
  }

  constructor(private readonly db: Knex) {}

  /** The rows of these names; none for no names (not the whole environment). */
  private async held(
    environment: string,
    names: ClaimedName[],
  ): Promise<Row[]> {
    if (names.length === 0) return [];
    return this.db<Row>(TABLE)
      .where({ environment })
      .where(query => {
        for (const { kind, name } of names) query.orWhere({ kind, name });
      });
  }

  async claim(environment: string, entityRef: string, names: ClaimedName[]) {
    if (names.length === 0) return;
    await this.assertNotClaimedByOthers(environment, entityRef, names);
    const now = Date.now();
    await this.db<Row>(TABLE)
      .insert(
        names.map(({ kind, name }) => ({
          environment,
          kind,
          name,
          entity_ref: entityRef,
          claimed_at: now,
        })),
      )
      .onConflict(['environment', 'kind', 'name'])
      .ignore();
    // Two entities claiming at once: the primary key let one insert win.
    await this.assertNotClaimedByOthers(environment, entityRef, names);
  }

  async assertNotClaimedByOthers(
    environment: string,
    entityRef: string,
    names: ClaimedName[],
  ) {
    const rows = await this.held(environment, names);
    const foreign = rows.find(row => !sameEntity(row.entity_ref, entityRef));
    if (foreign) throw conflict(environment, entityRef, foreign);
  }

  async releaseOwn(
    environment: string,
    entityRef: string,
    names: ClaimedName[],
  ) {
    const rows = await this.held(environment, names);
    for (const row of rows.filter(r => sameEntity(r.entity_ref, entityRef))) {
      await this.db<Row>(TABLE)
        .where({
          environment,
          kind: row.kind,
          name: row.name,
          entity_ref: row.entity_ref,
        })
        .delete();
    }
  }

  async release(environment: string, { kind, name }: ClaimedName) {
    const row = await this.db<Row>(TABLE)
      .where({ environment, kind, name })
      .first();
    if (!row) {
      throw new NotFoundError(
        `No claim of ${kind} "${name}" in environment "${environment}"`,
      );
    }
    await this.db<Row>(TABLE)
      .where({ environment, kind, name, entity_ref: row.entity_ref })
      .delete();
    return toClaim(row);
  }

  async list(environment: string) {
    const rows = await this.db<Row>(TABLE)
      .where({ environment })
      .orderBy([
        { column: 'kind', order: 'asc' },
        { column: 'name', order: 'asc' },
      ]);
    return rows.map(toClaim);
  }
}
