// SQL on job_event_outbox and its drain lease (migrations 004, 007, 012). Rows are written by
// JobStore in the transaction of the state change they report; only the publisher holding the
// drain lease reads, deletes and parks them. A parked row is one no sink can ever take: it stays
// for an operator to read, and is no longer waiting.
import type { JobState } from '../domain/types';
import type { Queryable } from '../store/db';

/** One job-status event waiting for delivery. Ids grow with commit order for any one job. */
export interface OutboxEvent {
  id: number;
  jobId: string;
  gatewayId: string;
  experimentId?: string;
  processId?: string;
  taskId?: string;
  jobName: string;
  state: JobState;
  /** Epoch ms of the state change. */
  time: number;
  attempts: number;
}

interface OutboxRow {
  id: number;
  job_id: string;
  gateway_id: string;
  experiment_id: string | null;
  process_id: string | null;
  task_id: string | null;
  job_name: string;
  state: JobState;
  time: number;
  attempts: number;
}

function toEvent(row: OutboxRow): OutboxEvent {
  return {
    id: row.id,
    jobId: row.job_id,
    gatewayId: row.gateway_id,
    ...(row.experiment_id === null ? {} : { experimentId: row.experiment_id }),
    ...(row.process_id === null ? {} : { processId: row.process_id }),
    ...(row.task_id === null ? {} : { taskId: row.task_id }),
    jobName: row.job_name,
    state: row.state,
    time: row.time,
    attempts: row.attempts,
  };
}

export class OutboxStore {
  /** Whether anything waits: a cheap check run before claiming the drain lease. */
  async any(db: Queryable): Promise<boolean> {
    const row = await db('job_event_outbox').select('id').whereNull('parked_at').orderBy('id').first<{ id: number } | undefined>();
    return row !== undefined;
  }

  /**
   * Takes the drain lease (migration 012) for leaseMs, or renews it when it is already ours; false
   * while another publisher holds one that has not expired. One drainer at a time keeps every
   * job's events in order on the wire. One statement, committed at once: nothing stays locked
   * while the holder delivers. The upsert also recreates the row should it ever be missing.
   */
  async claimDrainLease(db: Queryable, holder: string, leaseMs: number): Promise<boolean> {
    const result = await db.raw<{ rows: unknown[] }>(
      `INSERT INTO job_event_outbox_lease AS lease (singleton, holder, expires_at)
       VALUES (true, ?, clock_timestamp() + make_interval(secs => ?))
       ON CONFLICT (singleton) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
       WHERE lease.holder = excluded.holder OR lease.holder IS NULL OR lease.expires_at < clock_timestamp()
       RETURNING lease.holder`,
      [holder, leaseMs / 1000]);
    return result.rows.length === 1;
  }

  /**
   * Extends the lease only while it is still ours: false once another publisher claimed it. Inside
   * a transaction the row stays locked until commit, so nobody can take over between this check
   * and the commit of what the holder records.
   */
  async renewDrainLease(db: Queryable, holder: string, leaseMs: number): Promise<boolean> {
    const result = await db.raw<{ rows: unknown[] }>(
      `UPDATE job_event_outbox_lease SET expires_at = clock_timestamp() + make_interval(secs => ?)
       WHERE holder = ? RETURNING holder`,
      [leaseMs / 1000, holder]);
    return result.rows.length === 1;
  }

  /** Gives the lease up, if still ours, so another replica can drain at once. */
  async releaseDrainLease(db: Queryable, holder: string): Promise<void> {
    await db.raw(`UPDATE job_event_outbox_lease SET holder = NULL, expires_at = '-infinity' WHERE holder = ?`, [holder]);
  }

  /**
   * The oldest waiting (not parked) event of each job, in id order: one event per job per batch.
   * A batch sent and not yet deleted when the process dies is sent again; with two events of a
   * job in it, Airavata would get ACTIVE COMPLETE ACTIVE COMPLETE (a terminal state undone, which
   * it refuses). With one, a resend is the same state twice in a row, which it tolerates. Crash
   * chaos found it. Only the oldest limit * 10 events are looked at, so a round's cost stays
   * bounded however deep the outbox.
   */
  async takeBatch(db: Queryable, limit: number): Promise<OutboxEvent[]> {
    const { rows } = await db.raw(`
      SELECT * FROM (
        SELECT DISTINCT ON (w.job_id) w.* FROM (
          SELECT id, job_id, gateway_id, experiment_id, process_id, task_id, job_name, state, time, attempts
            FROM job_event_outbox WHERE parked_at IS NULL ORDER BY id LIMIT ?) w
         ORDER BY w.job_id, w.id) firsts
       ORDER BY id LIMIT ?`, [limit * 10, limit]) as { rows: OutboxRow[] };
    return rows.map(toEvent);
  }

  async delete(db: Queryable, ids: readonly number[]): Promise<void> {
    if (ids.length > 0) await db('job_event_outbox').whereIn('id', [...ids]).delete();
  }

  /** Counts a failed delivery attempt on events that stay in the outbox. */
  async recordFailure(db: Queryable, ids: readonly number[], error: string): Promise<void> {
    if (ids.length === 0) return;
    await db('job_event_outbox').whereIn('id', [...ids])
      .update({ attempts: db.raw('attempts + 1'), last_error: error.slice(0, 2000) });
  }

  /** Takes events out of the waiting line for good, each with the reason it can never be delivered. */
  async park(db: Queryable, reasons: ReadonlyMap<number, string>, now: number): Promise<void> {
    for (const [id, reason] of reasons) {
      await db('job_event_outbox').where({ id }).update({ parked_at: now, park_reason: reason.slice(0, 2000) });
    }
  }

  async count(db: Queryable): Promise<number> {
    const [row] = await db('job_event_outbox').count<{ count: string | number }[]>('* as count');
    return Number(row?.count ?? 0);
  }
}
