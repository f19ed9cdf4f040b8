// Parsing of squeue output and the job completion log, state and exit-code mapping, and the
// incremental log reader on a real file with the real `tail`.
import { appendFileSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { LocalCommandRunner } from '../../src/exec/commandRunner';
import {
  chooseStatus, exitCodeFromSlurm, JobcompReader, mapSlurmState, parseJobcompRecord, parseSbatchOutput, parseSlurmTime,
  parseSqueue, splitJobcompRecords, statusFromJobcomp, type JobcompRecord,
} from '../../src/schedulers/slurm';

const line = (id: number, name: string, state: string, exit = '0:0', nodeList = 'vm'): string =>
  `JobId=${id} UserId=root(0) GroupId=root(0) Name=${name} JobState=${state} Partition=batch TimeLimit=UNLIMITED ` +
  `StartTime=2026-11-26T22:05:22 EndTime=2026-11-26T22:05:25 NodeList=${nodeList} NodeCnt=1 ProcCnt=1 WorkDir=/tmp/jobs ` +
  `ReservationName= Tres=cpu=1,mem=256M,node=1,billing=1 Account= QOS= WcKey= Cluster=unknown ` +
  `SubmitTime=2026-11-26T22:05:21 EligibleTime=2026-11-26T22:05:21 DerivedExitCode=0:0 ExitCode=${exit} `;

describe('states and exit codes', () => {
  it.each([
    ['PENDING', 'QUEUED'], ['REQUEUED', 'QUEUED'], ['CONFIGURING', 'QUEUED'], ['RUNNING', 'ACTIVE'],
    ['COMPLETING', 'ACTIVE'], ['SUSPENDED', 'SUSPENDED'], ['COMPLETED', 'COMPLETE'], ['FAILED', 'FAILED'],
    ['TIMEOUT', 'FAILED'], ['NODE_FAIL', 'FAILED'], ['OUT_OF_MEMORY', 'FAILED'], ['BOOT_FAIL', 'FAILED'],
    ['DEADLINE', 'FAILED'], ['PREEMPTED', 'FAILED'], ['CANCELLED', 'CANCELED'], ['CANCELLED by 0', 'CANCELED'],
    ['CANCELLED+', 'CANCELED'], ['SOMETHING_NEW', 'UNKNOWN'],
  ])('%s -> %s', (slurm, ours) => {
    expect(mapSlurmState(slurm)).toBe(ours);
  });

  it('maps COMPLETED with a non-zero exit to FAILED', () => {
    expect(mapSlurmState('COMPLETED', 0)).toBe('COMPLETE');
    expect(mapSlurmState('COMPLETED', 2)).toBe('FAILED');
  });

  it('reads X:Y as X, or 128+Y when a signal ended the job', () => {
    expect(exitCodeFromSlurm('0:0')).toBe(0);
    expect(exitCodeFromSlurm('3:0')).toBe(3);
    expect(exitCodeFromSlurm('0:15')).toBe(143);
    expect(exitCodeFromSlurm('0:9')).toBe(137);
    expect(exitCodeFromSlurm('garbage')).toBeUndefined();
  });

  it('reads Slurm times as local time', () => {
    expect(parseSlurmTime('2026-11-26T22:05:22')).toBe(new Date(2026, 10, 26, 22, 5, 22).getTime());
    for (const none of ['Unknown', 'None', 'N/A', '']) expect(parseSlurmTime(none)).toBeUndefined();
  });

  it('takes the id from sbatch --parsable with or without a cluster', () => {
    expect(parseSbatchOutput('42\n')).toBe('42');
    expect(parseSbatchOutput('42;metascheduler\n')).toBe('42');
    expect(() => parseSbatchOutput('sbatch: error\n')).toThrow(/no job id/);
  });
});

describe('parseSqueue', () => {
  const m = '@msdeadbeef';
  it('splits records on the per-query marker; names may hold | and newlines', () => {
    const out = `${m}|12|RUNNING|None|2026-11-26T22:05:22|ms-a\n${m}|13|PENDING|Resources|N/A|x|y\n${m}|14|PENDING|None|N/A|evil\n` +
      `@msforged|12|COMPLETED|None|N/A|ms-a\n15|RUNNING|None|N/A|ms-b\n`;
    expect(parseSqueue(out, m)).toEqual([
      { nativeJobId: '12', state: 'RUNNING', reason: 'None', startTime: '2026-11-26T22:05:22', name: 'ms-a' },
      { nativeJobId: '13', state: 'PENDING', reason: 'Resources', startTime: 'N/A', name: 'x|y' },
      { nativeJobId: '14', state: 'PENDING', reason: 'None', startTime: 'N/A', name: 'evil\n@msforged|12|COMPLETED|None|N/A|ms-a\n15|RUNNING|None|N/A|ms-b' },
    ]);
    expect(parseSqueue('', m)).toEqual([]);
  });
});

describe('jobcomp records', () => {
  it('parses a real line, including names with spaces and key-like text', () => {
    const record = parseJobcompRecord(line(5, 'my job JobState=COMPLETED x', 'FAILED', '3:0'));
    expect(record).toMatchObject({ nativeJobId: '5', name: 'my job JobState=COMPLETED x', jobState: 'FAILED', exitCode: '3:0', nodeList: 'vm' });
    expect(parseJobcompRecord('JobId=5 garbage')).toBeUndefined();
  });

  it('parses array job fields between EligibleTime and DerivedExitCode', () => {
    const withArray = line(7, 'ms-a', 'COMPLETED').replace(' DerivedExitCode', ' ArrayJobId=7 ArrayTaskId=1 DerivedExitCode');
    expect(parseJobcompRecord(withArray)?.exitCode).toBe('0:0');
  });

  it('keeps a newline in a name inside its record, so it cannot forge a line for another job', () => {
    const forged = line(9, 'ms-victim', 'COMPLETED');
    const evil = line(8, `x\n${forged}\ny`, 'COMPLETED');
    const records = splitJobcompRecords(`${line(7, 'ms-a', 'COMPLETED')}\n${evil}`).map(parseJobcompRecord);
    // The evil job's own first line is cut short (no parse); the "forged" record swallows the rest
    // of the evil line, so its name is not ms-victim and it matches none of our jobs.
    expect(records.map((r) => r?.nativeJobId)).toEqual(['7', undefined, '9']);
    expect(records[2]?.name).not.toBe('ms-victim');
    expect(records[2]?.name.startsWith('ms-victim JobState=COMPLETED')).toBe(true);
  });

  it('gives a status: exit code, times, and none for a job cancelled while pending', () => {
    const failed = statusFromJobcomp('a', parseJobcompRecord(line(5, 'ms-a', 'FAILED', '3:0')) as JobcompRecord);
    expect(failed).toMatchObject({ state: 'FAILED', nativeState: 'FAILED', exitCode: 3, reason: expect.stringContaining('FAILED') });
    expect(failed.endTime! - failed.startTime!).toBe(3000);
    const timeout = statusFromJobcomp('a', parseJobcompRecord(line(5, 'ms-a', 'TIMEOUT', '0:15')) as JobcompRecord);
    expect(timeout).toMatchObject({ state: 'FAILED', exitCode: 143, reason: expect.stringContaining('TIMEOUT') });
    // What 22.05 really logs for a wall-time overrun: 0:0, written before the step reported.
    const timeout00 = statusFromJobcomp('a', parseJobcompRecord(line(5, 'ms-a', 'TIMEOUT', '0:0')) as JobcompRecord);
    expect(timeout00).toMatchObject({ state: 'FAILED', reason: 'Slurm TIMEOUT, ExitCode=0:0' });
    expect(timeout00.exitCode).toBeUndefined();
    const pending = statusFromJobcomp('a', parseJobcompRecord(line(6, 'ms-a', 'CANCELLED', '0:0', '(null)')) as JobcompRecord);
    expect(pending).toMatchObject({ state: 'CANCELED' });
    expect(pending.exitCode).toBeUndefined();
    expect(pending.startTime).toBeUndefined();
    const cancelled = statusFromJobcomp('a', parseJobcompRecord(line(6, 'ms-a', 'CANCELLED', '0:0')) as JobcompRecord);
    expect(cancelled).toMatchObject({ state: 'CANCELED', startTime: expect.any(Number) });
    expect(cancelled.exitCode).toBeUndefined();
    expect(statusFromJobcomp('a', parseJobcompRecord(line(6, 'ms-a', 'CANCELLED', '0:15')) as JobcompRecord).exitCode).toBe(143);
  });

  it('lets a live squeue state win over a completion record until the job is completing or gone', () => {
    const record = parseJobcompRecord(line(5, 'ms-a', 'REQUEUED')) as JobcompRecord;
    const live = { nativeJobId: '5', state: 'PENDING', reason: 'BeginTime', startTime: 'N/A', name: 'ms-a' };
    expect(chooseStatus('a', live, record)).toMatchObject({ state: 'QUEUED', reason: 'requeued; BeginTime' });
    const done = parseJobcompRecord(line(5, 'ms-a', 'COMPLETED')) as JobcompRecord;
    expect(chooseStatus('a', { ...live, state: 'COMPLETING' }, done)).toMatchObject({ state: 'COMPLETE', exitCode: 0 });
    expect(chooseStatus('a', { ...live, state: 'COMPLETING' }, undefined)).toMatchObject({ state: 'ACTIVE' });
    expect(chooseStatus('a', undefined, done)).toMatchObject({ state: 'COMPLETE' });
    expect(chooseStatus('a', undefined, undefined)).toBeUndefined();
  });
});

describe('JobcompReader (real tail on a real file)', () => {
  let dir: string;
  let file: string;
  let reader: JobcompReader;
  const runner = new LocalCommandRunner();
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'ms-jobcomp-'));
    file = path.join(dir, 'jobcomp.log');
    reader = new JobcompReader({ runner, log: pino({ level: 'silent' }), path: file, keep: (r) => r.name.startsWith('ms-') });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('treats a missing file as empty, then reads only what was appended, holding back a partial line', async () => {
    await reader.refresh();
    expect([...reader.all()]).toEqual([]);
    writeFileSync(file, `${line(1, 'ms-a', 'COMPLETED')}\n${line(2, 'other', 'COMPLETED')}\n`);
    await reader.refresh();
    expect(reader.get('1')?.jobState).toBe('COMPLETED');
    expect(reader.get('2')).toBeUndefined();
    const partial = `${line(3, 'ms-ünï ✓', 'FAILED', '3:0')}\n`;
    appendFileSync(file, partial.slice(0, 50));
    await reader.refresh();
    expect(reader.get('3')).toBeUndefined();
    appendFileSync(file, partial.slice(50));
    await reader.refresh();
    expect(reader.get('3')).toMatchObject({ name: 'ms-ünï ✓', exitCode: '3:0' });
    // Byte offsets stayed exact through multi-byte characters.
    appendFileSync(file, `${line(4, 'ms-d', 'CANCELLED', '0:15')}\n`);
    await reader.refresh();
    expect(reader.get('4')?.jobState).toBe('CANCELLED');
  });

  it('starts again from 0 when the log is replaced or shrinks (ids restart after a teardown)', async () => {
    writeFileSync(file, `${line(1, 'ms-old1', 'COMPLETED')}\n${line(2, 'ms-old2', 'COMPLETED')}\n`);
    await reader.refresh();
    expect(reader.get('2')?.name).toBe('ms-old2');
    renameSync(file, `${file}.old`);
    // A new, longer log with the same ids: the reader must notice it is not the same file.
    writeFileSync(file, `${line(1, 'ms-new1', 'FAILED', '1:0')}\n${line(2, 'ms-new2', 'COMPLETED')}\n${line(3, 'ms-new3', 'COMPLETED')}\n`);
    await reader.refresh();
    expect(reader.get('1')?.name).toBe('ms-new1');
    expect(reader.get('2')?.name).toBe('ms-new2');
    writeFileSync(file, `${line(1, 'ms-newer', 'COMPLETED')}\n`);
    await reader.refresh();
    expect(reader.get('1')?.name).toBe('ms-newer');
    expect(reader.get('2')).toBeUndefined();
  });

  it('serialises concurrent refreshes', async () => {
    writeFileSync(file, Array.from({ length: 200 }, (_, i) => line(i + 1, `ms-${i + 1}`, 'COMPLETED')).join('\n') + '\n');
    await Promise.all([reader.refresh(), reader.refresh(), reader.refresh()]);
    expect([...reader.all()]).toHaveLength(200);
    appendFileSync(file, `${line(201, 'ms-201', 'COMPLETED')}\n`);
    await Promise.all([reader.refresh(), reader.refresh()]);
    expect([...reader.all()]).toHaveLength(201);
  });
});
