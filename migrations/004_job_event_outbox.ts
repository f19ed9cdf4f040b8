// 004: the outbox of job-status events toward Airavata. A row is written in the same transaction
// as the state change it reports; the publisher deletes it only once the broker confirmed it.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('job_event_outbox', (t) => {
    t.bigIncrements('id').primary();
    t.text('job_id').notNullable();
    t.text('gateway_id').notNullable();
    t.text('experiment_id');
    t.text('process_id');
    t.text('task_id');
    t.text('job_name').notNullable();
    t.text('state').notNullable();
    t.bigInteger('time').notNullable();
    t.integer('attempts').notNullable().defaultTo(0);
    t.text('last_error');
    // per-job order is id order
    t.index(['job_id', 'id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('job_event_outbox');
}
