// The database as a soak watches it: every table of ours and of graphile-worker with its exact row
// count and its total size on disk (table, TOAST and indexes: pg_total_relation_size), the whole
// database's size, and the job-event outbox's depth (rows still waiting to be published) and its
// parked rows (events no sink could take).
import type { Db } from '../../../src/store/db';

export interface TableStats {
  rows: number;
  bytes: number;
}

export interface DbStats {
  /** By `schema.table` for graphile-worker's tables, by bare name for ours (schema public). */
  tables: Record<string, TableStats>;
  databaseBytes: number;
  outboxDepth: number;
  outboxParked: number;
}

export async function dbStats(db: Db): Promise<DbStats> {
  const relations = await db.raw(
    `SELECT n.nspname AS schema, c.relname AS name, pg_total_relation_size(c.oid)::bigint AS bytes
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r' AND n.nspname IN ('public', 'graphile_worker')
      ORDER BY 1, 2`) as { rows: { schema: string; name: string; bytes: string }[] };
  const tables: Record<string, TableStats> = {};
  for (const relation of relations.rows) {
    // Identifiers bound with ?? are quoted by knex; the names come from pg_class, not from input.
    const counted = await db.raw('SELECT count(*)::bigint AS n FROM ??', [`${relation.schema}.${relation.name}`]) as { rows: { n: string }[] };
    const key = relation.schema === 'public' ? relation.name : `${relation.schema}.${relation.name}`;
    tables[key] = { rows: Number(counted.rows[0].n), bytes: Number(relation.bytes) };
  }
  const size = await db.raw('SELECT pg_database_size(current_database())::bigint AS bytes') as { rows: { bytes: string }[] };
  let outboxDepth = 0;
  let outboxParked = 0;
  if (tables.job_event_outbox) {
    const outbox = await db.raw(
      `SELECT count(*) FILTER (WHERE parked_at IS NULL)::bigint AS waiting,
              count(*) FILTER (WHERE parked_at IS NOT NULL)::bigint AS parked
         FROM job_event_outbox`) as { rows: { waiting: string; parked: string }[] };
    outboxDepth = Number(outbox.rows[0].waiting);
    outboxParked = Number(outbox.rows[0].parked);
  }
  return { tables, databaseBytes: Number(size.rows[0].bytes), outboxDepth, outboxParked };
}
