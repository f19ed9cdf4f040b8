// Dispatch in batches: claiming several jobs of one cluster in one statement, recording their native
// ids in one statement, letting go of the ones to try again. A claim is taken over only once it is
// stale and its process stopped beating; a record is what JobStore.recordDispatch writes for one
// job (SUBMITTED -> QUEUED, its status row, its outbox event), for many jobs per round trip.
import type { JobSpec } from '../domain/types';
import type { Queryable } from './db';

export interface ClaimBatchRequest {
  /** The job whose task is running: claimed first when it can be, whatever its place in line. */
  leadJobId: string;
  clusterId: string;
  gatewayId: string;
  processId: string;
  now: number;
  /** Claims older than this, of a process silent since, are taken over. */
  staleBefore: number;
  limit: number;
}

/** A job this process now holds the dispatch of. */
export interface ClaimedJob {
  jobId: string;
  gatewayId: string;
  spec: JobSpec;
  /** The working directory the job asked for (resolved by the dispatcher). */
  workingDir?: string;
  /** 1 on the first dispatch; more means an earlier one started and may have reached the scheduler. */
  attempt: number;
  /**
   * The pilot placement chose, while it is live: the job starts inside it. (A pilot that ended
   * before the job started is left out: the job goes to the site's queue.)
   */
  pilot?: { allocationId: string; nativeJobId: string };
  /** A cancel asked while an earlier dispatch was unsettled (who asked): it must not run. */
  cancelRequested?: string;
}

/** What recordBatch did: the jobs it could not record, and the recorded ones a cancel waits for. */
export interface RecordOutcome {
  /**
   * Every job NOT recorded (canceled or failed meanwhile, or recorded by someone else), with the
   * native id it carries now, if any: the caller cancels its own native job unless that is the one.
   */
  missed: Map<string, string | undefined>;
  /** Recorded jobs that carry a cancel request (who asked): their native jobs are canceled next. */
  cancelRequested: Map<string, string>;
}

export interface DispatchRecord {
  jobId: string;
  nativeJobId: string;
  workingDir: string;
  reason: string;
}

const CLAIMABLE = `
  j.state = 'SUBMITTED' AND j.native_job_id IS NULL
  AND (j.dispatch_claimed_by IS NULL
    OR (j.dispatch_claimed_at < :staleBefore AND NOT EXISTS (
      SELECT 1 FROM worker_heartbeats h WHERE h.process_id = j.dispatch_claimed_by AND h.beat_at >= :staleBefore)))`;

export class DispatchStore {
  /**
   * Claims up to limit undispatched jobs of the cluster and gateway, counting an attempt on each
   * (committed at once, so a crash after sbatch leaves the count). Besides the lead, only jobs
   * whose own dispatch task is due (not waiting out a retry delay) are taken, oldest first. Rows
   * another claimer is locking right now are skipped, not waited for: two concurrent claims take
   * disjoint jobs.
   */
  async claimBatch(db: Queryable, request: ClaimBatchRequest): Promise<ClaimedJob[]> {
    const { rows } = await db.raw(`
      WITH candidates AS (
        SELECT j.id FROM jobs j
         WHERE j.cluster_id = :clusterId AND j.gateway_id = :gatewayId AND ${CLAIMABLE}
           AND (j.id = :lead OR NOT EXISTS (
             SELECT 1 FROM graphile_worker._private_jobs t
              WHERE t.key = 'dispatch:' || j.id AND t.run_at > now() AND t.locked_at IS NULL))
         ORDER BY (j.id = :lead) DESC, j.created_at, j.id
         LIMIT :limit
         FOR UPDATE OF j SKIP LOCKED)
      UPDATE jobs j SET dispatch_attempts = j.dispatch_attempts + 1, dispatch_claimed_by = :processId, dispatch_claimed_at = :now
        FROM candidates c
       WHERE j.id = c.id AND ${CLAIMABLE}
      RETURNING j.id, j.gateway_id, j.spec, j.working_dir, j.dispatch_attempts, j.allocation_id, j.cancel_requested,
                (SELECT a.native_job_id FROM allocations a WHERE a.id = j.allocation_id AND a.state = 'ACTIVE') AS pilot_native_job_id`, {
      clusterId: request.clusterId, gatewayId: request.gatewayId, lead: request.leadJobId, limit: request.limit,
      processId: request.processId, now: request.now, staleBefore: request.staleBefore,
    }) as { rows: {
      id: string; gateway_id: string; spec: JobSpec; working_dir: string | null; dispatch_attempts: number;
      allocation_id: string | null; pilot_native_job_id: string | null; cancel_requested: string | null;
    }[] };
    return rows.map((row) => ({
      jobId: row.id, gatewayId: row.gateway_id, spec: row.spec, attempt: row.dispatch_attempts,
      ...(row.working_dir === null ? {} : { workingDir: row.working_dir }),
      ...(row.cancel_requested === null ? {} : { cancelRequested: row.cancel_requested }),
      ...(row.allocation_id !== null && row.pilot_native_job_id !== null
        ? { pilot: { allocationId: row.allocation_id, nativeJobId: row.pilot_native_job_id } } : {}),
    }));
  }

