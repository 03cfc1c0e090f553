import type { LoggerService } from '@backstage/backend-plugin-api';
import type { Knex } from 'knex';
import {
  PAGE_CURSOR,
  pageOf,
  rowsAfterCursor,
} from '../database/newestFirstPage';
import { uuidv7 } from '../database/uuidv7';
import type {
  EnvironmentEvent,
  EnvironmentEventKind,
  EnvironmentEventPage,
  NewEnvironmentEvent,
} from './types';

export const EVENTS_TABLE = 'kd_environment_events';

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

/** Cursor: "<created_at>:<id>" of the last item of a page. */
export const EVENT_CURSOR = PAGE_CURSOR;

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

/**
 * The row of an event, for writers that insert it in their own transaction
 * with the change it tells of (a health check, an approval decision).
 */
export function eventRow(
  event: NewEnvironmentEvent,
  now: number = Date.now(),
): EventRow {
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

/** What records events: routing, certificates, promotions (health and approvals write in their transactions). */
export interface EventRecorder {
  /** Records an event; never throws (a failure is logged: the change it tells of is made). */
  record(event: NewEnvironmentEvent): Promise<void>;
}

/**
 * The environment timeline (`kd_environment_events`): health changes,
 * refused promotions, route and certificate changes and approval decisions,
 * per environment. Created once in plugin.ts. The Release history of a
 * service reads the same table (history/HistoryStore.ts).
 */
export class EnvironmentEvents implements EventRecorder {
  constructor(
    private readonly db: Knex,
    private readonly logger: LoggerService,
  ) {}

  async record(event: NewEnvironmentEvent): Promise<void> {
    try {
      await this.db<EventRow>(EVENTS_TABLE).insert(eventRow(event));
    } catch (error) {
      this.logger.warn(`Could not record in the timeline: ${event.message}`, {
        environment: event.environment,
        kind: event.kind,
        error: (error as Error).message,
      });
    }
  }

  /** One page of an environment's events, newest first. */
  async list(query: {
    environment: string;
    limit: number;
    before?: string;
  }): Promise<EnvironmentEventPage> {
    const rows = await rowsAfterCursor<EventRow>(
      this.db(EVENTS_TABLE).where({ environment: query.environment }),
      query.before,
      query.limit,
    );
    return pageOf(rows, query.limit, toEvent);
  }
}

/** A deploy or promotion the rules refused, as DeliveryService reports it. */
export interface PromotionRefusal {
  environment: string;
  entityRef: string;
  version?: string;
  kind: string;
  actor: string;
  message: string;
}

export function promotionRefusedEvent(
  refusal: PromotionRefusal,
): NewEnvironmentEvent {
  return {
    environment: refusal.environment,
    kind: 'promotion-refused',
    entityRef: refusal.entityRef,
    message: refusal.message,
    details: {
      entityRef: refusal.entityRef,
      ...(refusal.version && { version: refusal.version }),
      deploymentKind: refusal.kind,
    },
    actor: refusal.actor,
  };
}
