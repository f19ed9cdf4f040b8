// The batch script and the sbatch arguments for one of our jobs. Pure: no I/O.
//
// Slurm options go to sbatch as argv (`--opt=value`, one argv element each), not as #SBATCH lines:
// argv reaches sbatch literally, while #SBATCH lines have sbatch's own quoting rules and cannot
// hold a newline. The script itself holds only the environment and the command, every value
// single-quoted by shellQuote.
import * as path from 'node:path';
import { JobRefusedError, type BatchJob } from '../scheduler';
import { shellQuote } from './shellQuote';

/** Our job ids become part of Slurm job names and file names: a conservative alphabet. */
const JOB_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const JOB_NAME_PREFIX = 'ms-';
export const COMMENT_PREFIX = 'metascheduler:';

export function slurmJobName(jobId: string): string {
  return `${JOB_NAME_PREFIX}${jobId}`;
}

export function assertJobId(jobId: string): void {
  if (!JOB_ID.test(jobId) || jobId.length > 200) throw new JobRefusedError(`job id ${JSON.stringify(jobId)} is not usable as a Slurm job name`);
}

export function scriptPath(job: Pick<BatchJob, 'jobId' | 'workingDir'>): string {
  return path.posix.join(job.workingDir, `.ms-${job.jobId}.sbatch`);
}

/**
 * A path for --output/--error. Slurm expands %j, %x, ... in these names; a backslash anywhere turns
 * that off and is itself removed (seen on 22.05: "/a%x/\stdout.txt" wrote /a%x/stdout.txt). So a
 * path with "%" gets one backslash before its file name, and a path that already holds a backslash
 * cannot be passed at all.
 */
export function slurmOutputPath(dir: string, file: string): string {
  if (dir.includes('\\')) throw new JobRefusedError(`working directory ${JSON.stringify(dir)} holds a backslash, which Slurm strips from output paths`);
  return dir.includes('%') ? path.posix.join(dir, `\\${file}`) : path.posix.join(dir, file);
}

export interface SbatchOptions {
  defaultPartition?: string;
  /** Options every job of this cluster gets (an HPC system's --account), each a whole argv element. */
  extra?: readonly string[];
}

/** What a site's jobs need besides the job itself (HPC systems we do not own). */
export interface SiteScriptOptions {
  /** Environment modules loaded before the job's own variables (`module load NAME`). */
  modules?: readonly string[];
  /** Site environment exported before the job's own (a job's variable of the same name wins). */
  environment?: Readonly<Record<string, string>>;
  /**
   * Where the script records how the job ended ("<slurm id> exit <status> <start> <end>", or
   * "signal 15" when Slurm stopped it), for sites whose accounting and job log we cannot read.
   */
  exitFile?: string;
}

/** Number of tasks and CPUs per task, per Airavata's parallelism types. */
export function taskLayout(job: BatchJob): { ntasks: number; cpusPerTask?: number } {
  const cpus = job.spec.totalCPUCount ?? 1;
  switch (job.spec.parallelism) {
    case 'SERIAL':
      return { ntasks: 1 };
    case 'OPENMP':
      return { ntasks: 1, cpusPerTask: cpus };
    case 'MPI':
    case 'OPENMP_MPI':
      return { ntasks: cpus };
    default:
      throw new JobRefusedError(`parallelism ${job.spec.parallelism} is not supported by the Slurm adapter`);
  }
}

export function isMpi(job: BatchJob): boolean {
  return job.spec.parallelism === 'MPI' || job.spec.parallelism === 'OPENMP_MPI';
}

