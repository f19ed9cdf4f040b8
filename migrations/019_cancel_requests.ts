// 019: a cancel asked of a job whose dispatch began but recorded nothing. Whether that dispatch
// reached the scheduler only the dispatch can settle (it searches, records what it finds, or is
// still submitting), so the cancel is left on the job for it: the job is canceled in the scheduler
// once recorded, or ends CANCELED when the search finds nothing.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('jobs', (t) => {
    t.text('cancel_requested');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('jobs', (t) => {
    t.dropColumn('cancel_requested');
  });
}
