// 017: HPC systems and pilots. A registered HPC system (provider HPC_PILOT) is a cluster whose
// partitions were proven over SSH: they are kept in clusters.site for getCluster and placement.
// A pilot is an allocation holding nodes of such a system through a placeholder job: which system,
// the placeholder's Slurm id, its partition, size and wall time, and when it started and ends.
// A job placed inside a pilot names it in jobs.allocation_id.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('clusters', (t) => {
    t.jsonb('site');
  });
  await knex.schema.alterTable('allocations', (t) => {
    t.text('cluster_id').references('clusters.id').onDelete('SET NULL');
    t.text('native_job_id');
    t.text('partition');
    t.integer('node_count');
    t.integer('wall_time_minutes');
    t.integer('cpus_per_node');
    t.bigInteger('start_time');
    t.bigInteger('end_time');
    t.index(['cluster_id']);
  });
  await knex.schema.alterTable('jobs', (t) => {
    t.text('allocation_id').references('allocations.id').onDelete('SET NULL');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('jobs', (t) => {
    t.dropColumn('allocation_id');
  });
  await knex.schema.alterTable('allocations', (t) => {
    for (const column of ['cluster_id', 'native_job_id', 'partition', 'node_count', 'wall_time_minutes', 'cpus_per_node', 'start_time', 'end_time']) t.dropColumn(column);
  });
  await knex.schema.alterTable('clusters', (t) => {
    t.dropColumn('site');
  });
}
