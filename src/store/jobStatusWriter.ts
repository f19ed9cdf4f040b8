// Writes the state changes one monitor tick observed, for every job at once: one statement moves
// the jobs, appends their history and their outbox events. Per-job transactions cost a round trip
// and a commit each, which at thousands of jobs is most of a tick.
import type { Knex } from 'knex';
import type { JobState } from '../domain/types';
import { canJobMove, IllegalTransitionError } from '../domain/stateMachines';
import type { Queryable } from './db';
import type { StatusChange } from './jobStore';

/** What else is known of a job when it moves; undefined leaves the stored value as it is. */
export interface JobFacts {
  exitCode?: number;
  nativeState?: string;
  stdOut?: string;
  stdErr?: string;
  endedAt?: number;
}

/** One job's observed move. */
export interface ObservedTransition {
  jobId: string;
  /** The state the job was read in: the move is written only if the job is still in it. */
  from: JobState;
  /** The statuses to append, in order; the last one is the job's new state. */
  changes: readonly StatusChange[];
  facts: JobFacts;
}

export interface JobStatusWriterOptions {
  /** Write a job-status event into the outbox with every status (when events are published). */
  outbox: boolean;
}

/**
 * Applies the transitions in one statement and returns the ids of the jobs it moved. A job whose
 * state is no longer the one it was read in (canceled, or moved by another tick meanwhile) is left
 * alone: the UPDATE's guard re-checks the row after any concurrent writer committed, so its history
 * and events are not written either. Each transition is checked against the state machine first;
 * an illegal one is a bug of the caller and throws before anything is written.
 */
export async function writeTransitions(
  db: Queryable, transitions: readonly ObservedTransition[], now: number, options: JobStatusWriterOptions,
): Promise<Set<string>> {
  if (transitions.length === 0) return new Set();
  const seen = new Set<string>();
  for (const t of transitions) {
    if (t.changes.length === 0) throw new Error(`transition of job ${t.jobId} has no status`);
    if (seen.has(t.jobId)) throw new Error(`job ${t.jobId} appears twice in one batch`);
    seen.add(t.jobId);
    let state = t.from;
    for (const change of t.changes) {
      if (!canJobMove(state, change.state)) throw new IllegalTransitionError('job', t.jobId, state, change.state);
      state = change.state;
    }
  }
  // Rows are locked in id order, so two batches can never wait on each other in a cycle.
  const sorted = [...transitions].sort((a, b) => (a.jobId < b.jobId ? -1 : a.jobId > b.jobId ? 1 : 0));
  // knex's types allow no array holding nulls; pg sends a null element as NULL.
  const column = <T extends string | number>(pick: (t: ObservedTransition) => T | undefined): Knex.Value =>
    sorted.map((t) => pick(t) ?? null) as unknown as Knex.Value;
  const statuses = sorted.flatMap((t) => t.changes.map((c) => ({ jobId: t.jobId, ...c })));
  const events = options.outbox ? `,
    events AS (
      INSERT INTO job_event_outbox (job_id, gateway_id, experiment_id, process_id, task_id, job_name, state, time)
      SELECT m.id, m.gateway_id, m.experiment_id, m.process_id, m.task_id, m.job_name, s.state, s.time
        FROM observed_statuses s JOIN moved m ON m.id = s.job_id
       ORDER BY s.n)` : '';
  // Eight columns of the transitions and four of their statuses, each as one array parameter.
  const bindings: Knex.RawBinding[] = [
    sorted.map((t) => t.jobId), sorted.map((t) => t.from), sorted.map((t) => t.changes[t.changes.length - 1].state),
    column((t) => t.facts.exitCode), column((t) => t.facts.nativeState), column((t) => t.facts.stdOut),
    column((t) => t.facts.stdErr), column((t) => t.facts.endedAt),
    statuses.map((s) => s.jobId), statuses.map((s) => s.state), statuses.map((s) => s.time), statuses.map((s) => s.reason),
    now,
  ];
  const result = await db.raw<{ rows: { id: string }[] }>(
    `WITH observed AS (
       SELECT * FROM unnest(?::text[], ?::text[], ?::text[], ?::int[], ?::text[], ?::text[], ?::text[], ?::bigint[])
         AS o(id, from_state, to_state, exit_code, native_state, std_out, std_err, ended_at)),
     observed_statuses AS (
       SELECT * FROM unnest(?::text[], ?::text[], ?::bigint[], ?::text[]) WITH ORDINALITY AS s(job_id, state, time, reason, n)),
     moved AS (
       UPDATE jobs j SET state = o.to_state, updated_at = ?,
              exit_code = coalesce(o.exit_code, j.exit_code),
              native_state = coalesce(o.native_state, j.native_state),
              std_out = coalesce(o.std_out, j.std_out),
              std_err = coalesce(o.std_err, j.std_err),
              ended_at = coalesce(o.ended_at, j.ended_at)
         FROM observed o
        WHERE j.id = o.id AND j.state = o.from_state
       RETURNING j.id, j.gateway_id, j.experiment_id, j.process_id, j.task_id, j.job_name),
     history AS (
       INSERT INTO job_statuses (job_id, state, time, reason)
       SELECT s.job_id, s.state, s.time, s.reason FROM observed_statuses s JOIN moved m ON m.id = s.job_id
        ORDER BY s.n)${events}
     SELECT id FROM moved`,
    bindings,
  );
  return new Set(result.rows.map((row) => row.id));
}
