// What a Metronome job run and a Marathon app have in common: one serial task as the gateway's
// account, its command line, its environment and its resources, and the names derived from our job
// id. Pure: no I/O. Everything the job brings is checked here, and what cannot run is refused with
// JobRefusedError before anything reaches Mesos.
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { JobRefusedError, type BatchJob } from '../scheduler';
import { shellQuote } from '../slurm/shellQuote';

/** The label that carries our job id on every Metronome job and Marathon app we make. */
export const JOB_ID_LABEL = 'airavata.jobId';

/** A Unix account name as gatewayAccount makes them; never an option. */
const ACCOUNT = /^[a-z_][a-z0-9_-]{0,31}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** One name both APIs accept as a path segment: lowercase letters and digits, single dashes inside. */
const SEGMENT = /^[a-z0-9]+(-[a-z0-9]+)*$/;
const MAX_SEGMENT = 63;

export interface TaskResources {
  /** CPU shares (1). */
  cpus: number;
  /** MB of memory (128). */
  memMb: number;
  /** MB of disk (0: no disk reserved; the job writes to its working directory, not the sandbox). */
  diskMb: number;
}

/**
 * Defaults for a job that asks for nothing: one CPU, 128 MB (Marathon's and Metronome's own
 * defaults), no disk reservation.
 */
export const DEFAULT_RESOURCES: TaskResources = { cpus: 1, memMb: 128, diskMb: 0 };

/**
 * The name of one of our jobs in Mesos: the job id itself when it is already a valid lowercase
 * name (the service's ids are UUIDs), else a cleaned-up form with a hash of the original, so two
 * ids that clean up alike ("Job_A", "job-a") still get different names. Always matches SEGMENT.
 */
export function mesosName(jobId: string): string {
  if (jobId === '') throw new JobRefusedError('the job has no id');
  if (SEGMENT.test(jobId) && jobId.length <= MAX_SEGMENT) return jobId;
  const hash = createHash('sha256').update(jobId, 'utf8').digest('hex').slice(0, 12);
  const base = jobId.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+/, '').slice(0, 40).replace(/-+$/, '');
  return base === '' ? hash : `${base}-${hash}`;
}

/** Refuses what one Mesos task cannot be: anything but a serial program of one node. */
export function checkShape(job: BatchJob, scheduler: string): void {
  const { spec } = job;
  if (spec.parallelism !== 'SERIAL') {
    throw new JobRefusedError(`parallelism ${spec.parallelism} cannot run on Mesos: ${scheduler} launches one serial task (MPI on Mesos never left the experimental stage)`);
  }
  if (spec.nodeCount !== undefined && spec.nodeCount !== 1) {
    throw new JobRefusedError(`nodeCount ${spec.nodeCount}: a ${scheduler} task runs on one Mesos agent`);
  }
  if (spec.command.length === 0 || spec.command[0] === '') throw new JobRefusedError('the job has no program to run');
}

/** The account the task runs as: a plain Unix account, never root. */
export function taskUser(job: BatchJob): string {
  if (job.account === 'root') throw new JobRefusedError('jobs never run as root; the gateway\'s account is root here');
  if (!ACCOUNT.test(job.account)) throw new JobRefusedError(`${JSON.stringify(job.account)} is not a Unix account name`);
  return job.account;
}

export function taskEnvironment(job: BatchJob): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(job.environment)) {
    if (!ENV_NAME.test(name)) throw new JobRefusedError(`environment variable name ${JSON.stringify(name)} is not an identifier`);
    if (value.includes('\0')) throw new JobRefusedError(`environment variable ${name} holds a NUL byte`);
    env[name] = value;
  }
  return env;
}

export function taskResources(job: BatchJob, defaults: TaskResources): TaskResources {
  const { totalCPUCount, totalPhysicalMemory } = job.spec;
  if (totalCPUCount !== undefined && !(Number.isSafeInteger(totalCPUCount) && totalCPUCount >= 1)) {
    throw new JobRefusedError(`totalCPUCount must be a positive integer, got ${totalCPUCount}`);
  }
  if (totalPhysicalMemory !== undefined && !(Number.isSafeInteger(totalPhysicalMemory) && totalPhysicalMemory >= 1)) {
    throw new JobRefusedError(`totalPhysicalMemory must be a positive integer (MB), got ${totalPhysicalMemory}`);
  }
  return {
    cpus: totalCPUCount ?? defaults.cpus,
    memMb: totalPhysicalMemory ?? defaults.memMb,
    diskMb: defaults.diskMb,
  };
}

export interface CommandOptions {
  /** Append to stdout.txt/stderr.txt (a service restarted keeps what it wrote before) instead of truncating. */
  append?: boolean;
  /** Stop the program after this many seconds (SIGTERM, SIGKILL 30 s later), exit status 124. */
  wallTimeSeconds?: number;
}

/**
 * The task's command line, run by Mesos as `/bin/sh -c CMD` on the agent as the job's account:
 * make the working directory, enter it, and replace the shell with the program, its output in
 * stdout.txt and stderr.txt there (the names the Slurm adapter uses). Every value the job brings is
 * one single-quoted word (shellQuote), so nothing in it is ever read as shell syntax; exec lets the
 * program get the signal Mesos sends on a kill.
 */
export function taskCommand(job: BatchJob, options: CommandOptions = {}): string {
  const dir = job.workingDir;
  if (!path.posix.isAbsolute(dir)) throw new JobRefusedError(`working directory ${JSON.stringify(dir)} is not absolute`);
  let quotedDir: string;
  let argv: string;
  try {
    quotedDir = shellQuote(dir);
    argv = job.spec.command.map(shellQuote).join(' ');
  } catch (error) {
    throw new JobRefusedError(error instanceof Error ? error.message : String(error));
  }
  const limit = options.wallTimeSeconds !== undefined ? `timeout -k 30 ${Math.trunc(options.wallTimeSeconds)} ` : '';
  const to = options.append ? '>>' : '>';
  return `mkdir -p -- ${quotedDir} && cd -- ${quotedDir} && exec ${limit}${argv} ${to}stdout.txt 2${to}stderr.txt`;
}

/** Wall time of a batch job, minutes in the spec, seconds for `timeout`; none when unset. */
export function wallTimeSeconds(job: BatchJob): number | undefined {
  const minutes = job.spec.wallTimeLimit;
  if (minutes === undefined) return undefined;
  if (!Number.isSafeInteger(minutes) || minutes < 1) throw new JobRefusedError(`wallTimeLimit must be a positive integer (minutes), got ${minutes}`);
  return minutes * 60;
}

/** Epoch ms of the APIs' timestamps ("2016-07-15T13:02:59.735+0000", "2015-08-26T20:23:44.678Z"). */
export function parseApiTime(value: string | null | undefined): number | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  // Metronome writes the zone as +hhmm, which Date.parse need not read: make it +hh:mm.
  const normal = value.replace(/([+-]\d{2})(\d{2})$/, '$1:$2');
  const ms = Date.parse(normal);
  return Number.isNaN(ms) ? undefined : ms;
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
