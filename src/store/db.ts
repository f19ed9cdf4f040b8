// Opens the service's Postgres pool and brings its schema up to date.
import knexFactory, { type Knex } from 'knex';
import { types } from 'pg';
import { MIGRATIONS, type Migration } from '../../migrations';

// int8 columns hold epoch milliseconds and sequence numbers, all far below 2^53: read them as
// numbers instead of pg's default strings.
types.setTypeParser(types.builtins.INT8, (value: string) => Number(value));

export type Db = Knex;
export type Queryable = Knex | Knex.Transaction;

export function openDb(connectionString: string, poolSize: number): Db {
  return knexFactory({
    client: 'pg',
    connection: { connectionString, application_name: 'airavata-metascheduler' },
    pool: { min: 0, max: poolSize },
  });
}

class ListedMigrations implements Knex.MigrationSource<Migration> {
  async getMigrations(): Promise<Migration[]> {
    return [...MIGRATIONS];
  }
  getMigrationName(migration: Migration): string {
    return migration.name;
  }
  async getMigration(migration: Migration): Promise<Knex.Migration> {
    return migration;
  }
}

/**
 * The advisory lock key every replica takes around schema work (ours and graphile-worker's): the
 * bytes of "mssc" read as a number, so it is recognisable in pg_locks.
 */
export const SCHEMA_LOCK_KEY = 0x6d737363;

/**
 * Runs work while holding the schema lock, so replicas started together migrate one after another.
 * Without it two replicas on an empty database both create knex's (or graphile-worker's) tables
 * and one dies on a duplicate key. The lock is held by a connection of its own, outside the pool:
 * the work may need every pooled connection, and the lock ends with that connection if we die.
 */
export async function withSchemaLock<T>(db: Db, work: () => Promise<T>): Promise<T> {
  const connection: LockConnection = await db.client.acquireRawConnection();
  try {
    await connection.query('SELECT pg_advisory_lock($1)', [SCHEMA_LOCK_KEY]);
    try {
      return await work();
    } finally {
      // Closing the connection releases the lock too; unlocking first just hands it on sooner.
      await connection.query('SELECT pg_advisory_unlock($1)', [SCHEMA_LOCK_KEY]).catch(() => undefined);
    }
  } finally {
    await db.client.destroyRawConnection(connection);
  }
}

/** What withSchemaLock needs of the raw pg connection knex hands out. */
interface LockConnection {
  query(sql: string, values: unknown[]): Promise<unknown>;
}

/** Applies every migration not yet applied, each in its own transaction, under the schema lock. */
export async function migrateLatest(db: Db): Promise<string[]> {
  return withSchemaLock(db, async () => {
    const [, applied] = (await db.migrate.latest({ migrationSource: new ListedMigrations() })) as [number, string[]];
    return applied;
  });
}
