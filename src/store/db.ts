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

/** Applies every migration not yet applied; each runs in its own transaction. */
export async function migrateLatest(db: Db): Promise<string[]> {
  const [, applied] = (await db.migrate.latest({ migrationSource: new ListedMigrations() })) as [number, string[]];
  return applied;
}
