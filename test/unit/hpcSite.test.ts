// The pure parts of HPC systems: options as the operator writes them, what sinfo and sacct print,
// the exit records our scripts write, and the script that writes them.
import { parseHpcOptions, siteJobRoot, siteStatusDir } from '../../src/providers/hpc/options';
import { parseSinfoPartitions, parseTimeLimit } from '../../src/providers/hpc/siteProof';
import { renderBatchScript, sbatchArguments } from '../../src/schedulers/slurm/batchScript';
import { parseExitRecord, parseSacct, statusFromExitRecord } from '../../src/schedulers/slurm/siteEnded';
import { statusFromJobcomp } from '../../src/schedulers/slurm/jobStatus';
import type { ClusterSpec } from '../../src/domain/types';

const spec = (providerOptions: Record<string, string>): ClusterSpec => ({
  name: 'expanse', kind: 'SLURM', provider: 'HPC_PILOT', hosts: [{ address: 'login.example.org', sshUser: 'gwuser' }], providerOptions,
});

describe('HPC options', () => {
  it('reads partitions, account, scratch, modules and env.NAME', () => {
    const { options, errors } = parseHpcOptions(spec({
      partitions: 'compute, shared', account: 'abc123', scratchDir: '/expanse/lustre/scratch/gwuser/', modules: 'gcc/10.2.0,openmpi',
      'env.OMP_PROC_BIND': 'close',
    }));
    expect(errors).toEqual([]);
    expect(options).toEqual({
      partitions: ['compute', 'shared'], account: 'abc123', scratchDir: '/expanse/lustre/scratch/gwuser', modules: ['gcc/10.2.0', 'openmpi'],
      environment: { OMP_PROC_BIND: 'close' }, accounting: 'auto',
    });
    expect(siteJobRoot(options!)).toBe('/expanse/lustre/scratch/gwuser/airavata-ms');
    expect(siteStatusDir(options!)).toBe('/expanse/lustre/scratch/gwuser/airavata-ms/.status');
  });

  it('keeps an env.NAME that is a name on every object (fuzzing found __proto__ dropped without a word)', () => {
    const { options, errors } = parseHpcOptions(spec(Object.fromEntries([
      ['partitions', 'compute'], ['scratchDir', '/scratch/gw'], ['env.__proto__', 'p'], ['env.constructor', 'c'],
    ])));
    expect(errors).toEqual([]);
    expect(Object.entries(options!.environment)).toEqual([['__proto__', 'p'], ['constructor', 'c']]);
  });

  it('names every bad option', () => {
    const { errors } = parseHpcOptions(spec({
      partitions: 'ok,-bad', account: 'a b', scratchDir: '/scratch/../etc', modules: 'x;rm', 'env.SLURM_NTASKS': '9', accounting: 'maybe', colour: 'red',
    }));
    const fields = errors.map((e) => e.field);
    expect(fields).toEqual(expect.arrayContaining([
      'spec.providerOptions["partitions"]', 'spec.providerOptions["account"]', 'spec.providerOptions["scratchDir"]',
      'spec.providerOptions["modules"]', 'spec.providerOptions["env.SLURM_NTASKS"]', 'spec.providerOptions["accounting"]',
      'spec.providerOptions["colour"]',
    ]));
    expect(parseHpcOptions(spec({})).errors.map((e) => e.field)).toEqual(['spec.providerOptions["partitions"]', 'spec.providerOptions["scratchDir"]']);
  });
});

