// SQL on job_event_outbox (migrations 004, 007). Rows are written by JobStore in the transaction of
// the state change they report; only the publisher reads, deletes and parks them. A parked row is
// one no sink can ever take: it stays for an operator to read, and is no longer waiting.
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
  /** Whether anything waits: a cheap check run before opening a draining transaction. */
  async any(db: Queryable): Promise<boolean> {
    const row = await db('job_event_outbox').select('id').whereNull('parked_at').orderBy('id').first<{ id: number } | undefined>();
    return row !== undefined;
  }

  /**
   * Takes the drain lock for the rest of the transaction, or returns false when another process
   * (a second replica) is draining. One drainer at a time keeps every job's events in order on
   * the wire; a transaction-scoped lock is released by commit, rollback or a lost connection.
   */
  async tryLockDrain(tx: Queryable): Promise<boolean> {
    const result = await tx.raw<{ rows: { locked: boolean }[] }>(
      `SELECT pg_try_advisory_xact_lock(hashtext('airavata-metascheduler.job_event_outbox')) AS locked`);
    return result.rows[0]?.locked === true;
  }

  /** The oldest waiting (not parked) events, in id order. */
  async takeBatch(db: Queryable, limit: number): Promise<OutboxEvent[]> {
    const rows = await db('job_event_outbox')
      .select('id', 'job_id', 'gateway_id', 'experiment_id', 'process_id', 'task_id', 'job_name', 'state', 'time', 'attempts')
      .whereNull('parked_at').orderBy('id').limit(limit) as OutboxRow[];
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
