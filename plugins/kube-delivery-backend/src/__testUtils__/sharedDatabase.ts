import { spawn, type ChildProcess } from 'node:child_process';
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

/**
 * A Knex client for a shared database; SQLite in WAL mode with a busy timeout
 * (10 s unless `busyTimeoutMs` says otherwise), so two processes can write.
 */
export function knexForShared(
  connection: SharedDatabaseConnection,
  options: { busyTimeoutMs?: number } = {},
): Knex {
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
          db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 10_000}`);
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

/** Which database a shared database is: a SQLite file, or a PostgreSQL database. */
export type SharedDatabaseKind = 'sqlite' | 'postgres';

/**
 * Both kinds, for `describe.each`: `[description, kind]`, the description as
 * {@link SharedDatabase.description} gives it. The fault, resume, concurrency
 * and property suites run once on each in every run, so the SQLite
 * multi-process path (one file, WAL, busy_timeout, the compare-and-set claim
 * across processes) is tested as often as PostgreSQL.
 */
export const SHARED_DATABASES: ReadonlyArray<[string, SharedDatabaseKind]> = [
  ['SQLite file', 'sqlite'],
  ['PostgreSQL', 'postgres'],
];

/**
 * A fresh database that a test and its child processes share: with `kind`,
 * a SQLite file in a temporary directory or a new database on the PostgreSQL
 * server of KD_TEST_POSTGRES_URL (the PostgreSQL case fails loudly without
 * it, rather than disappear); without `kind`, PostgreSQL when
 * KD_TEST_POSTGRES_URL is set, otherwise SQLite (for the benchmarks).
 */
export async function createSharedDatabase(
  kind?: SharedDatabaseKind,
): Promise<SharedDatabase> {
  const postgresUrl = process.env.KD_TEST_POSTGRES_URL;
  if (kind === 'postgres' && !postgresUrl) {
    throw new Error(
      'KD_TEST_POSTGRES_URL is not set, so the PostgreSQL case cannot run: ' +
        'export KD_TEST_POSTGRES_URL=$(scripts/postgres.sh start) (scripts/test.sh does)',
    );
  }
  if (postgresUrl && kind !== 'sqlite') {
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

/**
 * Another process that takes the database's write lock (SQLite: the whole
 * file, BEGIN IMMEDIATE; PostgreSQL: the deployment's row) and keeps it: a
 * replica caught in a transaction. Frozen with SIGSTOP, it holds the lock
 * until it is killed or thawed and told to commit.
 */
export async function frozenWriteLockHolder(
  c: SharedDatabaseConnection,
  deploymentId: string,
): Promise<{ release(): Promise<void>; kill(): void }> {
  const update = 'UPDATE kd_deployments SET message = message WHERE id = ';
  const script =
    c.client === 'pg'
      ? `const { Client } = require('pg');
         (async () => {
           const client = new Client({ connectionString: ${JSON.stringify(
             c.connectionString,
           )} });
           await client.connect();
           await client.query('BEGIN');
           await client.query(${JSON.stringify(
             `${update}$1`,
           )}, [${JSON.stringify(deploymentId)}]);
           process.on('message', async () => { await client.query('COMMIT'); process.send('committed'); });
           process.send('holding');
         })();`
      : `const Database = require('better-sqlite3');
         const db = new Database(${JSON.stringify(c.filename)});
         db.exec('BEGIN IMMEDIATE');
         db.prepare(${JSON.stringify(`${update}?`)}).run(${JSON.stringify(
          deploymentId,
        )});
         process.on('message', () => { db.exec('COMMIT'); process.send('committed'); });
         process.send('holding');`;
  const child: ChildProcess = spawn(process.execPath, ['-e', script], {
    cwd: path.resolve(__dirname, '../..'),
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const next = () =>
    new Promise(resolve => child.once('message', message => resolve(message)));
  await next();
  child.kill('SIGSTOP');
  return {
    /** Thaws it and lets it commit: the lock is released. */
    async release() {
      if (child.exitCode !== null || child.signalCode === 'SIGKILL') return;
      const committed = next();
      child.send('commit');
      child.kill('SIGCONT');
      await committed;
      child.kill('SIGKILL');
    },
    kill() {
      child.kill('SIGKILL');
    },
  };
}