describe('sinfo and time limits', () => {
  it('reads time limits in every form Slurm prints', () => {
    expect(parseTimeLimit('infinite')).toBeUndefined();
    expect(parseTimeLimit('UNLIMITED')).toBeUndefined();
    expect(parseTimeLimit('2-00:00:00')).toBe(2880);
    expect(parseTimeLimit('1:00:00')).toBe(60);
    expect(parseTimeLimit('30:00')).toBe(30);
    expect(parseTimeLimit('10')).toBe(10);
    expect(parseTimeLimit('soon')).toBe('bad');
  });

  it('reads partitions, the default marked, heterogeneous nodes at their least', () => {
    const partitions = parseSinfoPartitions('compute*|2|2|2048|1:00:00\ndebug|1|2|2048|10:00\nbig|3|64+|256000|2-00:00:00\nbig|1|32|128000|2-00:00:00\n');
    expect(partitions.get('compute')).toEqual({ name: 'compute', nodes: 2, cpusPerNode: 2, memoryMbPerNode: 2048, maxTimeMinutes: 60 });
    expect(partitions.get('debug')?.maxTimeMinutes).toBe(10);
    expect(partitions.get('big')).toEqual({ name: 'big', nodes: 4, cpusPerNode: 32, memoryMbPerNode: 128000, maxTimeMinutes: 2880 });
  });
});

describe('final states at a site', () => {
  it('reads exit records and maps them', () => {
    const done = parseExitRecord('42 exit 0 1700000000 1700000010');
    expect(done).toEqual({ nativeJobId: '42', how: 'exit', code: 0, startTime: 1700000000000, endTime: 1700000010000 });
    expect(statusFromExitRecord('a', done!)).toMatchObject({ state: 'COMPLETE', exitCode: 0, nativeJobId: '42' });
    expect(statusFromExitRecord('a', parseExitRecord('43 exit 3 1 2')!)).toMatchObject({ state: 'FAILED', exitCode: 3, reason: 'exit status 3' });
    expect(statusFromExitRecord('a', parseExitRecord('44 signal 15 1 2')!)).toMatchObject({ state: 'FAILED', exitCode: 143, nativeState: 'SIGTERM' });
    expect(parseExitRecord('44 signal 15')).toBeUndefined();
    expect(parseExitRecord('x exit 0 1 2')).toBeUndefined();
  });

  it('reads sacct lines, a job name holding "|" included', () => {
    const [ok, cancelled] = parseSacct('7|COMPLETED|0:0|2026-12-02T10:00:00|2026-12-02T10:01:00|ms-a\n8|CANCELLED by 5300|0:0|None|2026-12-02T10:02:00|ms-b|x\n');
    expect(statusFromJobcomp('a', ok)).toMatchObject({ state: 'COMPLETE', exitCode: 0 });
    expect(cancelled.name).toBe('ms-b|x');
    expect(statusFromJobcomp('b', cancelled)).toMatchObject({ state: 'CANCELED', reason: 'Slurm CANCELLED before it started' });
  });
});

describe('site batch scripts', () => {
  const job = {
    jobId: 'j1', workingDir: '/scratch/gw/airavata-ms/j1', account: 'gw', environment: { MINE: 'x' },
    spec: { jobName: 'n', parallelism: 'SERIAL' as const, command: ['echo', "it's"] },
  };

  it('loads modules, exports the site environment before the job\'s, records its end', () => {
    const script = renderBatchScript(job, { modules: ['gcc/10'], environment: { MINE: 'site', OTHER: 'y z' }, exitFile: '/scratch/gw/.status/j1.exit' });
    const lines = script.split('\n');
    expect(lines).toContain("module load 'gcc/10'");
    expect(lines.indexOf("export 'MINE'='site'")).toBeLessThan(lines.indexOf("export 'MINE'='x'"));
    expect(lines).toContain("ms_exit_file='/scratch/gw/.status/j1.exit'");
    expect(lines).toContain('ms_ended exit "$status"');
    expect(lines.some((l) => l.startsWith('trap ') && l.endsWith(' TERM'))).toBe(true);
  });

  it('charges the allocation with a whole argument', () => {
    const args = sbatchArguments(job, '/x/.ms-j1.sbatch', { defaultPartition: 'debug', extra: ['--account=abc123'] });
    expect(args).toContain('--partition=debug');
    expect(args.at(-2)).toBe('--account=abc123');
    expect(args.at(-1)).toBe('/x/.ms-j1.sbatch');
  });
});
