// Fuzzing the parsers of scheduler output: squeue, the job completion log (and its incremental
// reader), sacct, our exit records, sinfo (node and partition forms), scontrol/squeue for pilots,
// sbatch and the submit program's lines, and the output-tail program. Each gets random text,
// mutations of real-looking output (support/slurmSamples.ts) and huge inputs; where a sample is
// built field by field, the parse must give those fields back. Asserted for every call: no throw
// (but the documented error), no hang, output no larger than the input allows, and values that
// storage can hold where the text comes from a job rather than from Slurm (Postgres text refuses
// NUL; our times go into bigint columns).
import pino from 'pino';
import { JOB_STATES } from '../../src/domain/types';
import type { CommandResult, CommandRunner, RunOptions } from '../../src/exec/commandRunner';
import { SitePilots } from '../../src/providers/hpc/pilots';
import { parseSinfoPartitions, parseTimeLimit } from '../../src/providers/hpc/siteProof';
import { parseSinfo } from '../../src/kinds/slurm/verify';
import { parseSubmitLines } from '../../src/schedulers/slurm/batchSubmit';
import { JobcompReader, parseJobcompRecord, splitJobcompRecords, type JobcompRecord } from '../../src/schedulers/slurm/jobcomp';
import { statusFromJobcomp, statusFromSqueue } from '../../src/schedulers/slurm/jobStatus';
import {
  MAX_JOBS_PER_CALL, MAX_PATH_BYTES_PER_CALL, OUTPUT_FILES, parseTails, planTailCalls, readOutputTails,
} from '../../src/schedulers/slurm/outputTails';
import { parseExitRecord, parseSacct, statusFromExitRecord } from '../../src/schedulers/slurm/siteEnded';
import { parseSbatchOutput } from '../../src/schedulers/slurm/slurmScheduler';
import { parseSqueue } from '../../src/schedulers/slurm/squeue';
import { exitCodeFromSlurm, mapSlurmState, parseSlurmTime, slurmStateWord } from '../../src/schedulers/slurm/states';
import type { NativeJobStatus } from '../../src/schedulers/scheduler';
import { anyUnits, bytes, fuzzSettings, hostileString, mutate, text, type Rng } from './support/generators';
import { Fuzzer, liveHeapMb, timeoutFor, type Case } from './support/harness';
import {
  exitRecordLine, jobcompLine, JOBCOMP_KEYS, jobId, renderSqueue, sacctRow, sinfoNodeLine, sinfoPartitionLine, squeueEntry,
  tailLine, timeLimit, token,
} from './support/slurmSamples';

const settings = fuzzSettings('test/reliability/fuzzParsers.test.ts', 1500);
const fuzzer = new Fuzzer(settings, 'test/reliability/fuzzParsers.test.ts');
const N = settings.iterations;
/** Cases with inputs of some MB: far fewer. */
const HUGE = Math.max(2, Math.round(N / 300));
/** Sizes for the growth probes (characters): up to 2 MiB. */
const SIZES = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048].map((k) => k * 1024);
const MiB = 1024 * 1024;

const silent = pino({ level: 'silent' });
const INT32_MAX = 2 ** 31 - 1;

/** Any text a parser might be handed: random, control-heavy, or any UTF-16 at all. */
function randomInput(rng: Rng, max = 2000): string {
  return rng.weighted<string>([
    [3, () => text(rng, max, ['printable', 'word', 'spaces', 'controls', 'unicode'])],
    [2, () => anyUnits(rng, max)],
    [2, () => hostileString(rng, max)],
    [1, () => bytes(rng, rng.size(max)).toString('latin1')],
  ]);
}

/** A status that storage and the wire can take: a known state, times for bigint, an int exit code. */
function checkStatus(c: Case, status: NativeJobStatus): void {
  c.check((JOB_STATES as readonly string[]).includes(status.state), () => `state ${status.state} is not a JobState`);
  for (const key of ['startTime', 'endTime'] as const) {
    const value = status[key];
    c.check(value === undefined || Number.isSafeInteger(value), () => `${key} ${value} is not a safe integer (a bigint column takes it)`);
  }
  c.check(status.exitCode === undefined || (Number.isInteger(status.exitCode) && Math.abs(status.exitCode) <= INT32_MAX),
    () => `exitCode ${status.exitCode} does not fit an int column`);
}

function countOccurrences(haystack: string, needle: string): number {
  let count = 0;
  for (let at = haystack.indexOf(needle); at >= 0; at = haystack.indexOf(needle, at + needle.length)) count += 1;
  return count;
}

/** Runs a target between two heap readings; live data must not have grown by more than limitMb. */
function withHeapCheck(label: string, limitMb: number, body: () => void): void {
  const before = liveHeapMb();
  body();
  const grown = liveHeapMb() - before;
  fuzzer.log(`${label}: live heap ${grown >= 0 ? '+' : ''}${grown.toFixed(1)} MiB after the cases`);
  expect(grown).toBeLessThan(limitMb);
}

