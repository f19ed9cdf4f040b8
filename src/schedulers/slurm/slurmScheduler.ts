// Scheduler for Slurm: sbatch, squeue, scancel and the job completion log, every command through
// a CommandRunner. Whatever touches a job's files (its directory, its script, its output) and sbatch
// itself run as the gateway's account (runuser), so a job can never make the service write or read
// where the account could not: a symlink planted in a working directory leads nowhere new.
import type { CommandResult, CommandRunner } from '../../exec/commandRunner';
import type { Logger } from '../../log';
import {
  JobRefusedError, type BatchJob, type JobOutput, type NativeJobStatus, type Scheduler, type SubmitOutcome, type TrackedJob,
} from '../scheduler';
import {
  encodeSubmitRecords, MKDIR_FAILED, parseSubmitLines, SUBMIT_MANY_AS_ACCOUNT, WRITE_FAILED, type SubmitRecord,
} from './batchSubmit';
import { JOB_NAME_PREFIX, renderBatchScript, sbatchArguments, scriptPath, slurmJobName, type SiteScriptOptions } from './batchScript';
import { JobcompEnded, type EndedJobs } from './endedJobs';
import { JobcompReader } from './jobcomp';
import { chooseLiveOrEnded } from './jobStatus';
import { newMarker, parseSqueue, squeueArgv, type SqueueEntry } from './squeue';
import { LAUNCH_STEP, stepArguments } from './stepLaunch';
import { readOutputTails, storableOutput, type OutputTails } from './outputTails';

export const DEFAULT_JOBCOMP_LOG = '/var/log/slurm/jobcomp.log';

export interface SlurmSchedulerOptions {
  runner: CommandRunner;
  log: Logger;
  /** JobCompLoc of the cluster (default /var/log/slurm/jobcomp.log, as our playbook writes it). */
  jobcompLog?: string;
  /** Partition for jobs that name no queue; none: Slurm's default partition. */
  defaultPartition?: string;
  /**
   * Switch to the job's account with runuser for its files and sbatch. Default: when we are root
   * (only root can switch; a service that is not root runs jobs as itself, which is not root either).
   */
  switchUser?: boolean;
  /** Timeout of each Slurm command, ms (60 s). */
  commandTimeoutMs?: number;
  /** Where final states come from (default: the job completion log at jobcompLog). */
  ended?: EndedJobs;
  /** What a site's scripts need (modules, environment, the exit-status file per job). */
  site?: Omit<SiteScriptOptions, 'exitFile'> & { exitFile?: (jobId: string) => string };
  /** sbatch options every job gets (an HPC system's --account). */
  sbatchExtra?: readonly string[];
  /** Ask squeue for our account's jobs only (a shared site), not every user's. */
  ownJobsOnly?: boolean;
  /** The directory jobs live under when the site decides it (an HPC system's scratch). */
  jobRoot?: string;
  /** A file our cancel leaves before scancel (sites without accounting: see SiteEnded.cancelMarker). */
  cancelMarker?: (nativeJobId: string) => string;
  /** The partition for a job that names none, chosen per job (an HPC system's best fit); else defaultPartition. */
  partitionFor?: (job: BatchJob) => string | undefined;
}

export class SlurmCommandError extends Error {
  constructor(readonly command: string, readonly result: CommandResult) {
    super(`${command} failed (exit ${result.exitCode}): ${result.stderr.trim() || result.stdout.trim()}`);
    this.name = 'SlurmCommandError';
  }
}

/** sbatch failures that say the controller is unreachable for now, not that the job is wrong. */
const TRANSIENT_SLURM = /Unable to contact|Socket timed out|Connection refused|Zero Bytes were transmitted|temporarily unavailable|try again/i;

/**
 * One process per submit, as the account: make the job's directory, write the script from stdin,
 * run sbatch. Three separate runuser calls cost three times the process and session set-up, which
 * was most of a dispatch. A fixed program: every value (the directory, the file, sbatch's
 * arguments) arrives as a positional parameter and is only ever expanded quoted, never parsed as
 * shell text. The steps are told apart by exit status.
 */
