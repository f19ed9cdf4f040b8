// What the service needs from a batch scheduler on a cluster. Implemented for Slurm by SlurmScheduler;
// dispatch and monitoring depend only on this interface.
import type { JobSpec, JobState } from '../domain/types';

export interface BatchJob {
  /** Our job id; carried in the native job's name and comment, so a job can be found again. */
  jobId: string;
  spec: JobSpec;
  /** Absolute directory the job runs in; stdout/stderr land here. Created by submit if missing. */
  workingDir: string;
  /** Environment for the job (the spec's, plus application environment), exported by the script. */
  environment: Record<string, string>;
  /** The gateway's Unix account on the cluster: the job, its directory and its script belong to it. */
  account: string;
  /**
   * The live pilot (a placeholder job holding nodes) the job starts inside, as a job step, without
   * queueing again. Only schedulers of sites with pilots take it.
   */
  pilot?: { allocationId: string; nativeJobId: string };
}

/** Where a job's output is, and whose it is: it is read as that account, never as root. */
export interface JobOutput {
  account: string;
  workingDir: string;
}

/**
 * The scheduler (or the set-up before it) refused this job for what the job is: a bad partition,
 * more than a node has, a working directory the account cannot create. Running it again cannot
 * help, so the job ends FAILED with this message; any other error is retried.
 */
export class JobRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JobRefusedError';
  }
}

/** What the scheduler says about one of our jobs. */
export interface NativeJobStatus {
  jobId: string;
  nativeJobId: string;
  state: JobState;
  /** The scheduler's own word (RUNNING, CANCELLED, ...). */
  nativeState: string;
  /** Set once the job has ended. */
  exitCode?: number;
  reason?: string;
  /** Epoch ms, when the scheduler knows them. */
  startTime?: number;
  endTime?: number;
}

export interface TrackedJob {
  jobId: string;
  nativeJobId: string;
}

/**
 * What became of one job of a submitMany. 'refused': the job itself cannot run (JobRefusedError
 * semantics: it ends FAILED). 'failed': anything else (the controller unreachable, the batch cut
 * short); the job may or may not have reached the scheduler, so it is searched for before it is
 * submitted again.
 */
export type SubmitOutcome =
  | { kind: 'submitted'; jobId: string; nativeJobId: string }
  | { kind: 'refused'; jobId: string; error: JobRefusedError }
  | { kind: 'failed'; jobId: string; error: Error };

export interface Scheduler {
  /** The scheduler's own name, as job histories say it ("queued as Slurm job 42"). */
  readonly name: string;
  /**
   * Where jobs live when the site decides (an HPC system's scratch): each job's directory is under
   * it. Absent: the service's JOB_ROOT, one directory per gateway account.
   */
  readonly jobRoot?: string;
  /**
   * Submits the job as job.account; returns the native id. Creates the working directory and the
   * script file as that account; values are quoted, the command is argv. Throws JobRefusedError
   * when the job itself is what cannot run.
   */
  submit(job: BatchJob): Promise<string>;
  /**
   * Submits several jobs at once (as submit does each), with as few processes per account as the
   * scheduler allows: one outcome per job, in the order given. One job's refusal or failure never
   * stops the others; it does not throw for them.
   */
  submitMany(jobs: readonly BatchJob[]): Promise<SubmitOutcome[]>;
  /**
   * Finds native jobs already carrying these ids of ours (live or ended), so a dispatch interrupted
   * between submit and recording the native id adopts its job instead of submitting again.
   */
  findByJobIds(jobIds: readonly string[]): Promise<Map<string, string>>;
  /** One batched query for all the given jobs; jobs the scheduler says nothing about are left out. */
  poll(jobs: readonly TrackedJob[]): Promise<NativeJobStatus[]>;
  cancel(nativeJobId: string): Promise<void>;
  /** The last maxBytes of the job's stdout and stderr files (undefined for a missing file). */
  outputTails(job: JobOutput, maxBytes: number): Promise<{ stdOut?: string; stdErr?: string }>;
  /**
   * outputTails of many jobs in few processes, in the order given; undefined for a job whose
   * output could not be read just now (try again later). Without it, callers call outputTails.
   */
  outputTailsOfMany?(jobs: readonly JobOutput[], maxBytes: number): Promise<({ stdOut?: string; stdErr?: string } | undefined)[]>;
}
