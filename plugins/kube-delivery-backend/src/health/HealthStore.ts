import type { DatabaseService } from '@backstage/backend-plugin-api';
import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { migratedClient } from '../database/migrate';
import {
  PAGE_CURSOR,
  pageOf,
  rowsAfterCursor,
} from '../database/newestFirstPage';
import type {
  EnvironmentEvent,
  EnvironmentEventKind,
  EnvironmentHealth,
  HealthFinding,
  HealthStatus,
} from './types';

export type NewEnvironmentEvent = Omit<EnvironmentEvent, 'id' | 'createdAt'>;

export interface EnvironmentEventPage {
  items: EnvironmentEvent[];
  /** Pass as `before` to get the next (older) page. */
  nextCursor?: string;
}

/** Persistence of environment health and the environment timeline. */
export interface HealthStore {
  getHealth(environment: string): Promise<EnvironmentHealth | undefined>;
  /**
   * Stores a check as the environment's latest, and the event, in one
   * transaction, only if the latest is still `expectedCheckedAt` (undefined: none
   * yet). False when another check was stored in between.
   */
  saveHealth(
    health: EnvironmentHealth,
    expectedCheckedAt: string | undefined,
    event?: NewEnvironmentEvent,
  ): Promise<boolean>;
  addEvent(event: NewEnvironmentEvent): Promise<EnvironmentEvent>;
  listEvents(query: {
    environment: string;
    limit: number;
    before?: string;
  }): Promise<EnvironmentEventPage>;
}

type HealthRow = {
  environment: string;
  status: HealthStatus;
  findings: string;
  checked_at: number | string;
};

export type EventRow = {
  id: string;
  environment: string;
  kind: EnvironmentEventKind;
  entity_ref: string | null;
  message: string;
  details: string;
  actor: string;
  created_at: number | string;
};

export function toEvent(row: EventRow): EnvironmentEvent {
  return {
    id: row.id,
    environment: row.environment,
    kind: row.kind,
    ...(row.entity_ref ? { entityRef: row.entity_ref } : {}),
    message: row.message,
    details: JSON.parse(row.details),
    actor: row.actor,
    createdAt: new Date(Number(row.created_at)).toISOString(),
  };
}

let lastMs = 0;
let sequence = 0;

/**
 * A UUIDv7 (RFC 9562): milliseconds first, then a per-process sequence, so
 * events of one millisecond keep their order under `ORDER BY created_at, id`.
 */
export function uuidv7(now: number = Date.now()): string {
  if (now === lastMs) {
    sequence = (sequence + 1) & 0xfff;
  } else {
    lastMs = now;
    sequence = 0;
  }
  const bytes = randomBytes(16);
  bytes.writeUIntBE(now, 0, 6);
  bytes[6] = 0x70 | (sequence >> 8);
  bytes[7] = sequence & 0xff;
  bytes[8] = 0x80 | (bytes[8] & 0x3f);
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(
    12,
    16,
  )}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function eventRow(event: NewEnvironmentEvent): EventRow {
  const now = Date.now();
  return {
    id: uuidv7(now),
    environment: event.environment,
    kind: event.kind,
    entity_ref: event.entityRef ?? null,
    message: event.message,
    details: JSON.stringify(event.details ?? {}),
    actor: event.actor,
    created_at: now,
  };
}

/** Cursor: "<created_at>:<id>" of the last item of a page. */
export const EVENT_CURSOR = PAGE_CURSOR;

/** Knex implementation of {@link HealthStore}, for SQLite and PostgreSQL. */
export class DatabaseHealthStore implements HealthStore {
  static async create(options: {
    database: DatabaseService;
  }): Promise<DatabaseHealthStore> {
    return new DatabaseHealthStore(await migratedClient(options.database));
  }

  constructor(private readonly db: Knex) {}

  async getHealth(environment: string) {
    const row = await this.db<HealthRow>('kd_environment_health')
      .where({ environment })
      .first();
    if (!row) return undefined;
    return {
      environment: row.environment,
      status: row.status,
      findings: JSON.parse(row.findings) as HealthFinding[],
      checkedAt: new Date(Number(row.checked_at)).toISOString(),
    };
  }

  async saveHealth(
    health: EnvironmentHealth,
    expectedCheckedAt: string | undefined,
    event?: NewEnvironmentEvent,
  ) {
    const row: HealthRow = {
      environment: health.environment,
      status: health.status,
      findings: JSON.stringify(health.findings),
      checked_at: Date.parse(health.checkedAt),
    };
    return this.db.transaction(async tx => {
      let written: number;
      if (expectedCheckedAt === undefined) {
        const inserted = await tx<HealthRow>('kd_environment_health')
          .insert(row)
          .onConflict('environment')
          .ignore()
          .returning('environment');
        written = inserted.length;
      } else {
        written = await tx<HealthRow>('kd_environment_health')
          .where({
            environment: health.environment,
            checked_at: Date.parse(expectedCheckedAt),
          })
          .update(row);
      }
      if (written !== 1) return false;
      if (event)
        await tx<EventRow>('kd_environment_events').insert(eventRow(event));
      return true;
    });
  }

  async addEvent(event: NewEnvironmentEvent) {
    const row = eventRow(event);
    await this.db<EventRow>('kd_environment_events').insert(row);
    return toEvent(row);
  }

  async listEvents(query: {
    environment: string;
    limit: number;
    before?: string;
  }) {
    const rows = await rowsAfterCursor<EventRow>(
      this.db('kd_environment_events').where({
        environment: query.environment,
      }),
      query.before,
      query.limit,
    );
    return pageOf(rows, query.limit, toEvent);
  }
}