afterAll(() => {
  console.log(fuzzer.report());
});

describe('squeue', () => {
  const marker = '@ms0123456789abcdef';

  it('gives back every record it was built from, whatever the names hold', () => {
    withHeapCheck('squeue round trip', 32, () => fuzzer.run('squeue round trip', N, (c) => {
      const entries = Array.from({ length: c.rng.size(30) }, () => squeueEntry(c.rng, marker));
      const out = renderSqueue(marker, entries);
      c.note('stdout', out);
      const parsed = c.call(() => parseSqueue(out, marker));
      expect(parsed).toEqual(entries);
      for (const entry of parsed) checkStatus(c, statusFromSqueue('job', entry));
    }));
  });

  it('takes mutated and random output without throwing, listing only real records', () => {
    fuzzer.run('squeue mutated', N, (c) => {
      const entries = Array.from({ length: 1 + c.rng.size(10) }, () => squeueEntry(c.rng, marker));
      const out = c.rng.bool(0.8)
        ? mutate(c.rng, renderSqueue(marker, entries), [`${marker}|`, `\n${marker}|`, '|', '\n', '_', '.', '12', 'RUNNING'], 6)
        : randomInput(c.rng);
      c.note('stdout', out);
      const parsed = c.call(() => parseSqueue(out, marker));
      c.check(parsed.length <= countOccurrences(`\n${out}`, `\n${marker}|`), 'more entries than record starts');
      for (const entry of parsed) {
        c.check(/^\d+(_\d+|\.\d+)?$/.test(entry.nativeJobId), `job id ${entry.nativeJobId}`);
        c.check(out.includes(entry.name) && out.includes(entry.reason), 'a field that is not in the output');
        checkStatus(c, statusFromSqueue('job', entry));
      }
    });
  });

  it('stays linear on huge output: MBs of records, one huge name, a line of many fields', () => {
    fuzzer.growth('squeue many records', SIZES, (size) => renderSqueue(marker, Array.from({ length: Math.ceil(size / 60) }, (_, i) => ({
      nativeJobId: String(i), state: 'RUNNING', reason: 'None', startTime: 'N/A', name: `ms-${i}`,
    }))), (out) => { expect(parseSqueue(out, marker).length).toBeGreaterThan(0); });
    fuzzer.growth('squeue one huge name', SIZES, (size) => `${marker}|1|RUNNING|None|N/A|${'a|\n@ms|'.repeat(size / 7)}\n`,
      (out) => { expect(parseSqueue(out, marker)).toHaveLength(1); });
    fuzzer.growth('squeue many fields', SIZES, (size) => `${marker}|1|RUNNING|${'|'.repeat(size)}`, (out) => { parseSqueue(out, marker); });
    fuzzer.growth('squeue forged markers', SIZES, (size) => `\n${marker}|`.repeat(size / 22), (out) => { expect(parseSqueue(out, marker)).toEqual([]); });
  });
});