const SUBMIT_AS_ACCOUNT = 'mkdir -p -- "$1" || exit 90; cat > "$2" || exit 91; shift 2; exec sbatch "$@"';

/** A Unix account name as gatewayAccount makes them; never an option or root. */
const ACCOUNT = /^[a-z_][a-z0-9_-]{0,31}$/;

/** Native ids we hand to scancel: a job, an array task or a job step, nothing that could read as an option. */
const NATIVE_ID = /^\d+(_\d+|\.\d+)?$/;

/** scancel's words for a job that has already ended or been purged: not an error for us. */
const ALREADY_GONE = /Invalid job id specified|already completing or completed|Job has already finished/i;

/** sbatch --parsable prints "id" or "id;cluster". */
export function parseSbatchOutput(stdout: string): string {
  const id = stdout.trim().split(';')[0];
  if (!/^\d+$/.test(id)) throw new Error(`sbatch printed no job id: ${JSON.stringify(stdout.slice(0, 200))}`);
  return id;
}

export class SlurmScheduler implements Scheduler {
  readonly name = 'Slurm';
  readonly jobRoot?: string;
  private readonly runner: CommandRunner;
  private readonly log: Logger;
  private readonly defaultPartition?: string;
  private readonly switchUser: boolean;
  private readonly timeoutMs: number;
  private readonly ended: EndedJobs;
  private readonly options: SlurmSchedulerOptions;

  constructor(options: SlurmSchedulerOptions) {
    this.options = options;
    this.runner = options.runner;
    this.log = options.log;
    this.jobRoot = options.jobRoot;
    this.defaultPartition = options.defaultPartition;
    this.switchUser = options.switchUser ?? process.getuid?.() === 0;
    this.timeoutMs = options.commandTimeoutMs ?? 60_000;
    this.ended = options.ended ?? new JobcompEnded(new JobcompReader({
      runner: this.runner,
      log: this.log,
      path: options.jobcompLog ?? DEFAULT_JOBCOMP_LOG,
      keep: (record) => record.name.startsWith(JOB_NAME_PREFIX),
      timeoutMs: this.timeoutMs,
    }));
  }

  /** The script and sbatch's arguments for one job; throws JobRefusedError for what cannot run. */
  private render(job: BatchJob): { script: string; file: string; args: string[] } {
    const { site } = this.options;
    const script = renderBatchScript(job, site ? { ...site, exitFile: site.exitFile?.(job.jobId) } : {});
    const file = scriptPath(job);
    const defaultPartition = this.options.partitionFor?.(job) ?? this.defaultPartition;
    const args = sbatchArguments(job, file, { defaultPartition, extra: this.options.sbatchExtra });
    return { script, file, args };
  }

  async submit(job: BatchJob): Promise<string> {
    // Render and check everything before touching the disk or Slurm.
    const { script, file, args } = this.render(job);
    const result = await this.asAccount(job.account, ['sh', '-c', SUBMIT_AS_ACCOUNT, 'ms-submit', job.workingDir, file, ...args], script);
    return this.submitResult(job, result);
  }

  /** The native id from what submitting one job printed, or why it failed (see submit). */
  private submitResult(job: BatchJob, result: CommandResult): string {
    const stderr = result.stderr.trim().slice(0, 1000);
    if (result.exitCode === MKDIR_FAILED) throw new JobRefusedError(`cannot create the working directory as ${job.account}: ${stderr}`);
    if (result.exitCode === WRITE_FAILED) throw new JobRefusedError(`cannot write the batch script as ${job.account}: ${stderr}`);
    if (result.exitCode !== 0) {
      const error = new SlurmCommandError('sbatch', result);
      // sbatch ran and refused this job (bad partition, more than a node has...): the job's fault.
      // An unreachable controller is not, nor a missing sbatch (126, 127), and is retried.
      if (TRANSIENT_SLURM.test(error.message) || result.exitCode === 126 || result.exitCode === 127) throw error;
      throw new JobRefusedError(`Slurm refused the job: ${stderr}`);
    }
    const nativeJobId = parseSbatchOutput(result.stdout);
    this.log.info({ jobId: job.jobId, nativeJobId, workingDir: job.workingDir, account: job.account }, 'submitted to Slurm');
    return nativeJobId;
  }

