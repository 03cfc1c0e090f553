import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import knexFactory, { type Knex } from 'knex';

/**
 * Where a database that several processes open lives: a SQLite file, or a
 * PostgreSQL database. Plain JSON, so a child process gets it through its
 * environment. No Jest in here: runnerProcess.ts (a plain Node process) uses it.
 */
export type SharedDatabaseConnection =
  | { client: 'better-sqlite3'; filename: string }
  | { client: 'pg'; connectionString: string };

/** A Knex client for a shared database; SQLite in WAL mode with a busy timeout, so two processes can write. */
export function knexForShared(connection: SharedDatabaseConnection): Knex {
  if (connection.client === 'pg') {
    return knexFactory({
      client: 'pg',
      connection: connection.connectionString,
      pool: { min: 0, max: 5 },
    });
  }
  return knexFactory({
    client: 'better-sqlite3',
    connection: { filename: connection.filename },
    useNullAsDefault: true,
    pool: {
      afterCreate: (db: any, done: (error: Error | null, db: any) => void) => {
        try {
          db.pragma('journal_mode = WAL');
          db.pragma('busy_timeout = 10000');
          done(null, db);
        } catch (error) {
          done(error as Error, db);
        }
      },
    },
  });
}

export interface SharedDatabase {
  connection: SharedDatabaseConnection;
  /** This process's client. */
  knex: Knex;
  /** "PostgreSQL" or "SQLite file", for test names and messages. */
  description: string;
  /** Closes this process's client and removes the database. */
  destroy(): Promise<void>;
}

/**
 * A fresh database that a test and its child processes share: a new database
 * on the PostgreSQL server of KD_TEST_POSTGRES_URL when it is set, otherwise
 * a SQLite file in a temporary directory.
 */
export async function createSharedDatabase(): Promise<SharedDatabase> {
  const postgresUrl = process.env.KD_TEST_POSTGRES_URL;
  if (postgresUrl) {
    const name = `kd_shared_${randomBytes(6).toString('hex')}`;
    const admin = knexFactory({
      client: 'pg',
      connection: postgresUrl,
      pool: { min: 0, max: 1 },
    });
    try {
      await admin.raw('CREATE DATABASE ??', [name]);
    } finally {
      await admin.destroy();
    }
    const url = new URL(postgresUrl);
    url.pathname = `/${name}`;
    const connection: SharedDatabaseConnection = {
      client: 'pg',
      connectionString: url.toString(),
    };
    const knex = knexForShared(connection);
    return {
      connection,
      knex,
      description: 'PostgreSQL',
      async destroy() {
        await knex.destroy();
        const dropper = knexFactory({
          client: 'pg',
          connection: postgresUrl,
          pool: { min: 0, max: 1 },
        });
        try {
          await dropper.raw('DROP DATABASE IF EXISTS ?? WITH (FORCE)', [name]);
        } finally {
          await dropper.destroy();
        }
      },
    };
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kd-shared-db-'));
  const connection: SharedDatabaseConnection = {
    client: 'better-sqlite3',
    filename: path.join(dir, 'delivery.sqlite'),
  };
  const knex = knexForShared(connection);
  return {
    connection,
    knex,
    description: 'SQLite file',
    async destroy() {
      await knex.destroy();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