describe('job completion log', () => {
  // The record pattern as it was before the fuzzer found it cubic (see test/unit/fuzzFindings):
  // kept here as the reference for what a record means, on inputs small enough for it.
  const REFERENCE = new RegExp(
    '^JobId=(\\d+) UserId=(\\S*) GroupId=\\S* Name=(.*) JobState=(\\S+) Partition=(\\S*) TimeLimit=\\S* ' +
      'StartTime=(\\S*) EndTime=(\\S*) NodeList=(\\S*) NodeCnt=\\S* ProcCnt=\\S* WorkDir=(.*) ReservationName=' +
      '.* DerivedExitCode=(\\S*) ExitCode=(\\d+:\\d+) ?$',
    's',
  );
  const reference = (record: string): JobcompRecord | undefined => {
    const m = REFERENCE.exec(record);
    return m ? {
      nativeJobId: m[1], userId: m[2], name: m[3], jobState: m[4], partition: m[5], startTime: m[6], endTime: m[7],
      nodeList: m[8], workDir: m[9], derivedExitCode: m[10], exitCode: m[11],
    } : undefined;
  };

  it('gives back the fields of every line it was built from, key-like names and newlines included', () => {
    withHeapCheck('jobcomp round trip', 32, () => fuzzer.run('jobcomp round trip', N, (c) => {
      const { line, record } = jobcompLine(c.rng, { newlines: true });
      c.note('record', line);
      expect(c.call(() => parseJobcompRecord(line))).toEqual(record);
      checkStatus(c, statusFromJobcomp('job', record));
    }));
  });

  it('reads mutated and random records exactly as the reference pattern does', () => {
    fuzzer.run('jobcomp mutated', N, (c) => {
      const input = c.rng.bool(0.85)
        ? mutate(c.rng, jobcompLine(c.rng, { newlines: c.rng.bool(0.3) }).line, JOBCOMP_KEYS, 6)
        : `JobId=${jobId(c.rng)} UserId=${randomInput(c.rng, 600)}`;
      c.note('record', input);
      const parsed = c.call(() => parseJobcompRecord(input));
      expect(parsed).toEqual(reference(input));
      if (parsed) {
        c.check(/^\d+$/.test(parsed.nativeJobId) && /^\d+:\d+$/.test(parsed.exitCode), 'id or exit code out of form');
        checkStatus(c, statusFromJobcomp('job', parsed));
      }
    });
  });

  it('splits any text into records that start a line each and together are the text', () => {
    fuzzer.run('jobcomp split', N, (c) => {
      const lines = Array.from({ length: c.rng.size(12) }, () => c.rng.weighted<string>([
        [4, () => jobcompLine(c.rng, { newlines: true }).line],
        [1, () => randomInput(c.rng, 200)],
        [1, () => mutate(c.rng, jobcompLine(c.rng).line, JOBCOMP_KEYS)],
      ]));
      const log = lines.join('\n');
      c.note('text', log);
      const records = c.call(() => splitJobcompRecords(log));
      const all = log.split('\n');
      const first = all.findIndex((l) => /^JobId=\d+ UserId=/.test(l));
      expect(records.join('\n')).toBe(first < 0 ? '' : all.slice(first).join('\n'));
      expect(records.length).toBe(all.filter((l) => /^JobId=\d+ UserId=/.test(l)).length);
      for (const record of records) c.check(/^JobId=\d+ UserId=/.test(record), 'a record that does not start one');
    });
  });

  it('stays linear on huge records, whatever key text a name or work dir repeats', () => {
    const chain = ' JobState=A Partition=B TimeLimit=C StartTime=D EndTime=E NodeList=F NodeCnt=G ProcCnt=H WorkDir=W ReservationName=R DerivedExitCode=0:0';
    const head = 'JobId=1 UserId=u GroupId=g Name=x';
    fuzzer.growth('jobcomp repeated field chain', SIZES, (size) => `${head}${chain.repeat(Math.ceil(size / chain.length))} no exit code`,
      (record) => { expect(parseJobcompRecord(record)).toBeUndefined(); });
    fuzzer.growth('jobcomp repeated chain, valid end', SIZES, (size) => `${head}${chain.repeat(Math.ceil(size / chain.length))} ExitCode=0:0`,
      (record) => { expect(parseJobcompRecord(record)?.name.length).toBeGreaterThan(record.length - head.length - 2 * chain.length); });
    for (const key of [' JobState=', ' WorkDir=', ' ReservationName=', ' DerivedExitCode=', ' ExitCode=1:', 'x', '\n']) {
      fuzzer.growth(`jobcomp name of ${JSON.stringify(key)}`, SIZES, (size) => `${head}${key.repeat(Math.ceil(size / key.length))}`,
        (record) => { parseJobcompRecord(record); });
    }
    fuzzer.growth('jobcomp split many lines', SIZES, (size) => `JobId=1 UserId=u GroupId=g Name=x\n${'y\n'.repeat(size / 2)}`,
      (log) => { expect(splitJobcompRecords(log)).toHaveLength(1); });
  });
});

/**
 * The completion log as `tail -c +N -- FILE` over a runner sees it: bytes as latin1, a missing
 * file, or a read that fails.
 */
class FakeLog implements CommandRunner {
  content = '';
  exists = true;
  failNext = false;
  reads = 0;

  async run(argv: readonly string[], options?: RunOptions): Promise<CommandResult> {
    this.reads += 1;
    expect(argv.slice(0, 2)).toEqual(['tail', '-c']);
    expect(options?.encoding).toBe('latin1');
    if (this.failNext) {
      this.failNext = false;
      return { exitCode: 1, stdout: '', stderr: 'tail: error reading \'jobcomp.log\': Input/output error' };
    }
    if (!this.exists) return { exitCode: 1, stdout: '', stderr: 'tail: cannot open \'jobcomp.log\' for reading: No such file or directory' };
    const from = Number(argv[2].slice(1)) - 1;
    return { exitCode: 0, stdout: this.content.slice(from), stderr: '' };
  }
}

/**
 * The reader as its comment describes it: reads from where it left off, a little earlier, and must
 * find the last line it consumed there again, else it starts over from byte 0; complete lines only;
 * each read's lines split into records on their own; the latest record per id, newest last, the
 * oldest dropped over the limit.
 */
class ReaderModel {
  private offset = 0;
  private anchor = '';
  private byId = new Map<string, JobcompRecord>();

  constructor(private readonly keep: (r: JobcompRecord) => boolean, private readonly max: number) {}

