// 009: one live application per install directory on a cluster. Two applications whose names ran
// together ("a-b" and "a" version "b") shared a directory before prefixes used "@"; the second one
// skipped its install and still said INSTALLED. A FAILED one frees its directory for a new try.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`CREATE UNIQUE INDEX applications_cluster_prefix_live ON applications (cluster_id, prefix) WHERE state <> 'FAILED'`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX IF EXISTS applications_cluster_prefix_live');
}
