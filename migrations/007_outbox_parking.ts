// 007: parking in the job-event outbox. An event no sink can ever take (its own content is at
// fault) is parked: kept with its reason and time for an operator, and skipped by the publisher,
// so that it no longer holds up the events behind it.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('job_event_outbox', (t) => {
    t.bigInteger('parked_at');
    t.text('park_reason');
    // The publisher reads the oldest waiting rows: parked ones must not be scanned on every poll.
    t.index(['id'], 'job_event_outbox_waiting_idx', { predicate: knex.whereNull('parked_at') });
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('job_event_outbox', (t) => {
    t.dropIndex(['id'], 'job_event_outbox_waiting_idx');
    t.dropColumn('park_reason');
    t.dropColumn('parked_at');
  });
}