  refreshed(content: string | undefined): void {
    if (content === undefined) {
      this.reset();
      return;
    }
    if (this.offset > 0 && !(content.length >= this.offset && content.slice(this.offset - this.anchor.length, this.offset) === this.anchor)) this.reset();
    const end = content.lastIndexOf('\n') + 1;
    if (end <= this.offset) return;
    this.take(content.slice(this.offset, end));
    const line = content.slice(content.lastIndexOf('\n', end - 2) + 1, end);
    this.anchor = line.slice(-4096);
    this.offset = end;
  }

  records(): JobcompRecord[] {
    return [...this.byId.values()].slice(-this.max);
  }

  /** One read's complete lines: its records on their own, the latest per id last. */
  private take(chunk: string): void {
    for (const raw of splitJobcompRecords(Buffer.from(chunk.slice(0, -1), 'latin1').toString('utf8'))) {
      const record = parseJobcompRecord(raw);
      if (!record || !this.keep(record)) continue;
      this.byId.delete(record.nativeJobId);
      this.byId.set(record.nativeJobId, record);
    }
  }

  private reset(): void {
    this.offset = 0;
    this.anchor = '';
    this.byId = new Map();
  }
}

describe('JobcompReader over a log that grows, shrinks, vanishes and fails', () => {
  it('holds what its documented reading gives, within its record limit, through any history', async () => {
    const before = liveHeapMb();
    await fuzzer.runAsync('jobcomp reader', Math.max(20, Math.round(N / 8)), async (c) => {
      const log = new FakeLog();
      const maxRecords = c.rng.range(1, 40);
      const keep = (r: JobcompRecord): boolean => r.name.startsWith('ms-');
      const reader = new JobcompReader({ runner: log, log: silent, path: '/var/log/slurm/jobcomp.log', keep, maxRecords });
      const model = new ReaderModel(keep, maxRecords);
      const utf8Lines = (n: number): string => Buffer.from(Array.from({ length: n }, () => `${jobcompLine(c.rng).line}\n`).join(''), 'utf8').toString('latin1');
      for (let step = 0; step < 12; step += 1) {
        const op = c.rng.weighted<string>([[12, () => 'append'], [2, () => 'partial'], [2, () => 'shrink'], [2, () => 'replace'],
          [2, () => 'vanish'], [2, () => 'fail'], [1, () => 'huge'], [2, () => 'same']]);
        log.exists = op !== 'vanish';
        if (op === 'append') log.content += utf8Lines(c.rng.size(20));
        if (op === 'partial') log.content += utf8Lines(1).slice(0, c.rng.int(200));
        if (op === 'huge') log.content += c.rng.bool() ? utf8Lines(500) : `${bytes(c.rng, MiB / 4).toString('latin1')}\n`;
        if (op === 'fail') log.failNext = true;
        if (op === 'shrink') log.content = log.content.slice(0, c.rng.int(log.content.length + 1));
        if (op === 'replace') log.content = utf8Lines(c.rng.size(30));
        if (op === 'vanish') log.content = '';
        c.note(`step ${step}`, `${op}, log now ${log.content.length} bytes`);
        const outcome = await c.callAsync(() => reader.refresh().then(() => undefined, (error: unknown) => error));
        if (outcome !== undefined) {
          c.check(outcome instanceof Error && /^reading the job completion log failed \(exit 1\)/.test(outcome.message), () => `refresh threw ${String(outcome)}`);
          c.check(op === 'fail', 'a refresh failed without a failing read');
        } else {
          model.refreshed(log.exists ? log.content : undefined);
        }
        const held = [...reader.all()];
        c.check(held.length <= maxRecords, () => `${held.length} records held, over the limit of ${maxRecords}`);
        for (const record of held) c.check(keep(record) && reader.get(record.nativeJobId) === record, 'a record it should not keep');
        expect(held).toEqual(model.records());
      }
    });
    const grown = liveHeapMb() - before;
    fuzzer.log(`jobcomp reader: live heap ${grown.toFixed(1)} MiB after the cases`);
    expect(grown).toBeLessThan(32);
  }, timeoutFor(N / 8, 30));
});

