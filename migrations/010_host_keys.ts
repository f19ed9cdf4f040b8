// 010: SSH host keys pinned at first contact, one per (gateway, host, port). The fingerprint is
// what every later connection must present; a changed key is refused, never re-pinned silently.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('host_keys', (t) => {
    t.text('gateway_id').notNullable();
    t.text('host').notNullable();
    t.integer('port').notNullable();
    // e.g. ssh-ed25519, and OpenSSH's "SHA256:<base64 without padding>" of the key blob.
    t.text('key_type').notNullable();
    t.text('fingerprint').notNullable();
    // The key itself (base64 of its wire form): Ansible's OpenSSH gets a known_hosts line from it.
    t.text('public_key');
    t.bigInteger('pinned_at').notNullable();
    t.primary(['gateway_id', 'host', 'port']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('host_keys');
}
