// 016: each cloud cluster's own SSH key pair. A provider that buys nodes imports the public half
// into the cloud (EC2 ImportKeyPair) so new instances accept it; the private half, sealed under the
// service's secrets key like the gateway keys, signs the service and Ansible in. The pair lives as
// long as the cluster: it is forgotten when the cluster is TERMINATED.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('cluster_keys', (t) => {
    t.text('cluster_id').primary().references('id').inTable('clusters').onDelete('CASCADE');
    t.text('public_key').notNullable();
    t.text('private_key_sealed').notNullable();
    t.bigInteger('created_at').notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('cluster_keys');
}
