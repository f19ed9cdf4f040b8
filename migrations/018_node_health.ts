// 018: node health. The node health watch (src/workflows/nodeHealth.ts) marks a configured node its
// scheduler reports lost (Slurm: DOWN, not responding, drained, not listed) with Slurm's reason and
// since when; both are cleared when the node answers again. getCluster shows them on the node.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('nodes', (t) => {
    t.text('lost_reason');
    t.bigInteger('lost_since');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('nodes', (t) => {
    t.dropColumn('lost_since');
    t.dropColumn('lost_reason');
  });
}
