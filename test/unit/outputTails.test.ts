// The batched output-tail reader: the fixed program run by a real sh over real files (as root's
// runuser would run it, minus the account switch, which test/integration/slurm.test.ts covers for
// the single read), its framing, and how jobs are split into calls.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { LocalCommandRunner } from '../../src/exec/commandRunner';
import {
  MAX_JOBS_PER_CALL, MAX_PATH_BYTES_PER_CALL, planTailCalls, readOutputTails, type RunAsAccount,
} from '../../src/schedulers/slurm/outputTails';

const runner = new LocalCommandRunner();

describe('readOutputTails', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'ms-tails-'));
  const dir = (name: string, files: Record<string, string | Buffer>): string => {
    const d = path.join(root, name);
    mkdirSync(d, { recursive: true });
    for (const [file, content] of Object.entries(files)) writeFileSync(path.join(d, file), content);
    return d;
  };

  it('reads every job\'s tails in one process per account, whatever bytes the files hold', async () => {
    const calls: { account: string; argv: readonly string[] }[] = [];
    const run: RunAsAccount = (account, argv) => {
      calls.push({ account, argv });
      return runner.run(argv);
    };
    const jobs = [
      { account: 'alice', workingDir: dir('a', { 'stdout.txt': 'line 1\n+forged\n-\n', 'stderr.txt': '' }) },
      { account: 'bob', workingDir: dir('b', { 'stdout.txt': 'x'.repeat(50) + 'tail end' }) },
      { account: 'alice', workingDir: dir('c; rm -rf / $(id) \'q\'\n', { 'stderr.txt': 'é ünïcode\n' }) },
      { account: 'alice', workingDir: path.join(root, 'missing') },
      { account: 'alice', workingDir: dir('d', {}) },
    ];
    mkdirSync(path.join(jobs[4].workingDir, 'stdout.txt')); // a directory is not a file
    const tails = await readOutputTails(run, jobs, 20, () => { throw new Error('no call should fail'); });
    expect(tails).toEqual([
      { stdOut: 'line 1\n+forged\n-\n', stdErr: '' },
      { stdOut: 'x'.repeat(12) + 'tail end' },
      { stdErr: 'é ünïcode\n' },
      {},
      {},
    ]);
    expect(calls.map((c) => c.account).sort()).toEqual(['alice', 'bob']);
    // The paths are parameters after a fixed program, never part of it.
    for (const call of calls) expect(call.argv.slice(0, 2)).toEqual(['sh', '-c']);
    expect(calls.find((c) => c.account === 'alice')?.argv).toContain(`${jobs[2].workingDir}/stdout.txt`);
  });

  it('gives a job no tails when its program fails, and leaves it unread when its call cannot run', async () => {
    const jobs = [{ account: 'gone', workingDir: dir('e', { 'stdout.txt': 'x' }) }, { account: 'down', workingDir: dir('f', { 'stdout.txt': 'y' }) }];
    const errors: unknown[] = [];
    const run: RunAsAccount = async (account) => {
      if (account === 'down') throw new Error('ssh connection lost');
      return { exitCode: 1, stdout: '', stderr: 'runuser: user gone does not exist' };
    };
    expect(await readOutputTails(run, jobs, 10, (error) => errors.push(error))).toEqual([{}, undefined]);
    expect(errors).toHaveLength(1);
  });

  it('splits calls by account, by jobs per call and by path bytes per call', () => {
    const many = Array.from({ length: MAX_JOBS_PER_CALL + 5 }, (_, i) => ({ account: 'a', workingDir: `/j/${i}` }));
    expect(planTailCalls(many).map((c) => c.indexes.length)).toEqual([MAX_JOBS_PER_CALL, 5]);
    const long = '/j/' + 'x'.repeat(4000);
    const wide = Array.from({ length: 20 }, () => ({ account: 'a', workingDir: long }));
    const plan = planTailCalls(wide);
    expect(plan.length).toBeGreaterThan(1);
    for (const call of plan) expect(call.indexes.length * 2 * (long.length + 15)).toBeLessThanOrEqual(MAX_PATH_BYTES_PER_CALL);
    expect(planTailCalls([{ account: 'a', workingDir: '/1' }, { account: 'b', workingDir: '/2' }, { account: 'a', workingDir: '/3' }]))
      .toEqual([{ account: 'a', indexes: [0, 2] }, { account: 'b', indexes: [1] }]);
  });
});
