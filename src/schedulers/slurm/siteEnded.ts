// Final states on an HPC system we do not own: its job completion log is not ours to read. When the
// site keeps accounting, sacct says how each job ended; otherwise (or for a job sacct does not know
// yet) the exit-status file our batch script writes in the site's scratch does. A job that left the
// queue without either is reported FAILED once it has been missing for a while, never kept waiting
// forever and never guessed COMPLETE.
import * as path from 'node:path';
import type { CommandRunner } from '../../exec/commandRunner';
import type { Logger } from '../../log';
import type { NativeJobStatus, TrackedJob } from '../scheduler';
import { slurmJobName } from './batchScript';
import type { EndedJobs } from './endedJobs';
import { NEVER_RAN_NODELIST, type JobcompRecord } from './jobcomp';
import { statusFromJobcomp } from './jobStatus';

/** Reads the files given as arguments: "+" and the first line of each, or "-" when it is absent. */
const READ_EXIT_FILES = 'for f; do if [ -f "$f" ]; then printf "+%s\\n" "$(head -n 1 -- "$f" | head -c 300)"; else echo -; fi; done';
/** Paths per process: well inside what one remote command line may hold. */
const FILES_PER_CALL = 300;
/** How long a pilot step's SIGTERM record waits for the pilot's own account of its end. */
const STEP_STOPPED_GRACE_MS = 20_000;
/** sacct's fields, "|"-separated (-P); the name last, as it may hold "|". */
const SACCT_FIELDS = 'JobID,State,ExitCode,Start,End,JobName';

export interface SiteEndedOptions {
  runner: CommandRunner;
  log: Logger;
  /** Directory of our exit-status files at the site (one per job: `<jobId>.exit`). */
  statusDir: string;
  /** The site keeps accounting: ask sacct first. */
  accounting: boolean;
  timeoutMs: number;
  /** How long a job may be missing from squeue without any record before it is reported lost. */
  missingGraceMs?: number;
  now?: () => number;
}

/** "<slurm id> exit <status> <start s> <end s>" or "<slurm id> signal <n> <start s> <end s>". */
export interface ExitRecord {
  nativeJobId: string;
  how: 'exit' | 'signal';
  code: number;
  startTime: number;
  endTime: number;
}

/**
 * The job's own account can write its file, so anything may be in it: times that are not whole
 * epoch seconds a bigint column takes in ms (a 300-digit "time" is Infinity) make it no record.
 */
export function parseExitRecord(line: string): ExitRecord | undefined {
  const m = /^(\d+(?:_\d+|\.\d+)?) (exit|signal) (\d{1,3}) (\d+) (\d+)$/.exec(line.trim());
  if (!m) return undefined;
  const startTime = Number(m[4]) * 1000;
  const endTime = Number(m[5]) * 1000;
  if (!Number.isSafeInteger(startTime) || !Number.isSafeInteger(endTime)) return undefined;
  return { nativeJobId: m[1], how: m[2] as 'exit' | 'signal', code: Number(m[3]), startTime, endTime };
}

export function statusFromExitRecord(jobId: string, record: ExitRecord): NativeJobStatus {
  const times = { startTime: record.startTime, endTime: record.endTime };
  if (record.how === 'signal') {
    const why = record.nativeJobId.includes('.')
      ? 'its pilot ended (wall time or release) or its own time limit, or a cancel at the site'
      : 'its time limit, or a cancel at the site (the site keeps no accounting to say which)';
    return {
      jobId, nativeJobId: record.nativeJobId, state: 'FAILED', nativeState: 'SIGTERM', exitCode: 128 + record.code, ...times,
      reason: `stopped by Slurm with SIGTERM: ${why}`,
    };
  }
  if (record.code === 0) return { jobId, nativeJobId: record.nativeJobId, state: 'COMPLETE', nativeState: 'COMPLETED', exitCode: 0, ...times };
  return { jobId, nativeJobId: record.nativeJobId, state: 'FAILED', nativeState: 'FAILED', exitCode: record.code, reason: `exit status ${record.code}`, ...times };
}

