// The crash-chaos suite's judgments on their own (pure, no service): each rule must catch what it
// is there to catch, or the suite could pass over a lost, doubled or reordered job.
import type { JobcompRecord } from '../../src/schedulers/slurm/jobcomp';
import { base } from '../../src/rpc/wire';
import { chaosSettings } from './support/chaosSettings';
import { collapseRepeats, eventVerdict, forwardProblem, indexJobcomp, slurmRecordProblem } from './support/chaosVerdicts';
import { isDeclaredRefusal, newTally, retried } from './support/chaosRetry';

const LIFE = ['SUBMITTED', 'QUEUED', 'ACTIVE', 'COMPLETE'];

function record(nativeJobId: string, jobState: string, exitCode = '0:0', name = 'ms-j1'): JobcompRecord {
  return {
    nativeJobId, userId: 'u(1)', name, jobState, partition: 'batch', startTime: 's', endTime: 'e',
    nodeList: jobState === 'CANCELLED' ? '(null)' : 'n1', workDir: '/w', exitCode, derivedExitCode: '0:0',
  };
}

describe('event order verdict', () => {
  it('takes the history itself, and repeats of one state in a row, as in order', () => {
    expect(eventVerdict(LIFE, LIFE)).toEqual({ duplicates: 0 });
    expect(eventVerdict(['SUBMITTED', 'SUBMITTED', 'QUEUED', 'ACTIVE', 'ACTIVE', 'COMPLETE', 'COMPLETE'], LIFE)).toEqual({ duplicates: 3 });
    expect(collapseRepeats(['A', 'A', 'B', 'A'])).toEqual(['A', 'B', 'A']);
  });

  it('finds a lost event, one out of order, a replayed batch and an extra one', () => {
    expect(eventVerdict(['SUBMITTED', 'QUEUED', 'ACTIVE'], LIFE).problem).toMatch(/^missing COMPLETE/);
    expect(eventVerdict(['SUBMITTED', 'ACTIVE', 'COMPLETE'], LIFE).problem).toMatch(/not the history/);
    expect(eventVerdict(['SUBMITTED', 'ACTIVE', 'QUEUED', 'COMPLETE'], LIFE).problem).toMatch(/out of order \(goes from ACTIVE to QUEUED\)/);
    // A batch sent again after a crash: QUEUED ACTIVE twice over is not "the same state twice in a row".
    expect(eventVerdict(['SUBMITTED', 'QUEUED', 'ACTIVE', 'QUEUED', 'ACTIVE', 'COMPLETE'], LIFE).problem).toMatch(/out of order/);
    expect(eventVerdict([...LIFE, 'CANCELED'], LIFE).problem).toMatch(/out of order/);
  });

  it('accepts only a forward life ending in a final state', () => {
    expect(forwardProblem(LIFE)).toBeUndefined();
    expect(forwardProblem(['SUBMITTED', 'CANCELED'])).toBeUndefined();
    expect(forwardProblem(['SUBMITTED', 'QUEUED'])).toMatch(/not in a final state/);
    expect(forwardProblem(['QUEUED', 'COMPLETE'])).toMatch(/not SUBMITTED/);
    expect(forwardProblem(['SUBMITTED', 'UNKNOWN', 'COMPLETE'])).toMatch(/UNKNOWN/);
    expect(forwardProblem(['SUBMITTED', 'COMPLETE', 'CANCELED'])).toMatch(/from COMPLETE to CANCELED/);
    expect(forwardProblem([])).toBe('no states at all');
  });
});

