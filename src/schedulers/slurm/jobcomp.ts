// Slurm's job completion log (JobCompType=jobcomp/filetxt): one line per ended job, e.g.
//   JobId=5 UserId=root(0) GroupId=root(0) Name=wrap JobState=FAILED Partition=batch TimeLimit=UNLIMITED
//   StartTime=2026-11-26T22:05:22 EndTime=... NodeList=vm NodeCnt=1 ProcCnt=1 WorkDir=/tmp/jobs
//   ReservationName= Tres=... Account= QOS= WcKey= Cluster=unknown SubmitTime=... EligibleTime=...
//   DerivedExitCode=0:0 ExitCode=3:0
// It is how a final state survives MinJobAge without accounting. Parsing is pure; JobcompReader
// reads the file incrementally through a CommandRunner (so the same code works over ssh).

import type { CommandRunner } from '../../exec/commandRunner';
import type { Logger } from '../../log';

export interface JobcompRecord {
  nativeJobId: string;
  userId: string;
  name: string;
  /** As logged, e.g. COMPLETED, FAILED, CANCELLED, TIMEOUT. */
  jobState: string;
  partition: string;
  startTime: string;
  endTime: string;
  /** "(null)" for a job that never got nodes (cancelled while pending). */
  nodeList: string;
  workDir: string;
  /** "X:Y": exit status and terminating signal. */
  exitCode: string;
  derivedExitCode: string;
}

export const NEVER_RAN_NODELIST = '(null)';

// Name and WorkDir may hold spaces (and "Key=" text), so the line is matched on its known keys with
// those two as the only free fields; everything else Slurm writes has no spaces. Name is greedy, so
// a name holding " JobState=..." still ends at the real key. Array/het job fields, when present,
// sit between EligibleTime and DerivedExitCode.
//
// As one regular expression (^JobId=… Name=(.*) JobState=… WorkDir=(.*) ReservationName=.*
// DerivedExitCode=… ExitCode=… ?$) the three free spans backtrack into each other: a record
// repeating the key text took cubic time (128 KiB: 30 s of a blocked event loop; any user of the
// cluster names jobs). The same match is found here in linear time, from the fixed ends inwards:
// the end (DerivedExitCode, ExitCode) can sit in one place only; WorkDir runs to the last
// " ReservationName=" before it; Name runs to the last " JobState=" whose fixed fields reach a
// "WorkDir=" before that.
const HEAD = /^JobId=(\d+) UserId=(\S*) GroupId=\S* Name=/;
const FIELDS = / JobState=(\S+) Partition=(\S*) TimeLimit=\S* StartTime=(\S*) EndTime=(\S*) NodeList=(\S*) NodeCnt=\S* ProcCnt=\S* WorkDir=/y;
const TAIL = / DerivedExitCode=(\S*) ExitCode=(\d+:\d+) ?$/;
const RESERVATION = ' ReservationName=';
const JOB_STATE = ' JobState=';

export function parseJobcompRecord(record: string): JobcompRecord | undefined {
  const head = HEAD.exec(record);
  const tail = head ? TAIL.exec(record) : null;
  if (!head || !tail) return undefined;
  const reservation = record.lastIndexOf(RESERVATION, tail.index - RESERVATION.length);
  if (reservation < 0 || reservation + RESERVATION.length > tail.index) return undefined;
  const nameStart = head[0].length;
  for (let at = record.lastIndexOf(JOB_STATE, reservation); at >= nameStart; at = record.lastIndexOf(JOB_STATE, at - 1)) {
    FIELDS.lastIndex = at;
    const m = FIELDS.exec(record);
    if (!m || FIELDS.lastIndex > reservation) continue;
    return {
      nativeJobId: head[1], userId: head[2], name: record.slice(nameStart, at), jobState: m[1], partition: m[2], startTime: m[3],
      endTime: m[4], nodeList: m[5], workDir: record.slice(FIELDS.lastIndex, reservation), derivedExitCode: tail[1], exitCode: tail[2],
    };
  }
  return undefined;
}

const RECORD_START = /^JobId=\d+ UserId=/;

/**
 * Complete lines into records. A job name or work dir may hold a newline, which splits its record
 * over several lines: a line that does not start a record continues the one before. (Parsed whole,
 * a name carrying a forged line then no longer equals one of our names.) A continuation with no
 * record before it in this chunk is dropped.
 */
