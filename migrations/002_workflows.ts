// 002: what the cluster workflows, dispatch and monitoring need.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  // Capacity of a configured node, as the scheduler reports it (sinfo), for placement.
  await knex.schema.alterTable('nodes', (t) => {
    t.integer('cpus');
    t.integer('memory_mb');
    t.text('native_name');
  });
  await knex.schema.alterTable('clusters', (t) => {
    // What the cluster's workflow is doing now (create, delete, scale), for progress and recovery.
    t.text('operation');
    t.integer('target_workers');
  });
  await knex.schema.alterTable('jobs', (t) => {
    t.text('native_state');
    t.text('placement_reason');
    t.bigInteger('dispatched_at');
    t.bigInteger('ended_at');
  });
  // Only live jobs are watched: keep that scan small.
  await knex.raw(
    `CREATE INDEX jobs_live_by_cluster ON jobs (cluster_id)
       WHERE state IN ('SUBMITTED', 'QUEUED', 'ACTIVE', 'SUSPENDED', 'UNKNOWN')`,
  );
  // graphile-worker workers of each service process, with a heartbeat: jobs locked by workers whose
  // process stopped beating are unlocked at the next start instead of after the library's 4 hours.
  await knex.schema.createTable('worker_heartbeats', (t) => {
    t.text('worker_id').primary();
    t.text('process_id').notNullable();
    t.bigInteger('beat_at').notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('worker_heartbeats');
  await knex.raw('DROP INDEX IF EXISTS jobs_live_by_cluster');
  await knex.schema.alterTable('jobs', (t) => {
    t.dropColumns('native_state', 'placement_reason', 'dispatched_at', 'ended_at');
  });
  await knex.schema.alterTable('clusters', (t) => {
    t.dropColumns('operation', 'target_workers');
  });
  await knex.schema.alterTable('nodes', (t) => {
    t.dropColumns('cpus', 'memory_mb', 'native_name');
  });
}
