// 012: who drains the job-event outbox right now. One replica at a time publishes, so a job's
// events reach the broker in order; it holds a lease (this one row) instead of a lock inside a
// transaction, so no transaction stays open while a broker or proxy is slow. A holder that dies
// stops renewing, and its lease lapses within seconds for another replica to take over.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('job_event_outbox_lease', (t) => {
    // Always true: the primary key and the check together allow exactly one row, which the
    // first claim inserts (OutboxStore.claimDrainLease).
    t.boolean('singleton').primary().defaultTo(true);
    // NULL when free; else the holding publisher (host:pid:random, one per publisher instance).
    t.text('holder');
    // Compared only with the database's own clock, so the replicas' clocks never matter.
    t.timestamp('expires_at', { useTz: true }).notNullable().defaultTo(knex.raw("'-infinity'"));
  });
  await knex.raw('ALTER TABLE job_event_outbox_lease ADD CONSTRAINT job_event_outbox_lease_one_row CHECK (singleton)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('job_event_outbox_lease');
}