/** sacct -P lines into records shaped like the job log's (so one mapping serves both). */
export function parseSacct(stdout: string): JobcompRecord[] {
  const records: JobcompRecord[] = [];
  for (const line of stdout.split('\n')) {
    const parts = line.split('|');
    if (parts.length < 6) continue;
    const [nativeJobId, jobState, exitCode, startTime, endTime, ...name] = parts;
    if (!/^\d+(_\d+)?$/.test(nativeJobId) || !/^\d+:\d+$/.test(exitCode)) continue;
    const ran = /^\d{4}-/.test(startTime);
    records.push({
      nativeJobId, userId: '', name: name.join('|'), jobState, partition: '', startTime, endTime,
      nodeList: ran ? 'ran' : NEVER_RAN_NODELIST, workDir: '', exitCode, derivedExitCode: '',
    });
  }
  return records;
}

export class SiteEnded implements EndedJobs {
  private readonly statuses = new Map<string, NativeJobStatus>();
  private readonly missingSince = new Map<string, number>();
  private readonly stoppedSince = new Map<string, number>();
  /** Jobs our cancel reached that have no exit record (cancelled while waiting). */
  private readonly pendingCancels = new Set<string>();
  private readonly now: () => number;

  constructor(private readonly options: SiteEndedOptions) {
    this.now = options.now ?? Date.now;
  }

  exitFile(jobId: string): string {
    return path.posix.join(this.options.statusDir, `${jobId}.exit`);
  }

  /**
   * Left by our own cancel before scancel: without accounting, a SIGTERM record cannot tell a
   * cancel from the time limit, and a job cancelled while it waited leaves no record at all.
   */
  cancelMarker(nativeJobId: string): string {
    return path.posix.join(this.options.statusDir, `${nativeJobId}.cancelled`);
  }

  async refresh(jobs: readonly TrackedJob[]): Promise<void> {
    // What is kept is only for jobs still watched: the monitor stops asking once a job has ended.
    const watched = new Set(jobs.map((job) => job.jobId));
    for (const jobId of this.statuses.keys()) if (!watched.has(jobId)) this.statuses.delete(jobId);
    for (const jobId of this.missingSince.keys()) if (!watched.has(jobId)) this.missingSince.delete(jobId);
    for (const jobId of this.stoppedSince.keys()) if (!watched.has(jobId)) this.stoppedSince.delete(jobId);
    this.pendingCancels.clear();
    const unknown = jobs.filter((job) => !this.statuses.has(job.jobId));
    if (unknown.length === 0) return;
    if (this.options.accounting) await this.readSacct(unknown);
    await this.readExitFiles(unknown.filter((job) => !this.statuses.has(job.jobId)));
  }

  status(job: TrackedJob): NativeJobStatus | undefined {
    const status = this.statuses.get(job.jobId);
    if (status?.nativeJobId !== job.nativeJobId) return undefined;
    // A step stopped by Slurm most likely went with its pilot: the pilot's watch says so with the
    // exact reason (released, wall time); this record speaks only if the pilot's watch did not.
    if (status.nativeState === 'SIGTERM' && job.nativeJobId.includes('.')) {
      const now = this.now();
      const since = this.stoppedSince.get(job.jobId) ?? now;
      this.stoppedSince.set(job.jobId, since);
      if (now - since < STEP_STOPPED_GRACE_MS) return undefined;
    }
    return status;
  }