describe('sacct and our exit records (HPC sites)', () => {
  it('gives back every sacct line it was built from and skips the rest', () => {
    fuzzer.run('sacct round trip', N, (c) => {
      const rows = Array.from({ length: c.rng.size(20) }, () => sacctRow(c.rng));
      const out = rows.map((r) => r.line).join('\n') + (c.rng.bool() ? '\n' : '');
      c.note('stdout', out);
      const parsed = c.call(() => parseSacct(out));
      expect(parsed).toEqual(rows.flatMap((r) => (r.expected ? [r.expected] : [])));
      for (const record of parsed) checkStatus(c, statusFromJobcomp('job', record));
    });
  });

  it('takes mutated and random sacct output', () => {
    fuzzer.run('sacct mutated', N, (c) => {
      const out = c.rng.bool(0.8) ? mutate(c.rng, sacctRow(c.rng).line, ['|', '\n', ':', '_', '0', 'by']) : randomInput(c.rng);
      c.note('stdout', out);
      const parsed = c.call(() => parseSacct(out));
      c.check(parsed.length <= out.split('\n').length, 'more records than lines');
      for (const record of parsed) {
        c.check(/^\d+(_\d+)?$/.test(record.nativeJobId) && /^\d+:\d+$/.test(record.exitCode), 'a record out of form');
        checkStatus(c, statusFromJobcomp('job', record));
      }
    });
  });

  it('reads an exit record it was built from, and never hands on a time a bigint column refuses', () => {
    fuzzer.run('exit record', N, (c) => {
      const built = exitRecordLine(c.rng);
      const line = c.rng.weighted<string>([
        [3, () => built.line],
        [3, () => mutate(c.rng, built.line, [' ', '9'.repeat(20), '9'.repeat(300), 'exit', 'signal', '.', '_', '\n', '-'])],
        // What a job could leave in its own exit file: `head -c 300` of anything.
        [1, () => randomInput(c.rng, 300)],
      ]);
      c.note('line', line);
      const record = c.call(() => parseExitRecord(line));
      if (line === built.line) {
        const [id, how, code, start, end] = built.fields;
        expect(record).toEqual({ nativeJobId: id, how, code, startTime: start * 1000, endTime: end * 1000 });
      }
      if (record) checkStatus(c, statusFromExitRecord('job', record));
    });
  });

  it('stays linear on huge sacct output and exit lines', () => {
    fuzzer.growth('sacct many lines', SIZES, (size) => '7|COMPLETED|0:0|2026-12-02T10:00:00|2026-12-02T10:01:00|ms-a\n'.repeat(size / 60),
      (out) => { expect(parseSacct(out).length).toBeGreaterThan(0); });
    fuzzer.growth('sacct one huge name', SIZES, (size) => `7|COMPLETED|0:0|N/A|N/A|${'|'.repeat(size)}`, (out) => { expect(parseSacct(out)).toHaveLength(1); });
    fuzzer.growth('exit record digits', SIZES, (size) => `${'1'.repeat(size)} exit 0 ${'2'.repeat(size)} 3`, (line) => { parseExitRecord(line); });
    fuzzer.growth('exit record spaces', SIZES, (size) => `1 exit 0 1${' '.repeat(size)}2`, (line) => { expect(parseExitRecord(line)).toBeUndefined(); });
  });
});

describe('states and times', () => {
  it('maps any state word, exit code and time without throwing, to values storage takes', () => {
    fuzzer.run('states', N, (c) => {
      const raw = c.rng.bool(0.5) ? mutate(c.rng, c.rng.pick(['CANCELLED by 0', 'COMPLETED', '0:15', '2026-11-26T22:05:22', 'RUNNING+']), ['+', ' ', ':', '9'.repeat(30), 'T', '-']) : randomInput(c.rng, 200);
      c.note('text', raw);
      c.call(() => slurmStateWord(raw));
      c.check((JOB_STATES as readonly string[]).includes(c.call(() => mapSlurmState(raw, c.rng.bool() ? c.rng.range(-1, 300) : undefined))), 'state out of the enum');
      const code = c.call(() => exitCodeFromSlurm(raw));
      c.check(code === undefined || (Number.isInteger(code) && code >= 0), () => `exit code ${code}`);
      const time = c.call(() => parseSlurmTime(raw));
      c.check(time === undefined || Number.isSafeInteger(time), () => `time ${time}`);
    });
  });
});

