// 001: the first schema. Landed migrations are never edited; change the schema with a new file.
// Times are epoch milliseconds (bigint), as Airavata's wire types carry them.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('clusters', (t) => {
    t.text('id').primary();
    t.text('gateway_id').notNullable();
    t.text('user_name').notNullable();
    t.text('name').notNullable();
    t.text('kind').notNullable();
    t.text('provider').notNullable();
    t.text('state').notNullable();
    t.text('state_reason');
    t.jsonb('spec').notNullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
    t.index(['gateway_id', 'created_at']);
  });

  await knex.schema.createTable('allocations', (t) => {
    t.text('id').primary();
    t.text('gateway_id').notNullable();
    t.text('user_name').notNullable();
    t.text('provider').notNullable();
    t.text('state').notNullable();
    t.text('state_reason');
    t.jsonb('request').notNullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
    t.index(['gateway_id', 'created_at']);
  });

  // A node belongs to a cluster, to a bare allocation, or to both (a cluster built on one).
  await knex.schema.createTable('nodes', (t) => {
    t.text('id').primary();
    t.text('cluster_id').references('clusters.id').onDelete('CASCADE');
    t.text('allocation_id').references('allocations.id').onDelete('CASCADE');
    t.text('address').notNullable();
    t.text('state').notNullable();
    t.specificType('roles', 'text[]').notNullable();
    t.text('ssh_user');
    t.integer('ssh_port');
    t.text('provider_resource_id');
    // Order of the hosts as the request listed them (the first is the default controller).
    t.integer('position').notNullable().defaultTo(0);
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
    t.index(['cluster_id']);
    t.index(['allocation_id']);
  });

  await knex.schema.createTable('cluster_events', (t) => {
    t.bigIncrements('seq').primary();
    t.text('cluster_id').notNullable().references('clusters.id').onDelete('CASCADE');
    t.bigInteger('time').notNullable();
    t.text('kind').notNullable();
    t.text('host');
    t.text('task');
    t.text('message').notNullable();
    t.index(['cluster_id', 'seq']);
  });

  await knex.schema.createTable('cluster_failures', (t) => {
    t.bigIncrements('id').primary();
    t.text('cluster_id').notNullable().references('clusters.id').onDelete('CASCADE');
    t.text('step').notNullable();
    t.text('host');
    t.text('task');
    t.text('message').notNullable();
    t.bigInteger('time').notNullable();
    t.index(['cluster_id', 'id']);
  });

  await knex.schema.createTable('jobs', (t) => {
    t.text('id').primary();
    t.text('gateway_id').notNullable();
    t.text('user_name').notNullable();
    t.text('job_name').notNullable();
    t.text('task_id');
    t.text('process_id');
    t.text('experiment_id');
    t.text('client_token');
    // sha256 of the normalized spec: a retried clientToken with a different request is refused.
    t.text('fingerprint').notNullable();
    t.jsonb('spec').notNullable();
    t.text('state').notNullable();
    t.text('cluster_id').references('clusters.id');
    t.text('native_job_id');
    t.integer('exit_code');
    t.text('working_dir');
    t.text('std_out');
    t.text('std_err');
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
    t.index(['gateway_id', 'created_at']);
    t.index(['cluster_id', 'state']);
  });
  // The two idempotency keys of a submit: a client token, or Airavata's own ids.
  await knex.raw(
    'CREATE UNIQUE INDEX jobs_client_token_key ON jobs (gateway_id, client_token) WHERE client_token IS NOT NULL',
  );
  await knex.raw(
    `CREATE UNIQUE INDEX jobs_airavata_ids_key ON jobs (gateway_id, process_id, task_id, job_name)
       WHERE process_id IS NOT NULL AND task_id IS NOT NULL`,
  );

  await knex.schema.createTable('job_statuses', (t) => {
    t.bigIncrements('id').primary();
    t.text('job_id').notNullable().references('jobs.id').onDelete('CASCADE');
    t.text('state').notNullable();
    t.bigInteger('time').notNullable();
    t.text('reason');
    t.index(['job_id', 'id']);
  });

  // Client tokens of calls that create something other than a job (clusters, allocations).
  await knex.schema.createTable('idempotency_keys', (t) => {
    t.text('gateway_id').notNullable();
    t.text('operation').notNullable();
    t.text('key').notNullable();
    t.text('resource_id').notNullable();
    t.text('fingerprint').notNullable();
    t.bigInteger('created_at').notNullable();
    t.primary(['gateway_id', 'operation', 'key']);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['idempotency_keys', 'job_statuses', 'jobs', 'cluster_failures', 'cluster_events', 'nodes',
    'allocations', 'clusters']) {
    await knex.schema.dropTableIfExists(table);
  }
}
