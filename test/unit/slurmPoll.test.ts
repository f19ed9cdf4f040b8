// SlurmScheduler.poll at 10,000 jobs, with a runner that records what it is asked to run (the
// commands' real behaviour is covered against real Slurm in test/integration/slurm.test.ts and
// bench/monitor): one squeue whose argv does not grow with the jobs, one read of the completion log,
// and every job answered.
import type { CommandRunner, RunOptions } from '../../src/exec/commandRunner';
import { createLogger } from '../../src/log';
import { slurmJobName } from '../../src/schedulers/slurm/batchScript';
import { SlurmScheduler } from '../../src/schedulers/slurm/slurmScheduler';

const JOBS = 10_000;

/** The second half of the jobs ended: a completion log with their records. */
const LOG = `${Array.from({ length: JOBS / 2 }, (_, k) => {
  const i = JOBS / 2 + k;
  return `JobId=${1000 + i} UserId=ms-gw(1) GroupId=ms-gw(1) Name=${slurmJobName(`job-${i}`)} JobState=COMPLETED Partition=batch TimeLimit=UNLIMITED `
    + 'StartTime=2026-11-26T22:05:22 EndTime=2026-11-26T22:05:23 NodeList=n1 NodeCnt=1 ProcCnt=1 WorkDir=/w ReservationName= Tres=cpu=1 '
    + 'Account= QOS= WcKey= Cluster=c SubmitTime=2026-11-26T22:05:21 EligibleTime=2026-11-26T22:05:21 DerivedExitCode=0:0 ExitCode=0:0';
}).join('\n')}\n`;

class RecordingRunner implements CommandRunner {
  readonly calls: (readonly string[])[] = [];
  async run(argv: readonly string[], _options?: RunOptions) {
    this.calls.push(argv);
    if (argv[0] === 'squeue') {
      const format = argv.find((a) => a.startsWith('--format='));
      const marker = format?.slice('--format='.length).split('|')[0] ?? '';
      // The first half pending, the rest gone from squeue: ended, in the log.
      const lines = Array.from({ length: JOBS / 2 }, (_, i) => `${marker}|${1000 + i}|PENDING|Resources|N/A|${slurmJobName(`job-${i}`)}`);
      return { stdout: `${lines.join('\n')}\n`, stderr: '', exitCode: 0 };
    }
    if (argv[0] === 'tail') {
      // tail -c +N: the log from byte N on.
      return { stdout: LOG.slice(Number(argv[2].slice(1)) - 1), stderr: '', exitCode: 0 };
    }
    throw new Error(`unexpected command ${argv.join(' ')}`);
  }
}

describe('SlurmScheduler.poll with 10,000 jobs', () => {
  it('asks squeue once, with an argv that names no job, reads the log once, and answers for every job', async () => {
    const runner = new RecordingRunner();
    const scheduler = new SlurmScheduler({ runner, log: createLogger('silent'), switchUser: false });
    const jobs = Array.from({ length: JOBS }, (_, i) => ({ jobId: `job-${i}`, nativeJobId: String(1000 + i) }));

    const statuses = await scheduler.poll(jobs);

    expect(runner.calls.map((argv) => argv[0]).sort()).toEqual(['squeue', 'tail']);
    const squeue = runner.calls.find((argv) => argv[0] === 'squeue') ?? [];
    expect(squeue.join(' ').length).toBeLessThan(200);
    expect(squeue.some((a) => a.includes('1000'))).toBe(false);
    expect(statuses).toHaveLength(JOBS);
    expect(statuses[0]).toMatchObject({ jobId: 'job-0', state: 'QUEUED', nativeState: 'PENDING' });
    expect(statuses[JOBS - 1]).toMatchObject({ jobId: `job-${JOBS - 1}`, state: 'COMPLETE', exitCode: 0 });

    // The next poll reads only what the log gained since.
    await scheduler.poll(jobs);
    const tails = runner.calls.filter((argv) => argv[0] === 'tail');
    expect(tails).toHaveLength(2);
    expect(tails[1][2]).not.toBe('+1');
  });
});