describe('sinfo', () => {
  it('reads the node lines it was built from; any other text gives names with a state', () => {
    fuzzer.run('sinfo nodes', N, (c) => {
      const nodes = Array.from({ length: c.rng.size(20) }, () => sinfoNodeLine(c.rng));
      const clean = c.rng.bool(0.5);
      const out = clean ? nodes.map((n) => n.line).join('\n') : mutate(c.rng, nodes.map((n) => n.line).join('\n') || 'vm0|2|1000|idle', ['|', '\n', ' ', '*', '-1', 'N/A']);
      c.note('stdout', out);
      const parsed = c.call(() => parseSinfo(out));
      if (clean) {
        const expected = new Map<string, { state: string; cpus: number; memoryMb: number }>();
        for (const n of nodes) expected.set(n.name, { state: n.state, cpus: n.cpus, memoryMb: n.memoryMb });
        expect(parsed).toEqual(expected);
      }
      c.check(parsed.size <= out.split('\n').length, 'more nodes than lines');
      for (const [name, facts] of parsed) c.check(name !== '' && typeof facts.state === 'string', 'a nameless or stateless node');
    });
  });

  it('reads partitions and time limits: totals over the lines of a partition, least CPUs and memory', () => {
    fuzzer.run('sinfo partitions', N, (c) => {
      const lines = Array.from({ length: c.rng.size(12) }, () => sinfoPartitionLine(c.rng));
      const clean = c.rng.bool(0.6);
      const out = clean ? lines.join('\n') : mutate(c.rng, lines.join('\n') || 'debug*|1|2|2048|10:00', ['|', '\n', '+', '*', '-', ':', '9'.repeat(30), 'infinite']);
      c.note('stdout', out);
      const parsed = c.call(() => parseSinfoPartitions(out));
      if (clean) {
        // A partition over nodes of several kinds comes once per kind: nodes add up, CPUs and memory are the least.
        const expected = new Map<string, { name: string; nodes: number; cpusPerNode: number; memoryMbPerNode: number; maxTimeMinutes?: number }>();
        for (const line of lines) {
          const [raw, nodes, cpus, memory, limit] = line.split('|');
          const name = raw.replace(/\*$/, '');
          const least = (v: string): number => Number(v.replace(/\+$/, ''));
          const maxTime = parseTimeLimit(limit);
          const before = expected.get(name);
          expected.set(name, before
            ? { ...before, nodes: before.nodes + Number(nodes), cpusPerNode: Math.min(before.cpusPerNode, least(cpus)), memoryMbPerNode: Math.min(before.memoryMbPerNode, least(memory)) }
            : { name, nodes: Number(nodes), cpusPerNode: least(cpus), memoryMbPerNode: least(memory), ...(typeof maxTime === 'number' ? { maxTimeMinutes: maxTime } : {}) });
        }
        expect(parsed).toEqual(expected);
      }
      for (const [name, facts] of parsed) {
        // The default's mark ("*") is taken off, once.
        c.check(name === facts.name && out.split('\n').some((line) => line.trim().startsWith(`${name}|`) || line.trim().startsWith(`${name}*|`)), () => `partition name ${name}`);
        for (const n of [facts.nodes, facts.cpusPerNode, facts.memoryMbPerNode]) c.check(Number.isFinite(n), 'a count that is not a number');
        c.check(facts.maxTimeMinutes === undefined || Number.isSafeInteger(facts.maxTimeMinutes), 'a time limit that is not whole');
      }
      const limit = timeLimit(c.rng);
      expect(parseTimeLimit(limit.text)).toBe(limit.minutes);
      const odd = c.call(() => parseTimeLimit(randomInput(c.rng, 40)));
      c.check(odd === undefined || odd === 'bad' || (Number.isSafeInteger(odd) && odd >= 0), () => `time limit ${String(odd)}`);
    });
  });

  it('stays linear on huge sinfo output', () => {
    fuzzer.growth('sinfo nodes many lines', SIZES, (size) => 'vm1|2|1000|idle\n'.repeat(size / 16), (out) => { expect(parseSinfo(out).size).toBe(1); });
    fuzzer.growth('sinfo partitions many lines', SIZES, (size) => 'big|3|64+|256000|2-00:00:00\n'.repeat(size / 28),
      (out) => { expect(parseSinfoPartitions(out).size).toBe(1); });
    fuzzer.growth('time limit digits', SIZES, (size) => `${'1'.repeat(size)}-${'2'.repeat(size)}:00`, (limit) => { parseTimeLimit(limit); });
  });
});

/** A login host whose squeue, scontrol and mkdir print whatever the case says. */
class CannedRunner implements CommandRunner {
  constructor(private readonly answer: () => CommandResult) {}

  async run(): Promise<CommandResult> {
    return this.answer();
  }
}

describe('pilots: squeue and scontrol at an HPC site', () => {
  it('reads any squeue or scontrol answer into plain strings, or the documented error', async () => {
    await fuzzer.runAsync('pilot answers', Math.round(N / 2), async (c) => {
      const stdout = c.rng.bool(0.6)
        ? mutate(c.rng, c.rng.pick(['RUNNING|None|2026-12-02T10:00:00|2026-12-02T11:00:00|hpc-[1-2]\n', '123\n', 'hpc-1\nhpc-2\n']), ['|', '\n', ' ', '[', ']', ','])
        : randomInput(c.rng);
      const exitCode = c.rng.weighted<number>([[5, () => 0], [1, () => 1]]);
      const stderr = exitCode === 0 ? '' : c.rng.pick(['slurm_load_jobs error: Invalid job id specified', 'Socket timed out', randomInput(c.rng, 100)]);
      c.note('stdout', stdout);
      c.note('stderr', stderr);
      const pilots = new SitePilots(new CannedRunner(() => ({ exitCode, stdout, stderr })),
        { partitions: ['compute'], scratchDir: '/scratch/ms', modules: [], environment: {}, accounting: 'files' });
      const settled = async <T>(p: Promise<T>): Promise<T | Error> => p.catch((error: unknown) => {
        c.check(error instanceof Error && /^(squeue|scontrol show hostnames) failed/.test(error.message), () => `unexpected ${String(error)}`);
        return error as Error;
      });
      const status = await c.callAsync(() => settled(pilots.status('123')));
      if (status !== undefined && !(status instanceof Error)) {
        for (const value of Object.values(status)) c.check(typeof value === 'string' && !value.includes('\n'), 'a field that is not one line');
      }
      const found = await c.callAsync(() => settled(pilots.find('alloc-1')));
      c.check(found === undefined || found instanceof Error || /^\d+$/.test(found), () => `found ${String(found)}`);
      const hosts = await c.callAsync(() => settled(pilots.hostnames('hpc-[1-2]')));
      if (Array.isArray(hosts)) for (const host of hosts) c.check(host !== '' && host === host.trim(), () => `host ${JSON.stringify(host)}`);
    });
  }, timeoutFor(N / 2, 2));
});

