// Real-looking Slurm output, built field by field so a test knows what each line should parse to:
// squeue records, job completion log lines, sacct -P lines, our exit records, sinfo lines, the
// output-tail program's lines. The shapes follow the unit tests' samples (test/unit/slurmParsing,
// hpcSite, outputTails) and Slurm 22.05's own output.
import type { JobcompRecord } from '../../../src/schedulers/slurm/jobcomp';
import type { SqueueEntry } from '../../../src/schedulers/slurm/squeue';
import { hostileString, text, type Rng } from './generators';

export const SLURM_STATES = [
  'PENDING', 'RUNNING', 'COMPLETING', 'COMPLETED', 'FAILED', 'CANCELLED', 'CANCELLED+', 'TIMEOUT', 'NODE_FAIL',
  'OUT_OF_MEMORY', 'SUSPENDED', 'REQUEUED', 'PREEMPTED', 'BOOT_FAIL', 'DEADLINE', 'SPECIAL_EXIT', 'RESIZING', 'NEW_STATE',
] as const;

/** Text with no whitespace at all (what Slurm prints for ids, states, node lists). */
export function token(rng: Rng, max = 24): string {
  return text(rng, max, ['word']) || 'x';
}

export function jobId(rng: Rng): string {
  return String(rng.weighted<number>([[4, () => rng.range(1, 99_999)], [1, () => rng.range(0, 2 ** 31)]]));
}