  /**
   * Records the native ids in one statement: each job still SUBMITTED and undispatched goes QUEUED
   * with its status row (and outbox event), its claim ended, its pending dispatch task removed
   * (there is nothing left for it to do). See RecordOutcome for what the caller must cancel.
   */
  async recordBatch(db: Queryable, records: readonly DispatchRecord[], now: number, outbox: boolean): Promise<RecordOutcome> {
    if (records.length === 0) return { missed: new Map(), cancelRequested: new Map() };
    // Rows are updated in id order, so two batches can never wait on each other in a cycle.
    const sorted = [...records].sort((a, b) => (a.jobId < b.jobId ? -1 : a.jobId > b.jobId ? 1 : 0));
    const events = outbox ? `,
       events AS (
         INSERT INTO job_event_outbox (job_id, gateway_id, experiment_id, process_id, task_id, job_name, state, time)
         SELECT q.id, q.gateway_id, q.experiment_id, q.process_id, q.task_id, q.job_name, 'QUEUED', :now FROM queued q ORDER BY q.id)` : '';
    const { rows } = await db.raw(`
      WITH input AS (
         SELECT * FROM unnest(CAST(:ids AS text[]), CAST(:natives AS text[]), CAST(:dirs AS text[]), CAST(:reasons AS text[])) AS i(id, native_job_id, working_dir, reason)),
       queued AS (
         UPDATE jobs j SET state = 'QUEUED', native_job_id = i.native_job_id, working_dir = i.working_dir, dispatched_at = :now,
                native_state = 'PENDING', updated_at = :now, dispatch_claimed_by = NULL, dispatch_claimed_at = NULL
           FROM input i
          WHERE j.id = i.id AND j.state = 'SUBMITTED' AND j.native_job_id IS NULL
         RETURNING j.id, j.gateway_id, j.experiment_id, j.process_id, j.task_id, j.job_name, i.reason, j.cancel_requested),
       history AS (
         INSERT INTO job_statuses (job_id, state, time, reason) SELECT q.id, 'QUEUED', :now, q.reason FROM queued q ORDER BY q.id),
       tasks AS (
         SELECT graphile_worker.remove_job('dispatch:' || q.id) FROM queued q)${events}
      SELECT i.id, (q.id IS NOT NULL) AS recorded, q.cancel_requested, (SELECT count(*) FROM tasks) AS removed
        FROM input i LEFT JOIN queued q ON q.id = i.id`, {
      ids: sorted.map((r) => r.jobId), natives: sorted.map((r) => r.nativeJobId), dirs: sorted.map((r) => r.workingDir),
      reasons: sorted.map((r) => r.reason), now,
    }) as { rows: { id: string; recorded: boolean; cancel_requested: string | null }[] };
    const missed = rows.filter((row) => !row.recorded).map((row) => row.id);
    const current = new Map<string, string | undefined>(missed.map((id) => [id, undefined]));
    if (missed.length > 0) {
      const found = await db('jobs').select('id', 'native_job_id').whereIn('id', missed) as { id: string; native_job_id: string | null }[];
      for (const row of found) current.set(row.id, row.native_job_id ?? undefined);
    }
    const cancelRequested = new Map(rows.flatMap((row) => (row.recorded && row.cancel_requested !== null ? [[row.id, row.cancel_requested] as const] : [])));
    return { missed: current, cancelRequested };
  }

  /** Removes the pending dispatch tasks of jobs that need none any more (they ended). */
  async removeTasks(db: Queryable, jobIds: readonly string[]): Promise<void> {
    if (jobIds.length === 0) return;
    await db.raw(`SELECT count(graphile_worker.remove_job('dispatch:' || id)) FROM unnest(?::text[]) AS id`, [[...jobIds]]);
  }

  /**
   * Makes due at once the dispatch tasks of the cluster's undispatched jobs that wait out a retry
   * delay (tried before, not running now), for when the cluster works again after failing: their
   * delays grew with every failed try (e^attempts seconds: 18 minutes before the last). Returns how
   * many.
   */
  async wakeRetries(db: Queryable, clusterId: string): Promise<number> {
    const { rows } = await db.raw(`
      SELECT count(*)::int AS woken FROM graphile_worker.reschedule_jobs(ARRAY(
        SELECT t.id FROM jobs j JOIN graphile_worker._private_jobs t ON t.key = 'dispatch:' || j.id
         WHERE j.cluster_id = ? AND j.state = 'SUBMITTED' AND j.native_job_id IS NULL
           AND t.locked_at IS NULL AND t.attempts > 0 AND t.attempts < t.max_attempts AND t.run_at > now()),
        run_at := now())`, [clusterId]) as { rows: { woken: number }[] };
    return rows[0].woken;
  }

  /** Lets go of claims this process holds (those jobs will be tried again by their own tasks). */
  async releaseBatch(db: Queryable, jobIds: readonly string[], processId: string): Promise<void> {
    if (jobIds.length === 0) return;
    await db('jobs').update({ dispatch_claimed_by: null, dispatch_claimed_at: null })
      .whereIn('id', [...jobIds]).where({ dispatch_claimed_by: processId });
  }
}
