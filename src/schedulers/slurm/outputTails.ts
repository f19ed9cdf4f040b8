// The output tails of many ended jobs from a few processes: one per account and chunk of paths,
// instead of a runuser (and, remotely, an SSH session) per file. Each process runs a fixed program;
// the paths arrive as positional parameters and are only ever expanded quoted.
import type { CommandResult } from '../../exec/commandRunner';
import type { JobOutput } from '../scheduler';

/**
 * For each path: "+" and the base64 of its last $1 bytes on one line, or "-" alone when it is not a
 * readable file. base64 without wrapping keeps any byte of the output (a newline, our own framing)
 * from being read as a frame boundary.
 */
export const TAILS_PROGRAM =
  'n=$1; shift; for f; do if [ -f "$f" ] && [ -r "$f" ]; then printf +; tail -c "$n" -- "$f" | base64 -w 0; echo; else echo -; fi; done';

export const OUTPUT_FILES = ['stdout.txt', 'stderr.txt'] as const;

/**
 * Bytes of paths per process. Over SSH the whole command line reaches the remote shell as one
 * argument (`$SHELL -c LINE`), which Linux caps at 128 KiB (MAX_ARG_STRLEN); half leaves room for
 * quoting and the program.
 */
export const MAX_PATH_BYTES_PER_CALL = 64 * 1024;
/** Jobs per process: bounds one reply to some MB even when every file is at maxBytes. */
export const MAX_JOBS_PER_CALL = 100;
/** Processes at a time, so a tick that ends thousands of jobs does not open thousands of sessions. */
export const TAIL_CONCURRENCY = 4;

export interface OutputTails {
  stdOut?: string;
  stdErr?: string;
}

export type RunAsAccount = (account: string, argv: readonly string[]) => Promise<CommandResult>;

/** Splits jobs (by index) into calls: one account each, within the path and job bounds. */
export function planTailCalls(jobs: readonly JobOutput[]): { account: string; indexes: number[] }[] {
  const calls: { account: string; indexes: number[]; bytes: number }[] = [];
  const open = new Map<string, { account: string; indexes: number[]; bytes: number }>();
  jobs.forEach((job, index) => {
    const bytes = OUTPUT_FILES.reduce((sum, name) => sum + Buffer.byteLength(`${job.workingDir}/${name}`) + 4, 0);
    let call = open.get(job.account);
    if (!call || call.indexes.length >= MAX_JOBS_PER_CALL || call.bytes + bytes > MAX_PATH_BYTES_PER_CALL) {
      call = { account: job.account, indexes: [], bytes: 0 };
      open.set(job.account, call);
      calls.push(call);
    }
    call.indexes.push(index);
    call.bytes += bytes;
  });
  return calls.map(({ account, indexes }) => ({ account, indexes }));
}

/**
 * A job's output as text the job store can hold: Postgres text refuses NUL, and one NUL byte in one
 * job's output would fail the whole tick's write (every job's change in it, on every tick). NUL
 * shows as U+FFFD, as a byte that is not UTF-8 already does.
 */
export function storableOutput(text: string): string {
  return text.includes('\u0000') ? text.replace(/\u0000/g, '\uFFFD') : text;
}

/** The program's output back into one entry per path; undefined for "-" (or a missing line). */
export function parseTails(stdout: string, paths: number): (string | undefined)[] {
  const lines = stdout.split('\n');
  const tails: (string | undefined)[] = [];
  for (let i = 0; i < paths; i += 1) {
    const line = lines[i];
    tails.push(line !== undefined && line.startsWith('+') ? storableOutput(Buffer.from(line.slice(1), 'base64').toString('utf8')) : undefined);
  }
  return tails;
}

/**
 * The tails of every job, in the order given. A program that ran and failed (runuser refusing the
 * account) gives its jobs no tails, as a failed `tail` always did. A call that could not run at all
 * (the SSH connection down, a timeout) leaves its jobs undefined, without failing the others: the
 * caller records those jobs' ends on a later tick, with their output.
 */
export async function readOutputTails(
  run: RunAsAccount, jobs: readonly JobOutput[], maxBytes: number, onError: (error: unknown) => void,
): Promise<(OutputTails | undefined)[]> {
  const result: (OutputTails | undefined)[] = jobs.map(() => undefined);
  const calls = planTailCalls(jobs);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < calls.length) {
      const call = calls[next];
      next += 1;
      const paths = call.indexes.flatMap((i) => OUTPUT_FILES.map((name) => `${jobs[i].workingDir}/${name}`));
      try {
        const output = await run(call.account, ['sh', '-c', TAILS_PROGRAM, 'ms-tails', String(maxBytes), ...paths]);
        const tails = output.exitCode === 0 ? parseTails(output.stdout, paths.length) : [];
        call.indexes.forEach((jobIndex, k) => {
          const [stdOut, stdErr] = [tails[2 * k], tails[2 * k + 1]];
          result[jobIndex] = { ...(stdOut === undefined ? {} : { stdOut }), ...(stdErr === undefined ? {} : { stdErr }) };
        });
      } catch (error) {
        onError(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(TAIL_CONCURRENCY, calls.length) }, worker));
  return result;
}