export function slurmTime(rng: Rng): string {
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${rng.range(1970, 2100)}-${pad(rng.range(1, 12))}-${pad(rng.range(1, 28))}T${pad(rng.range(0, 23))}:${pad(rng.range(0, 59))}:${pad(rng.range(0, 59))}`;
}

export function timeField(rng: Rng): string {
  return rng.weighted<string>([[4, () => slurmTime(rng)], [1, () => rng.pick(['Unknown', 'None', 'N/A', ''])], [1, () => token(rng)]]);
}

/** "X:Y" as Slurm prints exit codes. */
export function exitCode(rng: Rng): string {
  return `${rng.weighted<number>([[5, () => rng.range(0, 3)], [1, () => rng.range(0, 255)]])}:${rng.pick([0, 0, 0, 9, 15, rng.range(0, 64)])}`;
}

/** Free text as a job name or a work dir may hold it: spaces, key-like text, "|", newlines. */
export function freeText(rng: Rng, max: number, keys: readonly string[]): string {
  return rng.weighted<string>([
    [4, () => `ms-${token(rng, 40)}`],
    [3, () => text(rng, max, ['printable', 'word', 'unicode'])],
    [2, () => Array.from({ length: 1 + rng.int(5) }, () => (rng.bool() ? rng.pick(keys) : token(rng, 12))).join(rng.pick([' ', '', '|', '\n']))],
    [1, () => hostileString(rng, max).replace(/\u0000/g, '')],
  ]);
}

// ---- squeue -------------------------------------------------------------------------------

export function squeueEntry(rng: Rng, marker: string): SqueueEntry {
  const id = jobId(rng);
  return {
    nativeJobId: rng.weighted<string>([[5, () => id], [1, () => `${id}_${rng.range(0, 99)}`], [1, () => `${id}.${rng.range(0, 9)}`]]),
    state: rng.pick(SLURM_STATES),
    reason: rng.weighted<string>([[4, () => rng.pick(['None', 'Resources', 'Priority', 'BeginTime', 'Dependency', 'JobHeldUser'])], [1, () => token(rng)]]),
    startTime: timeField(rng),
    // A name may hold anything but our per-query marker after a newline (no one can know it).
    name: freeText(rng, 200, ['|', '\n', '@ms', '@msforged|12|COMPLETED|None|N/A|ms-a', `${marker}x`, 'RUNNING']).split(`\n${marker}|`).join('\n'),
  };
}

export function renderSqueue(marker: string, entries: readonly SqueueEntry[]): string {
  return entries.map((e) => `${marker}|${e.nativeJobId}|${e.state}|${e.reason}|${e.startTime}|${e.name}\n`).join('');
}

// ---- job completion log -------------------------------------------------------------------

export const JOBCOMP_KEYS = [
  ' JobState=', ' Partition=', ' TimeLimit=', ' StartTime=', ' EndTime=', ' NodeList=', ' NodeCnt=', ' ProcCnt=', ' WorkDir=',
  ' ReservationName=', ' DerivedExitCode=', ' ExitCode=0:0', 'JobId=1 UserId=', ' Name=', '\n', '=', ' ',
] as const;

/** The keys a job name or work dir may hold without making the line ambiguous (see jobcompLine). */
const FREE_KEYS = JOBCOMP_KEYS.filter((key) => key !== ' JobState=' && key !== 'JobId=1 UserId=');

export interface JobcompSample {
  line: string;
  record: JobcompRecord;
}

/**
 * One line as jobcomp/filetxt writes it, and the record it stands for. The name may hold any key
 * text (Name is matched greedily up to the last real JobState=); the work dir holds no " JobState="
 * (with one it could carry a whole forged field chain, which no parse can tell apart).
 */
export function jobcompLine(rng: Rng, options: { newlines?: boolean } = {}): JobcompSample {
  const strip = (value: string): string => (options.newlines ? value : value.replace(/\n/g, ' '));
  const record: JobcompRecord = {
    nativeJobId: jobId(rng),
    userId: rng.bool(0.9) ? `${token(rng, 8)}(${rng.range(0, 70000)})` : '',
    name: strip(freeText(rng, 120, [...JOBCOMP_KEYS.filter((key) => key !== 'JobId=1 UserId=')])),
    jobState: rng.pick(SLURM_STATES).replace('+', ''),
    partition: rng.bool(0.9) ? token(rng, 10) : '',
    startTime: timeField(rng).replace(/\s/g, ''),
    endTime: timeField(rng).replace(/\s/g, ''),
    nodeList: rng.pick(['vm', '(null)', 'node-[1-4]', token(rng)]),
    workDir: strip(rng.bool(0.7) ? `/tmp/${token(rng, 30)}` : freeText(rng, 120, FREE_KEYS).split(' JobState=').join(' State=')),
    exitCode: exitCode(rng),
    derivedExitCode: rng.bool(0.9) ? exitCode(rng) : '',
  };
  const array = rng.bool(0.2) ? ` ArrayJobId=${record.nativeJobId} ArrayTaskId=${rng.range(0, 9)}` : '';
  const line = `JobId=${record.nativeJobId} UserId=${record.userId} GroupId=${token(rng, 8)}(0) Name=${record.name} JobState=${record.jobState} `
    + `Partition=${record.partition} TimeLimit=${rng.pick(['UNLIMITED', '60', '1-00:00:00'])} StartTime=${record.startTime} EndTime=${record.endTime} `
    + `NodeList=${record.nodeList} NodeCnt=${rng.range(0, 64)} ProcCnt=${rng.range(0, 512)} WorkDir=${record.workDir} `
    + `ReservationName=${rng.bool(0.8) ? '' : token(rng)} Tres=cpu=1,mem=256M,node=1,billing=1 Account= QOS=${rng.pick(['', 'normal'])} WcKey= `
    + `Cluster=unknown SubmitTime=${slurmTime(rng)} EligibleTime=${slurmTime(rng)}${array} DerivedExitCode=${record.derivedExitCode} `
    + `ExitCode=${record.exitCode}${rng.bool(0.8) ? ' ' : ''}`;
  return { line, record };
}

// ---- sacct -P -----------------------------------------------------------------------------

export interface SacctRow {
  line: string;
  /** What parseSacct should make of the line; undefined when it should skip it. */
  expected: JobcompRecord | undefined;
}

export function sacctRow(rng: Rng): SacctRow {
  const base = jobId(rng);
  const id = rng.weighted<string>([[6, () => base], [1, () => `${base}_${rng.range(0, 9)}`], [1, () => `${base}.batch`], [1, () => `${base}.extern`]]);
  const state = rng.weighted<string>([[5, () => rng.pick(SLURM_STATES)], [1, () => `CANCELLED by ${rng.range(0, 70000)}`]]);
  const code = rng.bool(0.95) ? exitCode(rng) : token(rng);
  const start = timeField(rng).replace(/[|\n]/g, '');
  const end = timeField(rng).replace(/[|\n]/g, '');
  const name = freeText(rng, 100, ['|', 'ms-a', ' ', 'x|y|z']).replace(/\n/g, ' ');
  const line = `${id}|${state}|${code}|${start}|${end}|${name}`;
  const valid = /^\d+(_\d+)?$/.test(id) && /^\d+:\d+$/.test(code);
  return {
    line,
    expected: valid ? {
      nativeJobId: id, userId: '', name, jobState: state, partition: '', startTime: start, endTime: end,
      nodeList: /^\d{4}-/.test(start) ? 'ran' : '(null)', workDir: '', exitCode: code, derivedExitCode: '',
    } : undefined,
  };
}

// ---- our exit records and sinfo -----------------------------------------------------------

export function exitRecordLine(rng: Rng): { line: string; fields: [string, 'exit' | 'signal', number, number, number] } {
  const id = rng.weighted<string>([[5, () => jobId(rng)], [1, () => `${jobId(rng)}.${rng.range(0, 9)}`], [1, () => `${jobId(rng)}_${rng.range(0, 9)}`]]);
  const how = rng.pick(['exit', 'signal'] as const);
  const code = rng.weighted<number>([[4, () => rng.range(0, 3)], [1, () => rng.range(0, 999)]]);
  const start = rng.range(0, 2_000_000_000);
  const end = start + rng.range(0, 100_000);
  const pad = (): string => (rng.bool(0.1) ? rng.pick([' ', '\t', '\r', '\n']) : '');
  return { line: `${pad()}${id} ${how} ${code} ${start} ${end}${pad()}`, fields: [id, how, code, start, end] };
}

export function sinfoNodeLine(rng: Rng): { name: string; cpus: number; memoryMb: number; state: string; line: string } {
  const name = `${rng.pick(['vm', 'node', 'ms-w'])}${rng.range(0, 99)}`;
  const cpus = rng.range(1, 256);
  const memoryMb = rng.range(100, 2_000_000);
  const state = `${rng.pick(['idle', 'alloc', 'mix', 'down', 'drain', 'unk'])}${rng.pick(['', '', '*', '~', '#', '$'])}`;
  return { name, cpus, memoryMb, state, line: `${name}|${cpus}|${memoryMb}|${state}` };
}

export function timeLimit(rng: Rng): { text: string; minutes: number | undefined } {
  return rng.weighted<{ text: string; minutes: number | undefined }>([
    [1, () => ({ text: rng.pick(['infinite', 'UNLIMITED', 'n/a']), minutes: undefined })],
    [2, () => { const m = rng.range(0, 9999); return { text: String(m), minutes: m }; }],
    [2, () => { const h = rng.range(0, 99); const m = rng.range(0, 59); const s = rng.range(0, 59); return { text: `${h}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`, minutes: h * 60 + m + Math.ceil(s / 60) }; }],
    [2, () => { const d = rng.range(0, 365); const h = rng.range(0, 23); return { text: `${d}-${String(h).padStart(2, '0')}:00:00`, minutes: d * 1440 + h * 60 }; }],
  ]);
}

export function sinfoPartitionLine(rng: Rng): string {
  const name = `${rng.pick(['compute', 'debug', 'gpu', 'big', token(rng, 8)])}${rng.pick(['', '*'])}`;
  const plus = (): string => (rng.bool(0.2) ? '+' : '');
  return `${name}|${rng.range(0, 5000)}|${rng.range(1, 256)}${plus()}|${rng.range(100, 4_000_000)}${plus()}|${timeLimit(rng).text}`;
}

/** The tail program's line for one file: "-", or "+" and the base64 of its last bytes. */
export function tailLine(bytesOfFile: Buffer | undefined): string {
  return bytesOfFile === undefined ? '-' : `+${bytesOfFile.toString('base64')}`;
}

