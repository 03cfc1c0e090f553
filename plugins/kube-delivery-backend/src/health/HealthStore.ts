import type { DatabaseService } from '@backstage/backend-plugin-api';
import type { Knex } from 'knex';
import { migratedClient } from '../database/migrate';
import {
  eventRow,
  EVENTS_TABLE,
  type EventRow,
  type NewEnvironmentEvent,
} from '../events';
import type { EnvironmentHealth, HealthFinding, HealthStatus } from './types';

/** Persistence of environment health (its changes go to the environment timeline, events/). */
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
}

type HealthRow = {
  environment: string;
  status: HealthStatus;
  findings: string;
  checked_at: number | string;
};

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
        await tx<EventRow>(EVENTS_TABLE).insert(eventRow(event));
      return true;
    });
  }
}