describe('sbatch and the submit program', () => {
  it('takes a job id from sbatch output or throws its one documented error', () => {
    fuzzer.run('sbatch output', N, (c) => {
      const id = jobId(c.rng);
      const out = c.rng.weighted<string>([
        [2, () => `${id}\n`], [1, () => `${id};cluster-${token(c.rng)}\n`],
        [3, () => mutate(c.rng, `${id};metascheduler\n`, [';', '\n', ' ', 'Submitted batch job ', '-'])], [2, () => randomInput(c.rng)],
      ]);
      c.note('stdout', out);
      let parsed: string | undefined;
      try {
        parsed = c.call(() => parseSbatchOutput(out));
      } catch (error) {
        const message = error instanceof Error ? error.message : '';
        c.check(message.startsWith('sbatch printed no job id: '), () => `unexpected ${String(error)}`);
        c.check(message.length < 2000, 'an error message that grows with the output');
      }
      if (parsed !== undefined) c.check(/^\d+$/.test(parsed), `id ${parsed}`);
      if (/^\d+(;[^\n]*)?\n$/.test(out)) expect(parsed).toBe(out.split(/[;\n]/)[0]);
    });
  });

  it('reads the submit program\'s lines: the first well-formed line of each job asked about', () => {
    fuzzer.run('submit lines', N, (c) => {
      const ids = Array.from({ length: 1 + c.rng.size(10) }, (_, i) => `job-${i}`);
      const lines = Array.from({ length: c.rng.size(20) }, () => c.rng.weighted<string>([
        [4, () => `${c.rng.pick([...ids, 'stranger'])}\t${c.rng.range(0, 255)}\t${text(c.rng, 80, ['printable', 'unicode'])}`],
        [1, () => mutate(c.rng, `${c.rng.pick(ids)}\t0\t42`, ['\t', '\n', '999', 'x'])],
        [1, () => randomInput(c.rng, 100)],
      ]));
      const out = lines.join('\n');
      c.note('stdout', out);
      const parsed = c.call(() => parseSubmitLines(out, new Set(ids)));
      const expected = new Map<string, { status: number; message: string }>();
      for (const line of out.split('\n')) {
        const m = /^([^\t]*)\t(\d{1,3})\t(.*)$/s.exec(line);
        if (m && ids.includes(m[1]) && !expected.has(m[1])) expected.set(m[1], { status: Number(m[2]), message: m[3] });
      }
      expect(parsed).toEqual(expected);
    });
  });
});

