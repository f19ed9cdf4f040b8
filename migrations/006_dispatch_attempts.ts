// 006: how many times dispatch has started for a job. Only a job whose dispatch started before
// (and may have reached sbatch before a crash) needs the scheduler searched for it.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('jobs', (t) => {
    t.integer('dispatch_attempts').notNullable().defaultTo(0);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('jobs', (t) => {
    t.dropColumn('dispatch_attempts');
  });
}
