// Which running jobs have their output tails read again on a monitor tick, and whether what was read
// is news. Reading every running job's files on every tick would cost a process per account and
// some MB per tick for nothing: each job is read at most once per interval, a tick reads at most so
// many jobs (those read longest ago first, so every job gets its turn), and a tail that did not
// change since it was last stored is not written again.
import { createHash } from 'node:crypto';
import type { LiveJob } from '../store/jobStore';

export interface LiveOutputOptions {
  /** A job's output is read at most this often (LIVE_OUTPUT_INTERVAL_MS). */
  intervalMs: number;
  /** Jobs read per tick at most (LIVE_OUTPUT_JOBS_PER_TICK); 0: none. */
  maxJobsPerTick: number;
}

/** Tails as a scheduler returns them: undefined for a file that is not there (the stored value stays). */
export interface Tails {
  stdOut?: string;
  stdErr?: string;
}

interface Seen {
  readAt: number;
  /** Digest of the tails last stored (or found already stored); undefined until then. */
  stored?: string;
}

export class LiveOutput {
  private readonly clusters = new Map<string, Map<string, Seen>>();

  constructor(private readonly options: LiveOutputOptions) {}

  /**
   * The running jobs (ACTIVE, with a directory) whose output is due, read longest ago first, at
   * most maxJobsPerTick; each is counted as read now. Jobs no longer running are forgotten, so one
   * that runs again (back from UNKNOWN or SUSPENDED) is read at once.
   */
  due(clusterId: string, live: ReadonlyMap<string, LiveJob>, now: number): LiveJob[] {
    const seen = this.clusters.get(clusterId) ?? new Map<string, Seen>();
    for (const jobId of seen.keys()) if (live.get(jobId)?.state !== 'ACTIVE') seen.delete(jobId);
    const readAt = (job: LiveJob): number => seen.get(job.jobId)?.readAt ?? Number.NEGATIVE_INFINITY;
    const due: LiveJob[] = [];
    for (const job of live.values()) {
      if (job.state === 'ACTIVE' && job.workingDir !== undefined && now - readAt(job) >= this.options.intervalMs) due.push(job);
    }
    if (due.length > this.options.maxJobsPerTick) {
      // Stable: jobs never read keep the order they are held in.
      due.sort((a, b) => (readAt(a) === readAt(b) ? 0 : readAt(a) < readAt(b) ? -1 : 1));
      due.length = Math.max(0, this.options.maxJobsPerTick);
    }
    for (const job of due) {
      const entry = seen.get(job.jobId);
      if (entry) entry.readAt = now;
      else seen.set(job.jobId, { readAt: now });
    }
    if (seen.size > 0) this.clusters.set(clusterId, seen);
    else this.clusters.delete(clusterId);
    return due;
  }

  /** Whether these tails differ from what was last stored for the job (by this process). */
  isNews(clusterId: string, jobId: string, tails: Tails): boolean {
    if (tails.stdOut === undefined && tails.stdErr === undefined) return false;
    return this.clusters.get(clusterId)?.get(jobId)?.stored !== digest(tails);
  }

  /** The tails are what is stored for the job now (written, or found there already). */
  stored(clusterId: string, jobId: string, tails: Tails): void {
    const seen = this.clusters.get(clusterId)?.get(jobId);
    if (seen) seen.stored = digest(tails);
  }

  /** The cluster is no longer monitored here. */
  forget(clusterId: string): void {
    this.clusters.delete(clusterId);
  }
}

/** Tells tails apart without keeping them (up to 128 KiB a job); an absent file differs from an empty one. */
function digest(tails: Tails): string {
  const hash = createHash('sha256');
  for (const text of [tails.stdOut, tails.stdErr]) {
    hash.update(text === undefined ? '-' : `+${Buffer.byteLength(text)}:`);
    if (text !== undefined) hash.update(text);
  }
  return hash.digest('base64');
}
