// 011: who is dispatching a job right now. Dispatch claims a job in one short statement, submits
// it with no transaction open, then records the result: the claim (not a row lock held across
// sbatch) keeps two dispatchers apart, and a claim whose process stopped beating is taken over.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('jobs', (t) => {
    t.text('dispatch_claimed_by');
    t.bigInteger('dispatch_claimed_at');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('jobs', (t) => {
    t.dropColumn('dispatch_claimed_by');
    t.dropColumn('dispatch_claimed_at');
  });
}