/** sbatch's arguments (after "sbatch"), ending with the script path. */
export function sbatchArguments(job: BatchJob, script: string, options: SbatchOptions = {}): string[] {
  assertJobId(job.jobId);
  if (!path.posix.isAbsolute(job.workingDir)) throw new JobRefusedError(`working directory ${JSON.stringify(job.workingDir)} is not absolute`);
  const { spec } = job;
  const layout = taskLayout(job);
  const args = [
    '--parsable',
    `--job-name=${slurmJobName(job.jobId)}`,
    `--comment=${COMMENT_PREFIX}${job.jobId}`,
    `--chdir=${job.workingDir}`,
    `--output=${slurmOutputPath(job.workingDir, 'stdout.txt')}`,
    `--error=${slurmOutputPath(job.workingDir, 'stderr.txt')}`,
    `--ntasks=${layout.ntasks}`,
  ];
  if (layout.cpusPerTask !== undefined) args.push(`--cpus-per-task=${layout.cpusPerTask}`);
  if (spec.nodeCount !== undefined) args.push(`--nodes=${positive(spec.nodeCount, 'nodeCount')}`);
  if (spec.wallTimeLimit !== undefined) args.push(`--time=${positive(spec.wallTimeLimit, 'wallTimeLimit')}`);
  if (spec.totalPhysicalMemory !== undefined) args.push(`--mem=${positive(spec.totalPhysicalMemory, 'totalPhysicalMemory')}`);
  const partition = spec.queueName ?? options.defaultPartition;
  if (partition !== undefined && partition !== '') args.push(`--partition=${partition}`);
  args.push(...(options.extra ?? []));
  args.push(script);
  return args;
}

/**
 * The batch script. Ends with `exit` of the program's status so Slurm records it: a program killed
 * by signal N exits the script with 128+N, which Slurm logs as ExitCode=128+N:0.
 */
export function renderBatchScript(job: BatchJob, site: SiteScriptOptions = {}): string {
  assertJobId(job.jobId);
  const { command } = job.spec;
  if (command.length === 0 || command[0] === '') throw new JobRefusedError('the job has no program to run');
  const lines = ['#!/bin/bash', `# Airavata meta-scheduler job ${job.jobId}; Slurm options are sbatch arguments.`];
  if (site.exitFile !== undefined) lines.push(...exitRecording(site.exitFile));
  for (const name of site.modules ?? []) lines.push(`module load ${shellQuote(name)}`);
  for (const [name, value] of Object.entries(site.environment ?? {})) lines.push(exportLine(name, value));

  const mpi = isMpi(job);
  if (job.spec.parallelism === 'OPENMP') {
    // Before the job's own variables, so an OMP_NUM_THREADS of the job wins.
    lines.push('export OMP_NUM_THREADS="${SLURM_CPUS_PER_TASK:-1}"');
  }
  for (const [name, value] of Object.entries(job.environment)) lines.push(exportLine(name, value));

  const argv = command.map(shellQuote).join(' ');
  lines.push(mpi ? `mpirun -np "$SLURM_NTASKS" ${argv}` : argv);
  lines.push('status=$?');
  if (site.exitFile !== undefined) lines.push('ms_ended exit "$status"');
  lines.push('exit "$status"', '');
  return lines.join('\n');
}

/**
 * The start of a script that records its own end: a function writing the record atomically
 * (temporary file, then rename, so a reader never sees half a line), and a trap for the SIGTERM
 * Slurm sends on a cancel or at the time limit (the program gets it too; bash runs the trap once
 * it has ended). A job killed outright (SIGKILL, a node lost) writes nothing: the monitor then
 * reports it ended without a record.
 */
function exitRecording(exitFile: string): string[] {
  const file = shellQuote(exitFile);
  return [
    `ms_exit_file=${file}`,
    'ms_start=$(date +%s)',
    // Inside a pilot the job is a step: its record names the step ("pilot.step"), not the pilot.
    'ms_id=$SLURM_JOB_ID; if [ -n "${MS_IN_PILOT:-}" ]; then ms_id=$SLURM_JOB_ID.$SLURM_STEP_ID; fi',
    'ms_ended() { printf \'%s %s %s %s %s\\n\' "$ms_id" "$1" "$2" "$ms_start" "$(date +%s)" > "$ms_exit_file.tmp" && mv -f -- "$ms_exit_file.tmp" "$ms_exit_file"; }',
    'trap \'ms_ended signal 15; exit 143\' TERM',
  ];
}

function exportLine(name: string, value: string): string {
  if (!ENV_NAME.test(name)) throw new JobRefusedError(`environment variable name ${JSON.stringify(name)} is not an identifier`);
  return `export ${shellQuote(name)}=${shellQuote(value)}`;
}

function positive(value: number, field: string): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new JobRefusedError(`${field} must be a positive integer, got ${value}`);
  return value;
}
