// 013: each cluster's busy CPUs, kept by Postgres as jobs come and go. Placement used to sum the
// CPUs of every live job of every READY cluster on each submit, which grows with the jobs held;
// now it reads one number per cluster. Statement-level triggers with transition tables keep it:
// every statement that inserts, moves or deletes jobs adds its net change per cluster once, so a
// batch of a thousand jobs costs one update per cluster, whichever code path wrote them.
import type { Knex } from 'knex';

/** States in which a job holds CPUs of its cluster (as placement counts them). */
const LIVE = `('SUBMITTED', 'QUEUED', 'ACTIVE', 'SUSPENDED', 'UNKNOWN')`;

function held(table: string, sign: '+' | '-'): string {
  return `SELECT cluster_id, ${sign}coalesce((spec->>'totalCPUCount')::int, 1) AS cpus
            FROM ${table} WHERE cluster_id IS NOT NULL AND state IN ${LIVE}`;
}

/** A trigger function adding the net change of the given transition tables to clusters.busy_cpus. */
function deltaFunction(name: string, parts: string[]): string {
  // Clusters are updated in id order, so two statements touching the same clusters cannot deadlock.
  return `CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE change record;
    BEGIN
      FOR change IN
        SELECT cluster_id, sum(cpus) AS cpus FROM (${parts.join(' UNION ALL ')}) held
         GROUP BY cluster_id HAVING sum(cpus) <> 0 ORDER BY cluster_id
      LOOP
        UPDATE clusters SET busy_cpus = busy_cpus + change.cpus WHERE id = change.cluster_id;
      END LOOP;
      RETURN NULL;
    END $$`;
}

export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE clusters ADD COLUMN busy_cpus integer NOT NULL DEFAULT 0');
  await knex.raw(`UPDATE clusters c SET busy_cpus = held.cpus
                    FROM (SELECT cluster_id, sum(cpus) AS cpus FROM (${held('jobs', '+')}) j GROUP BY cluster_id) held
                   WHERE held.cluster_id = c.id`);
  await knex.raw(deltaFunction('jobs_busy_cpus_inserted', [held('new_jobs', '+')]));
  await knex.raw(deltaFunction('jobs_busy_cpus_updated', [held('new_jobs', '+'), held('old_jobs', '-')]));
  await knex.raw(deltaFunction('jobs_busy_cpus_deleted', [held('old_jobs', '-')]));
  await knex.raw(`CREATE TRIGGER jobs_busy_cpus_inserted AFTER INSERT ON jobs REFERENCING NEW TABLE AS new_jobs
                  FOR EACH STATEMENT EXECUTE FUNCTION jobs_busy_cpus_inserted()`);
  await knex.raw(`CREATE TRIGGER jobs_busy_cpus_updated AFTER UPDATE ON jobs REFERENCING OLD TABLE AS old_jobs NEW TABLE AS new_jobs
                  FOR EACH STATEMENT EXECUTE FUNCTION jobs_busy_cpus_updated()`);
  await knex.raw(`CREATE TRIGGER jobs_busy_cpus_deleted AFTER DELETE ON jobs REFERENCING OLD TABLE AS old_jobs
                  FOR EACH STATEMENT EXECUTE FUNCTION jobs_busy_cpus_deleted()`);
}

export async function down(knex: Knex): Promise<void> {
  for (const name of ['jobs_busy_cpus_inserted', 'jobs_busy_cpus_updated', 'jobs_busy_cpus_deleted']) {
    await knex.raw(`DROP TRIGGER IF EXISTS ${name} ON jobs`);
    await knex.raw(`DROP FUNCTION IF EXISTS ${name}()`);
  }
  await knex.raw('ALTER TABLE clusters DROP COLUMN IF EXISTS busy_cpus');
}
