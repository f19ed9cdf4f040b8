// 015: proof of which secrets key this database's secrets are sealed with. Every replica must hold
// the same key; one started with another (a replica that generated its own DATA_DIR/secrets.key)
// would store secrets no other replica can open and fail on every secret the others stored. A
// known text sealed under the key is kept here (one row), and a replica whose key cannot open it
// refuses to start.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('secrets_key_check', (t) => {
    // Always true: the primary key and the check together allow exactly one row.
    t.boolean('singleton').primary().defaultTo(true);
    t.text('sealed').notNullable();
    t.bigInteger('created_at').notNullable();
  });
  await knex.raw('ALTER TABLE secrets_key_check ADD CONSTRAINT secrets_key_check_one_row CHECK (singleton)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('secrets_key_check');
}
