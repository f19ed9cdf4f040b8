// squeue's view of live jobs. Pure parsing; the query itself is run by SlurmScheduler.
//
// A job name may hold anything, newlines included (Slurm 22.05 takes `--job-name=$'a\nb'` and
// prints it raw), so a line-per-job parse would let another user's job name forge a line for one
// of our jobs. Each record therefore starts with a random marker chosen per query, which no job
// name can know in advance; the name is the last field, so it may hold "|" too.
import { randomBytes } from 'node:crypto';

export interface SqueueEntry {
  nativeJobId: string;
  /** %T, e.g. PENDING, RUNNING. */
  state: string;
  /** %r, e.g. Resources, Priority, None. */
  reason: string;
  /** %S: actual start for running jobs, expected start (or N/A) for pending ones. */
  startTime: string;
  name: string;
}

export function newMarker(): string {
  return `@ms${randomBytes(8).toString('hex')}`;
}

/** The argv for one query of every live job, all users and partitions. */
export function squeueArgv(marker: string): string[] {
  return ['squeue', '--noheader', '--all', `--format=${marker}|%i|%T|%r|%S|%j`];
}

export function parseSqueue(stdout: string, marker: string): SqueueEntry[] {
  const head = `${marker}|`;
  const entries: SqueueEntry[] = [];
  // Records start at the beginning of the output or right after a newline.
  const chunks = `\n${stdout}`.split(`\n${head}`).slice(1);
  for (const [i, chunk] of chunks.entries()) {
    // The split took the newline that ends every record but the last: only the last one's is left
    // to drop. (Dropping one from each would cut a name's own trailing newline, and a job named
    // "ms-<our id>\n" would then read as one of ours.)
    const record = i === chunks.length - 1 && chunk.endsWith('\n') ? chunk.slice(0, -1) : chunk;
    const parts = record.split('|');
    if (parts.length < 5) continue;
    const [nativeJobId, state, reason, startTime, ...nameParts] = parts;
    // A job, an array task, or a step ("job.step") when steps were asked for.
    if (!/^\d+(_\d+|\.\d+)?$/.test(nativeJobId)) continue;
    entries.push({ nativeJobId, state, reason, startTime, name: nameParts.join('|') });
  }
  return entries;
}