  async submitMany(jobs: readonly BatchJob[]): Promise<SubmitOutcome[]> {
    const outcomes = new Map<string, SubmitOutcome>();
    const byAccount = new Map<string, { job: BatchJob; record: SubmitRecord }[]>();
    for (const job of jobs) {
      if (outcomes.has(job.jobId) || byAccount.get(job.account)?.some((g) => g.job.jobId === job.jobId)) {
        // Never two sbatch for one of our jobs: the first one stands for both.
        continue;
      }
      try {
        // Rendered and checked before anything touches the disk or Slurm, as in submit.
        const { script, file, args } = this.render(job);
        const record: SubmitRecord = { jobId: job.jobId, workingDir: job.workingDir, scriptPath: file, script, sbatchArgs: args };
        // A value the framing cannot carry is the job's own.
        encodeSubmitRecords([record]);
        const group = byAccount.get(job.account) ?? [];
        group.push({ job, record });
        byAccount.set(job.account, group);
      } catch (error) {
        const refused = error instanceof JobRefusedError ? error : new JobRefusedError(error instanceof Error ? error.message : String(error));
        outcomes.set(job.jobId, { kind: 'refused', jobId: job.jobId, error: refused });
      }
    }
    await Promise.all([...byAccount].map(async ([account, group]) => {
      // Jobs placed in a live pilot start there as steps; the rest go to the queue in one program.
      const queued = group.filter((g) => !g.job.pilot);
      const inPilots = group.filter((g) => g.job.pilot);
      if (queued.length > 0) for (const outcome of await this.submitGroup(account, queued)) outcomes.set(outcome.jobId, outcome);
      await Promise.all(inPilots.map(async ({ job, record }) => outcomes.set(job.jobId, await this.launchStep(job, record))));
    }));
    return jobs.map((job) => outcomes.get(job.jobId) ?? {
      kind: 'failed', jobId: job.jobId, error: new Error(`job ${job.jobId} got no outcome`),
    });
  }

  /** One process as the account for all of its jobs; a job it said nothing about is 'failed'. */
  private async submitGroup(account: string, group: readonly { job: BatchJob; record: SubmitRecord }[]): Promise<SubmitOutcome[]> {
    const ids = new Set(group.map((g) => g.job.jobId));
    let result: CommandResult;
    try {
      // Room for every sbatch of the batch to be slow, on top of the usual per-command timeout.
      const timeoutMs = this.timeoutMs + group.length * 2_000;
      result = await this.asAccount(account, ['bash', '-c', SUBMIT_MANY_AS_ACCOUNT, 'ms-submit-many'],
        encodeSubmitRecords(group.map((g) => g.record)), timeoutMs);
    } catch (error) {
      const failure = error instanceof Error ? error : new Error(String(error));
      return group.map(({ job }) => ({ kind: 'failed', jobId: job.jobId, error: failure }));
    }
    const lines = parseSubmitLines(result.stdout, ids);
    const unreported = `the submit program as ${account} exited ${result.exitCode} without a word on this job: ${result.stderr.trim().slice(0, 500)}`;
    return group.map(({ job }): SubmitOutcome => {
      const line = lines.get(job.jobId);
      if (!line) return { kind: 'failed', jobId: job.jobId, error: new Error(unreported) };
      try {
        const nativeJobId = this.submitResult(job, { exitCode: line.status, stdout: line.message, stderr: line.message });
        return { kind: 'submitted', jobId: job.jobId, nativeJobId };
      } catch (error) {
        if (error instanceof JobRefusedError) return { kind: 'refused', jobId: job.jobId, error };
        return { kind: 'failed', jobId: job.jobId, error: error instanceof Error ? error : new Error(String(error)) };
      }
    });
  }

