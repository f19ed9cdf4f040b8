// 014: jobs of a cluster by when they last changed. A monitor tick reads only the jobs of its
// cluster that changed since its last read (see src/workflows/liveJobs.ts); without this index that
// read would scan every job the cluster ever ran.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw('CREATE INDEX jobs_cluster_updated ON jobs (cluster_id, updated_at)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX IF EXISTS jobs_cluster_updated');
}
