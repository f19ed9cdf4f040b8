// 008: the size of each job's stored spec, kept by Postgres itself. A reply that carries jobs
// (getJobs, listJobs) is sized before it is built; measuring the spec then would mean reading and
// decompressing every spec asked for, which is the very cost the sizing is there to avoid.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE jobs ADD COLUMN spec_bytes integer GENERATED ALWAYS AS (octet_length(spec::text)) STORED');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('jobs', (t) => {
    t.dropColumn('spec_bytes');
  });
}