  /** One job as a step of its pilot (see stepLaunch): its native id is the step's, "pilot.step". */
  private async launchStep(job: BatchJob, record: SubmitRecord): Promise<SubmitOutcome> {
    try {
      const args = stepArguments(job, record.scriptPath);
      const result = await this.asAccount(job.account,
        ['bash', '-c', LAUNCH_STEP, 'ms-step', record.workingDir, record.scriptPath, job.pilot?.nativeJobId ?? '', slurmJobName(job.jobId), ...args],
        record.script, this.timeoutMs + 30_000);
      const said = result.stderr.trim().slice(0, 800);
      if (result.exitCode === MKDIR_FAILED) throw new JobRefusedError(`cannot create the working directory as ${job.account}: ${said}`);
      if (result.exitCode === WRITE_FAILED) throw new JobRefusedError(`cannot write the batch script as ${job.account}: ${said}`);
      // srun refusing at once (STEP_SRUN_FAILED: the pilot ended meanwhile), no step seen (STEP_NOT_SEEN)
      // or anything else: retried, and searched for first.
      if (result.exitCode !== 0) {
        return { kind: 'failed', jobId: job.jobId, error: new SlurmCommandError('srun (pilot step)', result) };
      }
      const stepId = result.stdout.trim().split('\n')[0] ?? '';
      if (!/^\d+\.\d+$/.test(stepId)) return { kind: 'failed', jobId: job.jobId, error: new Error(`the step launcher printed no step id: ${JSON.stringify(stepId.slice(0, 100))}`) };
      this.log.info({ jobId: job.jobId, nativeJobId: stepId, pilot: job.pilot?.allocationId }, 'started inside a pilot');
      return { kind: 'submitted', jobId: job.jobId, nativeJobId: stepId };
    } catch (error) {
      if (error instanceof JobRefusedError) return { kind: 'refused', jobId: job.jobId, error };
      return { kind: 'failed', jobId: job.jobId, error: error instanceof Error ? error : new Error(String(error)) };
    }
  }

  async outputTails(job: JobOutput, maxBytes: number): Promise<{ stdOut?: string; stdErr?: string }> {
    const tail = async (name: string): Promise<string | undefined> => {
      const result = await this.asAccount(job.account, ['tail', '-c', String(maxBytes), '--', `${job.workingDir}/${name}`]);
      return result.exitCode === 0 ? storableOutput(result.stdout) : undefined;
    };
    const [stdOut, stdErr] = await Promise.all([tail('stdout.txt'), tail('stderr.txt')]);
    return { stdOut, stdErr };
  }

  async outputTailsOfMany(jobs: readonly JobOutput[], maxBytes: number): Promise<(OutputTails | undefined)[]> {
    return readOutputTails((account, argv) => this.asAccount(account, argv), jobs, maxBytes,
      (error) => this.log.warn({ err: error }, 'could not read output tails; the jobs are recorded on a later poll'));
  }

  /** Runs argv as the account (from /, which every account may enter). */
  private asAccount(account: string, argv: readonly string[], input?: string, timeoutMs = this.timeoutMs): Promise<CommandResult> {
    if (!ACCOUNT.test(account)) throw new Error(`not an account name: ${JSON.stringify(account)}`);
    const command = this.switchUser ? ['runuser', '-u', account, '--', ...argv] : [...argv];
    return this.runner.run(command, { timeoutMs, cwd: '/', ...(input !== undefined ? { input } : {}) });
  }

