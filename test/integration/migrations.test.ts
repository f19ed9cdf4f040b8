// Migrating up from an empty database gives the schema the stores expect, and down undoes it.
import { MIGRATIONS } from '../../migrations';
import { migrateLatest } from '../../src/store/db';
import { createTestDatabase, type TestDatabase } from '../support/database';

const EXPECTED_TABLES = [
  'allocations', 'applications', 'cluster_events', 'cluster_failures', 'cluster_keys', 'clusters', 'gateway_keys', 'host_keys', 'idempotency_keys',
  'job_event_outbox', 'job_event_outbox_lease', 'job_statuses', 'jobs',
  'nodes', 'secrets_key_check',
  'worker_heartbeats',
];

describe('migrations', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase({ migrate: false });
  });
  afterAll(async () => {
    await database.drop();
  });

  async function tables(): Promise<string[]> {
    const rows = await database.db('information_schema.tables').select('table_name')
      .where({ table_schema: 'public' }).whereNot('table_name', 'like', 'knex_%').orderBy('table_name') as { table_name: string }[];
    return rows.map((row) => row.table_name);
  }

  it('are numbered and applied in order from empty', async () => {
    expect(MIGRATIONS.map((m) => m.name)).toEqual([...MIGRATIONS.map((m) => m.name)].sort());
    MIGRATIONS.forEach((m, i) => expect(m.name.startsWith(String(i + 1).padStart(3, '0'))).toBe(true));
    expect(await migrateLatest(database.db)).toEqual(MIGRATIONS.map((m) => m.name));
    expect(await tables()).toEqual(EXPECTED_TABLES);
    expect(await migrateLatest(database.db)).toEqual([]);
  });

  it('carry the idempotency keys of a submit as unique indexes', async () => {
    const rows = await database.db('pg_indexes').select('indexname', 'indexdef').where({ tablename: 'jobs' }) as
      { indexname: string; indexdef: string }[];
    const unique = rows.filter((r) => r.indexdef.startsWith('CREATE UNIQUE')).map((r) => r.indexname).sort();
    expect(unique).toEqual(['jobs_airavata_ids_key', 'jobs_client_token_key', 'jobs_pkey']);
  });

  it('roll back to an empty schema', async () => {
    for (const migration of [...MIGRATIONS].reverse()) await migration.down(database.db);
    expect(await tables()).toEqual([]);
  });
});
