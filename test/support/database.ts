// A fresh database per test file on the run's Postgres, migrated to the latest schema.
import { randomBytes } from 'node:crypto';
import { makeWorkerUtils } from 'graphile-worker';
import knexFactory from 'knex';
import { migrateLatest, openDb, type Db } from '../../src/store/db';

export interface TestDatabase {
  url: string;
  db: Db;
  drop(): Promise<void>;
}

export function adminUrl(): string {
  const url = process.env.TEST_ADMIN_DATABASE_URL;
  if (!url) throw new Error('TEST_ADMIN_DATABASE_URL is not set: run the tests through jest (globalSetup starts Postgres)');
  return url;
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/**
 * Creates an empty database; migrate=false leaves it without schema (for migration tests). With
 * queue=true graphile-worker's schema is installed too, as WorkQueue.migrate() does at start: the
 * statements that queue work name graphile_worker.add_job.
 */
export async function createTestDatabase(options: { migrate?: boolean; queue?: boolean } = {}): Promise<TestDatabase> {
  const name = `ms_test_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const admin = knexFactory({ client: 'pg', connection: adminUrl(), pool: { min: 0, max: 1 } });
  try {
    await admin.raw(`CREATE DATABASE ${name}`);
  } finally {
    await admin.destroy();
  }
  const url = withDatabase(adminUrl(), name);
  const db = openDb(url, 8);
  if (options.migrate !== false) await migrateLatest(db);
  if (options.queue) {
    const utils = await makeWorkerUtils({ connectionString: url });
    try {
      await utils.migrate();
    } finally {
      await utils.release();
    }
  }
  return {
    url,
    db,
    async drop() {
      await db.destroy();
      const cleanup = knexFactory({ client: 'pg', connection: adminUrl(), pool: { min: 0, max: 1 } });
      try {
        await cleanup.raw(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await cleanup.destroy();
      }
    },
  };
}
