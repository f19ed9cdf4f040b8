// Scheduler for Slurm: sbatch, squeue, scancel and the job completion log, every command through
// a CommandRunner. Batch scripts are written with the local file system: for localhost clusters the
// working directories are on this machine (a remote runner will need to copy them instead).
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import type { CommandResult, CommandRunner } from '../../exec/commandRunner';
import type { Logger } from '../../log';
import type { BatchJob, NativeJobStatus, Scheduler, TrackedJob } from '../scheduler';
import { JOB_NAME_PREFIX, renderBatchScript, sbatchArguments, scriptPath, slurmJobName } from './batchScript';
import { JobcompReader } from './jobcomp';
import { chooseStatus } from './jobStatus';
import { newMarker, parseSqueue, squeueArgv, type SqueueEntry } from './squeue';

export const DEFAULT_JOBCOMP_LOG = '/var/log/slurm/jobcomp.log';

export interface SlurmSchedulerOptions {
  runner: CommandRunner;
  log: Logger;
  /** JobCompLoc of the cluster (default /var/log/slurm/jobcomp.log, as our playbook writes it). */
  jobcompLog?: string;
  /** Partition for jobs that name no queue; none: Slurm's default partition. */
  defaultPartition?: string;
  /** Jobs run as root: MPI jobs get Open MPI's run-as-root variables. Default: we are root. */
  runAsRoot?: boolean;
  /** Timeout of each Slurm command, ms (60 s). */
  commandTimeoutMs?: number;
}

export class SlurmCommandError extends Error {
  constructor(readonly command: string, readonly result: CommandResult) {
    super(`${command} failed (exit ${result.exitCode}): ${result.stderr.trim() || result.stdout.trim()}`);
    this.name = 'SlurmCommandError';
  }
}

/** Native ids we hand to scancel: a job or an array task, nothing that could read as an option. */
const NATIVE_ID = /^\d+(_\d+)?$/;

/** scancel's words for a job that has already ended or been purged: not an error for us. */
const ALREADY_GONE = /Invalid job id specified|already completing or completed|Job has already finished/i;

/** sbatch --parsable prints "id" or "id;cluster". */
export function parseSbatchOutput(stdout: string): string {
  const id = stdout.trim().split(';')[0];
  if (!/^\d+$/.test(id)) throw new Error(`sbatch printed no job id: ${JSON.stringify(stdout.slice(0, 200))}`);
  return id;
}

export class SlurmScheduler implements Scheduler {
  private readonly runner: CommandRunner;
  private readonly log: Logger;
  private readonly defaultPartition?: string;
  private readonly runAsRoot: boolean;
  private readonly timeoutMs: number;
  private readonly jobcomp: JobcompReader;

  constructor(options: SlurmSchedulerOptions) {
    this.runner = options.runner;
    this.log = options.log;
    this.defaultPartition = options.defaultPartition;
    this.runAsRoot = options.runAsRoot ?? process.getuid?.() === 0;
    this.timeoutMs = options.commandTimeoutMs ?? 60_000;
    this.jobcomp = new JobcompReader({
      runner: this.runner,
      log: this.log,
      path: options.jobcompLog ?? DEFAULT_JOBCOMP_LOG,
      keep: (record) => record.name.startsWith(JOB_NAME_PREFIX),
      timeoutMs: this.timeoutMs,
    });
  }

  async submit(job: BatchJob): Promise<string> {
    // Render and check everything before touching the disk or Slurm.
    const script = renderBatchScript(job, { runAsRoot: this.runAsRoot });
    const file = scriptPath(job);
    const args = sbatchArguments(job, file, { defaultPartition: this.defaultPartition });
    await mkdir(job.workingDir, { recursive: true });
    await writeFile(file, script, { mode: 0o700 });
    await chmod(file, 0o700); // writeFile's mode applies only to a new file
    const result = await this.runner.run(['sbatch', ...args], { timeoutMs: this.timeoutMs });
    if (result.exitCode !== 0) throw new SlurmCommandError('sbatch', result);
    const nativeJobId = parseSbatchOutput(result.stdout);
    this.log.info({ jobId: job.jobId, nativeJobId, workingDir: job.workingDir }, 'submitted to Slurm');
    return nativeJobId;
  }

  async findByJobIds(jobIds: readonly string[]): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    if (jobIds.length === 0) return found;
    const byName = new Map(jobIds.map((id) => [slurmJobName(id), id]));
    const live = await this.queryLive();
    await this.jobcomp.refresh();
    // Ended first, oldest to newest, then live ones over them: the latest job of a name wins.
    for (const record of this.jobcomp.all()) {
      const jobId = byName.get(record.name);
      if (jobId !== undefined) found.set(jobId, record.nativeJobId);
    }
    const liveSorted = [...live.values()].sort((a, b) => Number.parseInt(a.nativeJobId, 10) - Number.parseInt(b.nativeJobId, 10));
    for (const entry of liveSorted) {
      const jobId = byName.get(entry.name);
      if (jobId !== undefined) found.set(jobId, entry.nativeJobId);
    }
    return found;
  }

  async poll(jobs: readonly TrackedJob[]): Promise<NativeJobStatus[]> {
    if (jobs.length === 0) return [];
    // squeue before the log: a job that ends in between is then in the log; the other order could
    // miss it in both.
    const live = await this.queryLive();
    await this.jobcomp.refresh();
    const statuses: NativeJobStatus[] = [];
    for (const job of jobs) {
      // Both the id and the name must match: ids start again at 1 on a rebuilt cluster.
      const name = slurmJobName(job.jobId);
      const entry = live.get(job.nativeJobId);
      const record = this.jobcomp.get(job.nativeJobId);
      const status = chooseStatus(
        job.jobId,
        entry?.name === name ? entry : undefined,
        record?.name === name ? record : undefined,
      );
      if (status) statuses.push(status);
    }
    return statuses;
  }

  async cancel(nativeJobId: string): Promise<void> {
    if (!NATIVE_ID.test(nativeJobId)) throw new Error(`not a Slurm job id: ${JSON.stringify(nativeJobId)}`);
    const result = await this.runner.run(['scancel', nativeJobId], { timeoutMs: this.timeoutMs });
    if (result.exitCode === 0) return;
    if (ALREADY_GONE.test(result.stderr)) {
      this.log.debug({ nativeJobId, stderr: result.stderr.trim() }, 'scancel: job already gone');
      return;
    }
    throw new SlurmCommandError('scancel', result);
  }

  /** Every live job (all users, all partitions) by native id; one squeue. */
  private async queryLive(): Promise<Map<string, SqueueEntry>> {
    const marker = newMarker();
    const result = await this.runner.run(squeueArgv(marker), { timeoutMs: this.timeoutMs });
    // An error (slurmctld down) must not read as "no jobs": callers would think they all vanished.
    if (result.exitCode !== 0) throw new SlurmCommandError('squeue', result);
    return new Map(parseSqueue(result.stdout, marker).map((entry) => [entry.nativeJobId, entry]));
  }
}