export function splitJobcompRecords(text: string): string[] {
  const records: string[] = [];
  for (const line of text.split('\n')) {
    if (RECORD_START.test(line)) records.push(line);
    else if (records.length > 0) records[records.length - 1] += `\n${line}`;
  }
  return records;
}

export interface JobcompReaderOptions {
  runner: CommandRunner;
  log: Logger;
  path: string;
  /** Only records whose name passes are kept (ours: "ms-..."). */
  keep: (record: JobcompRecord) => boolean;
  /** Most records kept; the oldest go first (200 000, some tens of MB). */
  maxRecords?: number;
  timeoutMs?: number;
}

/** Bytes of the last consumed line kept to recognise the same file on the next read. */
const ANCHOR_MAX = 4096;

/**
 * Reads the log from where it left off (`tail -c +OFFSET`), keeping the latest record of each of
 * our jobs. The offset only ever moves past complete lines, so a line being written is read whole
 * next time. To notice a log that shrank or was replaced (teardown renames it; a new cluster starts
 * a new one with ids from 1), each read starts a little earlier, at the last line already consumed,
 * and must find that line again; if not, the records are dropped and the file is read from 0.
 * Bytes are read as latin1 (one char per byte) so offsets stay exact, then decoded as UTF-8.
 */
export class JobcompReader {
  private offset = 0;
  private anchor = '';
  private readonly records = new Map<string, JobcompRecord>();
  private readonly maxRecords: number;
  private tail: Promise<void> = Promise.resolve();

  constructor(private readonly options: JobcompReaderOptions) {
    this.maxRecords = options.maxRecords ?? 200_000;
  }

  /** Reads what was appended since the last call; calls are serialised. */
  refresh(): Promise<void> {
    const next = this.tail.then(() => this.readNew());
    this.tail = next.catch(() => undefined);
    return next;
  }

  /** The latest record of a native job id, if it is one we keep. */
  get(nativeJobId: string): JobcompRecord | undefined {
    return this.records.get(nativeJobId);
  }

  /** Every kept record, oldest first. */
  all(): IterableIterator<JobcompRecord> {
    return this.records.values();
  }

  private async readNew(): Promise<void> {
    if (this.offset > 0) {
      const start = this.offset - this.anchor.length;
      const data = await this.read(start);
      if (data !== undefined && data.startsWith(this.anchor)) {
        this.consume(data.slice(this.anchor.length));
        return;
      }
      this.options.log.warn({ path: this.options.path, offset: this.offset },
        'job completion log shrank or was replaced; reading it again from the start');
      this.reset();
    }
    const data = await this.read(0);
    if (data !== undefined) this.consume(data);
  }

  /** The file from byte `start` on, or undefined when it does not exist. */
  private async read(start: number): Promise<string | undefined> {
    const argv = ['tail', '-c', `+${start + 1}`, '--', this.options.path];
    const result = await this.options.runner.run(argv, { encoding: 'latin1', timeoutMs: this.options.timeoutMs });
    if (result.exitCode === 0) return result.stdout;
    if (/No such file/i.test(result.stderr)) return undefined;
    throw new Error(`reading the job completion log failed (exit ${result.exitCode}): ${result.stderr.trim()}`);
  }

  private consume(data: string): void {
    const end = data.lastIndexOf('\n');
    if (end < 0) return;
    const complete = data.slice(0, end + 1);
    this.offset += complete.length;
    const previousNewline = complete.lastIndexOf('\n', complete.length - 2);
    const lastLine = complete.slice(previousNewline + 1);
    this.anchor = lastLine.length > ANCHOR_MAX ? lastLine.slice(-ANCHOR_MAX) : lastLine;
    const text = Buffer.from(complete.slice(0, -1), 'latin1').toString('utf8');
    for (const raw of splitJobcompRecords(text)) {
      const record = parseJobcompRecord(raw);
      if (!record || !this.options.keep(record)) continue;
      this.records.delete(record.nativeJobId);
      this.records.set(record.nativeJobId, record);
    }
    while (this.records.size > this.maxRecords) {
      const oldest = this.records.keys().next();
      if (oldest.done) break;
      this.records.delete(oldest.value);
    }
  }

  private reset(): void {
    this.offset = 0;
    this.anchor = '';
    this.records.clear();
  }
}