  async found(jobIds: readonly string[]): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    const records = await this.readRecords(jobIds);
    jobIds.forEach((jobId, i) => {
      const record = records[i];
      if (record) found.set(jobId, record.nativeJobId);
    });
    return found;
  }

  /** The job is in the queue: whatever was counted as missing starts again. */
  seen(jobId: string): void {
    this.missingSince.delete(jobId);
  }

  /**
   * Neither the queue nor any record knows the job: after the grace period (a record may trail
   * the queue on a shared file system) it is reported FAILED with what is known.
   */
  unaccounted(job: TrackedJob): NativeJobStatus | undefined {
    // A record is there, only held back (see status): not lost.
    if (this.statuses.has(job.jobId)) return undefined;
    // We cancelled it and it never wrote a record: it was cancelled before it started.
    if (this.pendingCancels.has(job.jobId)) {
      this.pendingCancels.delete(job.jobId);
      return { jobId: job.jobId, nativeJobId: job.nativeJobId, state: 'CANCELED', nativeState: 'CANCELLED', reason: 'cancelled on request before it started' };
    }
    const now = this.now();
    const since = this.missingSince.get(job.jobId);
    if (since === undefined) {
      this.missingSince.set(job.jobId, now);
      return undefined;
    }
    if (now - since < (this.options.missingGraceMs ?? 60_000)) return undefined;
    this.missingSince.delete(job.jobId);
    return {
      jobId: job.jobId, nativeJobId: job.nativeJobId, state: 'FAILED', nativeState: 'VANISHED',
      reason: `Slurm job ${job.nativeJobId} left the queue without an exit record${this.options.accounting ? ' or accounting entry' : ''} `
        + '(killed outright, its node lost, or cancelled at the site before it started)',
    };
  }

  private async readSacct(jobs: readonly TrackedJob[]): Promise<void> {
    const ids = [...new Set(jobs.map((job) => job.nativeJobId))].filter((id) => /^\d+(_\d+)?$/.test(id));
    if (ids.length === 0) return;
    const result = await this.options.runner.run(
      ['sacct', '--noheader', '--parsable2', '--allocations', `--format=${SACCT_FIELDS}`, `--jobs=${ids.join(',')}`],
      { timeoutMs: this.options.timeoutMs },
    );
    if (result.exitCode !== 0) {
      // Accounting down for a moment: the exit files still speak.
      this.options.log.warn({ stderr: result.stderr.trim().slice(0, 300) }, 'sacct failed; reading exit-status files');
      return;
    }
    const byNative = new Map(parseSacct(result.stdout).map((r) => [r.nativeJobId, r]));
    for (const job of jobs) {
      const record = byNative.get(job.nativeJobId);
      if (!record || record.name !== slurmJobName(job.jobId)) continue;
      const status = statusFromJobcomp(job.jobId, record);
      // sacct lists live jobs too; only an ended one is a final state.
      if (['COMPLETE', 'FAILED', 'CANCELED'].includes(status.state)) this.statuses.set(job.jobId, status);
    }
  }

  private async readExitFiles(jobs: readonly TrackedJob[]): Promise<void> {
    const files = await this.readLines(jobs.flatMap((job) => [this.exitFile(job.jobId), this.cancelMarker(job.nativeJobId)]));
    jobs.forEach((job, i) => {
      const line = files[2 * i];
      const record = line === undefined ? undefined : parseExitRecord(line);
      const cancelled = files[2 * i + 1] !== undefined;
      if (record && record.nativeJobId === job.nativeJobId) {
        const status = statusFromExitRecord(job.jobId, record);
        // Stopped by our own cancel: CANCELED, as the caller asked (not a time limit).
        this.statuses.set(job.jobId, cancelled && record.how === 'signal'
          ? { ...status, state: 'CANCELED', nativeState: 'CANCELLED', reason: 'cancelled on request (scancel)' } : status);
      } else if (cancelled) {
        this.pendingCancels.add(job.jobId);
      }
    });
  }

  /** Each job's exit record, in order; undefined where there is none (yet). */
  private async readRecords(jobIds: readonly string[]): Promise<(ExitRecord | undefined)[]> {
    const lines = await this.readLines(jobIds.map((id) => this.exitFile(id)));
    return lines.map((line) => (line === undefined ? undefined : parseExitRecord(line)));
  }

  /** The first line of each file, in order; undefined for a file that is not there. */
  private async readLines(files: readonly string[]): Promise<(string | undefined)[]> {
    const lines: (string | undefined)[] = [];
    for (let from = 0; from < files.length; from += FILES_PER_CALL) {
      const chunk = files.slice(from, from + FILES_PER_CALL);
      const result = await this.options.runner.run(['sh', '-c', READ_EXIT_FILES, 'ms-exit', ...chunk], { timeoutMs: this.options.timeoutMs });
      if (result.exitCode !== 0) throw new Error(`reading exit-status files failed (exit ${result.exitCode}): ${result.stderr.trim().slice(0, 300)}`);
      const out = result.stdout.split('\n');
      chunk.forEach((_, i) => lines.push(out[i]?.startsWith('+') ? out[i].slice(1) : undefined));
    }
    return lines;
  }
}
