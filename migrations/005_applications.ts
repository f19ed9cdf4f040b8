// 005: applications installed on clusters (installApplication), and which one a job uses.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('applications', (t) => {
    t.text('id').primary();
    t.text('cluster_id').notNullable().references('clusters.id').onDelete('CASCADE');
    t.text('gateway_id').notNullable();
    t.text('name').notNullable();
    t.text('version');
    t.jsonb('spec').notNullable();
    t.text('state').notNullable();
    t.text('state_reason');
    t.text('prefix').notNullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
    t.index(['cluster_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('applications');
}