describe('output tails', () => {
  it('decodes each file\'s tail, one entry per path, into text Postgres can store', () => {
    fuzzer.run('tails', N, (c) => {
      const files = Array.from({ length: c.rng.size(12) }, () => c.rng.weighted<Buffer | undefined>([
        [1, () => undefined],
        [3, () => Buffer.from(text(c.rng, 500, ['printable', 'spaces', 'unicode']), 'utf8')],
        [2, () => bytes(c.rng, c.rng.size(500))],
        [1, () => Buffer.from(`done\u0000\u0000${text(c.rng, 20)}`, 'utf8')],
      ]));
      const clean = files.map(tailLine).join('\n') + '\n';
      const out = c.rng.bool(0.7) ? clean : mutate(c.rng, clean, ['+', '-', '\n', '=', '/', 'AAAA', '\r']);
      c.note('stdout', out);
      const tails = c.call(() => parseTails(out, files.length));
      expect(tails).toHaveLength(files.length);
      tails.forEach((tail, i) => {
        if (tail === undefined) return;
        c.check(!tail.includes('\u0000'), () => `tail ${i} holds a NUL character, which a Postgres text column refuses`);
        c.check(tail.length <= out.length, 'a tail longer than the output');
      });
      if (out === clean) {
        files.forEach((file, i) => {
          if (file === undefined) expect(tails[i]).toBeUndefined();
          // Text that is valid UTF-8 and has no NUL comes back exactly.
          else if (!file.includes(0) && Buffer.from(file.toString('utf8'), 'utf8').equals(file)) expect(tails[i]).toBe(file.toString('utf8'));
        });
      }
    });
  });

  it('plans calls within their bounds and gives every job its tails, or none when its call failed', async () => {
    await fuzzer.runAsync('tail calls', Math.round(N / 4), async (c) => {
      const jobs = Array.from({ length: c.rng.size(400) }, () => ({
        account: c.rng.pick(['ms-gw1', 'ms-gw2', 'ms-gw3']),
        workingDir: c.rng.weighted<string>([[8, () => `/home/ms/${token(c.rng, 40)}`], [1, () => `/w/${'d'.repeat(c.rng.size(70_000))}`]]),
      }));
      const calls = c.call(() => planTailCalls(jobs));
      const seen = calls.flatMap((call) => call.indexes);
      expect([...seen].sort((a, b) => a - b)).toEqual(jobs.map((_, i) => i));
      for (const call of calls) {
        c.check(call.indexes.every((i) => jobs[i].account === call.account), 'a call mixing accounts');
        c.check(call.indexes.length <= MAX_JOBS_PER_CALL, 'too many jobs in one call');
        const pathBytes = call.indexes.reduce((sum, i) => sum + OUTPUT_FILES.reduce((s, f) => s + Buffer.byteLength(`${jobs[i].workingDir}/${f}`) + 4, 0), 0);
        c.check(pathBytes <= MAX_PATH_BYTES_PER_CALL || call.indexes.length === 1, 'a call over the path bytes with more than one job');
      }
      // Calls start in plan order (each worker takes the next call before it awaits anything).
      const fates: ('ok' | 'exit' | 'throw')[] = [];
      let errors = 0;
      const result = await c.callAsync(() => readOutputTails(async (account, argv) => {
        const paths = argv.slice(5);
        const how = c.rng.weighted<'ok' | 'exit' | 'throw'>([[6, () => 'ok'], [1, () => 'exit'], [1, () => 'throw']]);
        fates.push(how);
        if (how === 'throw') throw new Error('ssh: connection lost');
        if (how === 'exit') return { exitCode: 1, stdout: '', stderr: `runuser: user ${account} does not exist` };
        return { exitCode: 0, stdout: paths.map((p) => tailLine(Buffer.from(`tail of ${p}`))).join('\n') + '\n', stderr: '' };
      }, jobs, 1024, () => { errors += 1; }));
      expect(result).toHaveLength(jobs.length);
      expect(fates).toHaveLength(calls.length);
      calls.forEach((call, k) => {
        for (const i of call.indexes) {
          const dir = jobs[i].workingDir;
          if (fates[k] === 'throw') expect(result[i]).toBeUndefined();
          else if (fates[k] === 'exit') expect(result[i]).toEqual({});
          else expect(result[i]).toEqual({ stdOut: `tail of ${dir}/stdout.txt`, stdErr: `tail of ${dir}/stderr.txt` });
        }
      });
      expect(errors).toBe(fates.filter((f) => f === 'throw').length);
    });
  }, timeoutFor(N / 4, 10));

  it('stays linear on huge tails and many paths', () => {
    fuzzer.growth('tails one huge line', SIZES, (size) => `+${Buffer.alloc(size * 3 / 4, 'a').toString('base64')}\n`, (out) => { expect(parseTails(out, 1)[0]?.length).toBeGreaterThan(0); });
    fuzzer.growth('tails many paths', SIZES, (size) => '-\n'.repeat(size / 2), (out) => { expect(parseTails(out, out.length / 2).every((t) => t === undefined)).toBe(true); });
  });
});

describe('huge random input through every parser', () => {
  it('takes MBs of random bytes and text without throwing or hanging', () => {
    withHeapCheck('huge random input', 64, () => fuzzer.run('huge random input', HUGE, (c) => {
      const input = c.rng.bool() ? bytes(c.rng, MiB + c.rng.int(MiB)).toString('latin1') : anyUnits(c.rng, 2 * MiB);
      c.note('input', input.slice(0, 200));
      c.call(() => parseSqueue(input, '@msdeadbeef'));
      c.call(() => splitJobcompRecords(input).map(parseJobcompRecord));
      c.call(() => parseJobcompRecord(`JobId=1 UserId=${input}`));
      c.call(() => parseSacct(input));
      c.call(() => parseExitRecord(input));
      c.call(() => parseSinfo(input));
      c.call(() => parseSinfoPartitions(input));
      c.call(() => parseTails(input, 100));
      c.call(() => parseSubmitLines(input, new Set(['a'])));
      try {
        c.call(() => parseSbatchOutput(input));
      } catch (error) {
        c.check(error instanceof Error && error.message.startsWith('sbatch printed no job id: '), () => `unexpected ${String(error)}`);
      }
    }));
  });
});
