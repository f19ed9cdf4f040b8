// What the crash-chaos suite concludes about one job, from three independent records: the
// service's own history of it (getJob), the job-status events that reached RabbitMQ, and Slurm's
// job completion log. Pure functions, so each rule is tested on its own (chaosVerdicts.test.ts)
// and a failure names the job and the evidence.
import { JOB_NAME_PREFIX } from '../../../src/schedulers/slurm/batchScript';
import { parseJobcompRecord, splitJobcompRecords, type JobcompRecord } from '../../../src/schedulers/slurm/jobcomp';

const FINAL = new Set(['COMPLETE', 'CANCELED', 'FAILED']);

/** Where each state may stand in a job's life in this suite (nothing else is expected of a chaos run). */
const RANK: Readonly<Record<string, number>> = { SUBMITTED: 0, QUEUED: 1, ACTIVE: 2, COMPLETE: 3, CANCELED: 3, FAILED: 3 };

/** The states with each run of one state in a row kept once. */
export function collapseRepeats(states: readonly string[]): string[] {
  return states.filter((state, index) => index === 0 || states[index - 1] !== state);
}

/**
 * Why a sequence of states is not a job's life going forward, or undefined when it is: starts
 * SUBMITTED, never goes back (SUBMITTED, QUEUED, ACTIVE, then one final state), ends in a final
 * state. Repeats of one state in a row are allowed (Airavata takes the same state twice as one).
 */
export function forwardProblem(states: readonly string[]): string | undefined {
  const collapsed = collapseRepeats(states);
  if (collapsed.length === 0) return 'no states at all';
  if (collapsed[0] !== 'SUBMITTED') return `starts ${collapsed[0]}, not SUBMITTED`;
  for (let i = 0; i < collapsed.length; i += 1) {
    const rank = RANK[collapsed[i]];
    if (rank === undefined) return `holds ${collapsed[i]}, which a job of this run never reaches`;
    if (i > 0 && rank <= RANK[collapsed[i - 1]]) return `goes from ${collapsed[i - 1]} to ${collapsed[i]}`;
  }
  const last = collapsed[collapsed.length - 1];
  if (!FINAL.has(last)) return `ends ${last}, not in a final state`;
  return undefined;
}

export interface EventVerdict {
  /** Undefined when the events tell exactly the job's history. */
  problem?: string;
  /** Events beyond the first of a run of one state (at-least-once redeliveries Airavata tolerates). */
  duplicates: number;
}

/**
 * Events of one job, in arrival order, against its history: with repeats in a row taken once they
 * must be the history itself, state for state. Anything else is a lost event (the history has a
 * state the events lack), an extra one, or one out of order.
 */
export function eventVerdict(received: readonly string[], history: readonly string[]): EventVerdict {
  const collapsed = collapseRepeats(received);
  const duplicates = received.length - collapsed.length;
  const expected = collapseRepeats(history);
  if (collapsed.length === expected.length && collapsed.every((state, i) => state === expected[i])) return { duplicates };
  const isPrefix = collapsed.length < expected.length && collapsed.every((state, i) => state === expected[i]);
  const shown = `received [${received.join(' ')}], history [${history.join(' ')}]`;
  if (isPrefix) return { problem: `missing ${expected.slice(collapsed.length).join(' ')}: ${shown}`, duplicates };
  const forward = forwardProblem(received);
  return { problem: `${forward ? `out of order (${forward})` : 'not the history'}: ${shown}`, duplicates };
}

/** Slurm's name for how each of our final states ends there (jobcomp JobState). */
const SLURM_FINAL: Readonly<Record<string, readonly string[]>> = {
  COMPLETE: ['COMPLETED'],
  CANCELED: ['CANCELLED'],
  FAILED: ['FAILED', 'NODE_FAIL', 'TIMEOUT', 'OUT_OF_MEMORY', 'BOOT_FAIL', 'DEADLINE', 'PREEMPTED'],
};

export interface JobFacts {
  jobId: string;
  /** The service's history of states, oldest first. */
  history: readonly string[];
  /** The Slurm job id the service recorded, if it dispatched the job. */
  nativeJobId?: string;
}

/**
 * Slurm's own record of one job against what the service says of it, or undefined when they agree.
 * A job is submitted to Slurm at most once. One the service dispatched has exactly one record,
 * under the native id it recorded, ending as the service says it ended. One canceled before the
 * service recorded a dispatch may have none (never submitted) or one (a dispatch in flight
 * found it canceled and canceled its native job).
 */
export function slurmRecordProblem(job: JobFacts, records: readonly JobcompRecord[]): string | undefined {
  const final = job.history[job.history.length - 1];
  const shown = records.map((r) => `JobId=${r.nativeJobId} JobState=${r.jobState} ExitCode=${r.exitCode}`).join('; ');
  if (records.length > 1) return `submitted to Slurm ${records.length} times: ${shown}`;
  const dispatched = job.nativeJobId !== undefined || job.history.includes('QUEUED') || job.history.includes('ACTIVE');
  if (records.length === 0) {
    return dispatched ? `dispatched as Slurm job ${job.nativeJobId ?? '(unknown)'} but Slurm has no record of it` : undefined;
  }
  const [record] = records;
  if (job.nativeJobId !== undefined && record.nativeJobId !== job.nativeJobId) {
    return `the service recorded Slurm job ${job.nativeJobId} but Slurm ran ${record.nativeJobId}`;
  }
  const allowed = SLURM_FINAL[final] ?? [];
  if (!allowed.includes(record.jobState)) return `the service says ${final} but Slurm says ${shown}`;
  if (final === 'COMPLETE' && record.exitCode !== '0:0') return `COMPLETE but Slurm's exit code is ${record.exitCode}`;
  return undefined;
}

export interface JobcompIndex {
  /** Our job id -> its records (a Slurm job name is ms-<our job id>). */
  byJob: Map<string, JobcompRecord[]>;
  /** Lines that are not records Slurm writes. */
  unparsed: string[];
}

/** Slurm's job completion log (jobcomp/filetxt), grouped by our job id. */
export function indexJobcomp(text: string): JobcompIndex {
  const byJob = new Map<string, JobcompRecord[]>();
  const unparsed: string[] = [];
  // The log ends with a newline; an empty line after it would read as part of the last record.
  for (const line of splitJobcompRecords(text.replace(/\n+$/, ''))) {
    const record = parseJobcompRecord(line);
    if (!record) {
      if (line.trim() !== '') unparsed.push(line);
      continue;
    }
    if (!record.name.startsWith(JOB_NAME_PREFIX)) continue;
    const jobId = record.name.slice(JOB_NAME_PREFIX.length);
    const list = byJob.get(jobId) ?? [];
    list.push(record);
    byJob.set(jobId, list);
  }
  return { byJob, unparsed };
}