describe("Slurm's record verdict", () => {
  const job = { jobId: 'j1', history: LIFE, nativeJobId: '7' };

  it('agrees with one record of the recorded id ending as the service says', () => {
    expect(slurmRecordProblem(job, [record('7', 'COMPLETED')])).toBeUndefined();
    expect(slurmRecordProblem({ jobId: 'j1', history: ['SUBMITTED', 'CANCELED'] }, [])).toBeUndefined();
    expect(slurmRecordProblem({ jobId: 'j1', history: ['SUBMITTED', 'CANCELED'] }, [record('9', 'CANCELLED', '0:15')])).toBeUndefined();
  });

  it('finds a job submitted twice, a dispatched job Slurm never saw, another id, another ending', () => {
    expect(slurmRecordProblem(job, [record('7', 'COMPLETED'), record('8', 'COMPLETED')])).toMatch(/submitted to Slurm 2 times/);
    expect(slurmRecordProblem(job, [])).toMatch(/Slurm has no record/);
    expect(slurmRecordProblem(job, [record('8', 'COMPLETED')])).toMatch(/recorded Slurm job 7 but Slurm ran 8/);
    expect(slurmRecordProblem(job, [record('7', 'FAILED', '1:0')])).toMatch(/says COMPLETE but Slurm says/);
    expect(slurmRecordProblem(job, [record('7', 'COMPLETED', '2:0')])).toMatch(/exit code is 2:0/);
    expect(slurmRecordProblem({ jobId: 'j1', history: ['SUBMITTED', 'CANCELED'] }, [record('9', 'COMPLETED')])).toMatch(/says CANCELED/);
  });

  it('groups the completion log by our job id, leaving other jobs out', () => {
    const line = (id: number, name: string, state: string): string => `JobId=${id} UserId=u(1) GroupId=g(1) Name=${name} JobState=${state} `
      + 'Partition=batch TimeLimit=UNLIMITED StartTime=2026-12-03T09:00:00 EndTime=2026-12-03T09:00:01 NodeList=n1 NodeCnt=1 ProcCnt=1 '
      + 'WorkDir=/w ReservationName= Tres=cpu=1 Account= QOS= WcKey= Cluster=unknown SubmitTime=2026-12-03T09:00:00 '
      + 'EligibleTime=2026-12-03T09:00:00 DerivedExitCode=0:0 ExitCode=0:0';
    const index = indexJobcomp(`${line(1, 'ms-a', 'COMPLETED')}\n${line(2, 'wrap', 'COMPLETED')}\n${line(3, 'ms-a', 'COMPLETED')}\n${line(4, 'ms-b', 'CANCELLED')}\n`);
    expect([...index.byJob.entries()].map(([id, list]) => [id, list.map((r) => r.nativeJobId)])).toEqual([['a', ['1', '3']], ['b', ['4']]]);
    expect(index.unparsed).toEqual([]);
  });
});

describe('the driver rules', () => {
  it('repeats a lost call and gives up on a refusal', async () => {
    const tally = newTally();
    let calls = 0;
    const answer = await retried('flaky', async () => {
      calls += 1;
      if (calls < 3) throw new Error('connection closed before the answer');
      return 'ok';
    }, { tally, deadlineMs: 5000, pauseMs: 1 });
    expect([answer, calls, tally.transport]).toEqual(['ok', 3, 2]);
    const refusal = new base.InvalidRequestException({ message: 'no' });
    expect(isDeclaredRefusal(refusal)).toBe(true);
    await expect(retried('refused', () => Promise.reject(refusal), { tally, deadlineMs: 5000, pauseMs: 1 })).rejects.toBe(refusal);
    await expect(retried('never', () => Promise.reject(new Error('refused')), { tally, deadlineMs: 20, pauseMs: 5 }))
      .rejects.toThrow(/never: still not answered after 20 ms; last error: refused/);
  });

  it('reads the knobs, with the CI defaults and the long run', () => {
    expect(chaosSettings({})).toEqual({ seed: 0xc4a05, kills: 10, jobs: 40 });
    expect(chaosSettings({ CHAOS_SEED: '0x10', CHAOS_KILLS: '50', CHAOS_JOBS: '200' })).toEqual({ seed: 16, kills: 50, jobs: 200 });
    expect(() => chaosSettings({ CHAOS_KILLS: '0' })).toThrow(/CHAOS_KILLS=0/);
  });
});