  async findByJobIds(jobIds: readonly string[]): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    if (jobIds.length === 0) return found;
    const byName = new Map(jobIds.map((id) => [slurmJobName(id), id]));
    const live = await this.queryLive(this.options.ownJobsOnly === true);
    // Ended first, then live ones over them: the latest job of a name wins.
    for (const [jobId, nativeJobId] of await this.ended.found(jobIds)) found.set(jobId, nativeJobId);
    const liveSorted = [...live.values()].sort((a, b) => Number.parseInt(a.nativeJobId, 10) - Number.parseInt(b.nativeJobId, 10));
    for (const entry of liveSorted) {
      const jobId = byName.get(entry.name);
      if (jobId !== undefined) found.set(jobId, entry.nativeJobId);
    }
    return found;
  }

  async poll(jobs: readonly TrackedJob[]): Promise<NativeJobStatus[]> {
    if (jobs.length === 0) return [];
    // squeue and the log at once: each is a round trip to the controller (over SSH, most of a
    // tick), and waiting for one before the other doubled the tick. A job that ends while both
    // are read may be in neither; it is left out of this poll (nothing is concluded from a job
    // missing) and reported by the next one, its record being in the log by then.
    const steps = jobs.some((job) => job.nativeJobId.includes('.'));
    const [live] = await Promise.all([this.queryLive(steps), this.ended.refresh(jobs)]);
    const statuses: NativeJobStatus[] = [];
    for (const job of jobs) {
      // Both the id and the name must match: ids start again at 1 on a rebuilt cluster.
      const entry = live.get(job.nativeJobId);
      const listed = entry?.name === slurmJobName(job.jobId) ? entry : undefined;
      if (listed) this.ended.seen?.(job.jobId);
      const status = chooseLiveOrEnded(job.jobId, listed, this.ended.status(job)) ?? this.ended.unaccounted?.(job);
      if (status) statuses.push(status);
    }
    return statuses;
  }

  async cancel(nativeJobId: string): Promise<void> {
    if (!NATIVE_ID.test(nativeJobId)) throw new Error(`not a Slurm job id: ${JSON.stringify(nativeJobId)}`);
    const marker = this.options.cancelMarker?.(nativeJobId);
    if (marker !== undefined) {
      const marked = await this.runner.run(['touch', '--', marker], { timeoutMs: this.timeoutMs });
      if (marked.exitCode !== 0) throw new SlurmCommandError('touch (cancel marker)', marked);
    }
    const result = await this.runner.run(['scancel', nativeJobId], { timeoutMs: this.timeoutMs });
    if (result.exitCode === 0) return;
    if (ALREADY_GONE.test(result.stderr)) {
      this.log.debug({ nativeJobId, stderr: result.stderr.trim() }, 'scancel: job already gone');
      return;
    }
    throw new SlurmCommandError('scancel', result);
  }

  /**
   * Every live job (all users, all partitions; on a shared site our account's only) by native id;
   * one squeue. With steps, also the running steps of our pilots (id "pilot.step"), one more squeue.
   */
  private async queryLive(steps = false): Promise<Map<string, SqueueEntry>> {
    const marker = newMarker();
    const argv = squeueArgv(marker);
    // On a shared site, every user's jobs would be a long answer about nothing of ours.
    const jobsArgv = this.options.ownJobsOnly ? [...argv.filter((a) => a !== '--all'), '--me'] : argv;
    const [result, stepResult] = await Promise.all([
      this.runner.run(jobsArgv, { timeoutMs: this.timeoutMs }),
      steps ? this.runner.run(['squeue', '--noheader', '--steps', '--me', `--format=${marker}|%i|RUNNING|None|%S|%j`], { timeoutMs: this.timeoutMs }) : undefined,
    ]);
    // An error (slurmctld down) must not read as "no jobs": callers would think they all vanished.
    if (result.exitCode !== 0) throw new SlurmCommandError('squeue', result);
    if (stepResult && stepResult.exitCode !== 0) throw new SlurmCommandError('squeue --steps', stepResult);
    const entries = [...parseSqueue(result.stdout, marker), ...(stepResult ? parseSqueue(stepResult.stdout, marker) : [])];
    return new Map(entries.map((entry) => [entry.nativeJobId, entry]));
  }
}
