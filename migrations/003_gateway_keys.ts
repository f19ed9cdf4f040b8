// 003: each gateway's SSH key pair. The private key is stored encrypted (AES-256-GCM under the
// service's secrets key), never in plain text.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('gateway_keys', (t) => {
    t.text('gateway_id').primary();
    t.text('public_key').notNullable();
    t.text('private_key_sealed').notNullable();
    t.bigInteger('created_at').notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('gateway_keys');
}
