// The monitor's two watches over live jobs, as pure decisions: when a job its Slurm has forgotten is
// reported UNKNOWN (and on which clusters silence means that at all), and which running jobs have
// their output read on a tick and whether what was read is worth a write. Plus their settings.
import { ConfigError, loadConfig } from '../../src/config';
import { canJobMove } from '../../src/domain/stateMachines';
import type { Cluster } from '../../src/domain/types';
import type { LiveJob } from '../../src/store/jobStore';
import { ForgottenJobs, forgottenReason, silenceMeansForgotten } from '../../src/workflows/forgottenJobs';
import { LiveOutput } from '../../src/workflows/liveOutput';

const job = (jobId: string, state: LiveJob['state'] = 'ACTIVE', extra: Partial<LiveJob> = {}): LiveJob => ({
  jobId, gatewayId: 'gw', state, nativeJobId: `n-${jobId}`, workingDir: `/jobs/${jobId}`, ...extra,
});
/** Live jobs as the monitor holds them, by id. */
const held = (...jobs: LiveJob[]): Map<string, LiveJob> => new Map(jobs.map((j) => [j.jobId, j]));
const ids = (jobs: readonly { job: LiveJob }[] | readonly LiveJob[]) => jobs.map((j) => ('job' in j ? j.job.jobId : j.jobId));

describe('which clusters a silent poll means a forgotten job on', () => {
  const cluster = (kind: Cluster['kind'], provider: Cluster['provider'], site?: Cluster['site']) => ({ kind, provider, ...(site ? { site } : {}) });

  it('Slurm clusters we built, on any provider', () => {
    for (const provider of ['STATIC', 'EC2', 'OPENSTACK'] as const) expect(silenceMeansForgotten(cluster('SLURM', provider))).toBe(true);
  });

  it('not an HPC system (its own grace reports lost jobs FAILED) nor a Mesos cluster (a framework that did not answer)', () => {
    expect(silenceMeansForgotten(cluster('SLURM', 'HPC_PILOT'))).toBe(false);
    expect(silenceMeansForgotten(cluster('SLURM', 'STATIC', { partitions: [], accounting: false } as unknown as Cluster['site']))).toBe(false);
    expect(silenceMeansForgotten(cluster('MESOS_MARATHON', 'STATIC'))).toBe(false);
  });
});

describe('ForgottenJobs', () => {
  const GRACE = 300_000;

  it('reports a job missing from every poll only once the grace has passed, counted from the first miss', () => {
    const watch = new ForgottenJobs(GRACE);
    const a = job('a');
    expect(watch.observe('c', [a], new Set(), 1_000)).toEqual([]);
    expect(watch.observe('c', [a], new Set(), 1_000 + GRACE - 1)).toEqual([]);
    expect(watch.observe('c', [a], new Set(), 1_000 + GRACE)).toEqual([{ job: a, missingSince: 1_000 }]);
  });

  it('starts counting again when the scheduler speaks of the job, even once', () => {
    const watch = new ForgottenJobs(GRACE);
    const a = job('a');
    watch.observe('c', [a], new Set(), 0);
    watch.observe('c', [a], new Set(['a']), GRACE / 2);
    expect(watch.observe('c', [a], new Set(), GRACE)).toEqual([]);
    expect(watch.observe('c', [a], new Set(), GRACE + GRACE)).toEqual([{ job: a, missingSince: GRACE }]);
  });

  it('counts QUEUED and SUSPENDED jobs too, never one already UNKNOWN, and only the jobs not reported', () => {
    const watch = new ForgottenJobs(GRACE);
    const jobs = [job('queued', 'QUEUED'), job('suspended', 'SUSPENDED'), job('unknown', 'UNKNOWN'), job('listed')];
    watch.observe('c', jobs, new Set(['listed']), 0);
    expect(ids(watch.observe('c', jobs, new Set(['listed']), GRACE))).toEqual(['queued', 'suspended']);
    // Every state it reports from may move to UNKNOWN, and UNKNOWN back to anything the scheduler says.
    for (const from of ['QUEUED', 'ACTIVE', 'SUSPENDED'] as const) expect(canJobMove(from, 'UNKNOWN')).toBe(true);
    for (const to of ['QUEUED', 'ACTIVE', 'SUSPENDED', 'COMPLETE', 'FAILED', 'CANCELED'] as const) expect(canJobMove('UNKNOWN', to)).toBe(true);
  });

  it('forgets a job no longer polled (ended, canceled), so its count never carries over', () => {
    const watch = new ForgottenJobs(GRACE);
    const a = job('a');
    watch.observe('c', [a], new Set(), 0);
    watch.observe('c', [], new Set(), 10);
    expect(watch.observe('c', [a], new Set(), GRACE)).toEqual([]);
  });

  it('keeps clusters apart, and forgets a cluster as a whole', () => {
    const watch = new ForgottenJobs(GRACE);
    const a = job('a');
    watch.observe('c1', [a], new Set(), 0);
    expect(watch.observe('c2', [a], new Set(), GRACE)).toEqual([]);
    expect(ids(watch.observe('c1', [a], new Set(), GRACE))).toEqual(['a']);
    watch.forget('c1');
    expect(watch.observe('c1', [a], new Set(), 2 * GRACE)).toEqual([]);
  });

  it('gives a reason saying the scheduler no longer knows the job and no completion record was found', () => {
    const reason = forgottenReason('Slurm', { job: job('a', 'ACTIVE', { nativeJobId: '42' }), missingSince: 0 }, 300_400);
    expect(reason).toBe('Slurm no longer knows job 42 (not in its queue for 300 s) and no completion record of it was found; '
      + 'its true state is taken if Slurm reports it again');
  });
});

describe('LiveOutput', () => {
  it('reads a running job at once, then not again before the interval', () => {
    const live = new LiveOutput({ intervalMs: 30_000, maxJobsPerTick: 10 });
    const a = job('a');
    expect(ids(live.due('c', held(a), 0))).toEqual(['a']);
    expect(live.due('c', held(a), 29_999)).toEqual([]);
    expect(ids(live.due('c', held(a), 30_000))).toEqual(['a']);
  });

  it('reads only ACTIVE jobs with a directory', () => {
    const live = new LiveOutput({ intervalMs: 1000, maxJobsPerTick: 10 });
    const jobs = [job('queued', 'QUEUED'), job('suspended', 'SUSPENDED'), job('unknown', 'UNKNOWN'), job('nodir', 'ACTIVE', { workingDir: undefined }), job('a')];
    expect(ids(live.due('c', held(...jobs), 0))).toEqual(['a']);
  });

  it('reads at most maxJobsPerTick a tick, those read longest ago first, so every job gets its turn', () => {
    const live = new LiveOutput({ intervalMs: 1000, maxJobsPerTick: 2 });
    const jobs = ['a', 'b', 'c', 'd', 'e'].map((id) => job(id));
    expect(ids(live.due('c', held(...jobs), 0))).toEqual(['a', 'b']);
    expect(ids(live.due('c', held(...jobs), 1))).toEqual(['c', 'd']);
    expect(ids(live.due('c', held(...jobs), 2))).toEqual(['e']);
    expect(live.due('c', held(...jobs), 3)).toEqual([]);
    // All due again: a and b (read at 0) go before c and d (read at 1).
    expect(ids(live.due('c', held(...jobs), 1001))).toEqual(['a', 'b']);
    expect(ids(live.due('c', held(...jobs), 1002))).toEqual(['c', 'd']);
  });

  it('a job that stopped running and runs again (UNKNOWN, then ACTIVE) is read at once', () => {
    const live = new LiveOutput({ intervalMs: 30_000, maxJobsPerTick: 10 });
    live.due('c', held(job('a')), 0);
    live.due('c', held(job('a', 'UNKNOWN')), 10);
    expect(ids(live.due('c', held(job('a')), 20))).toEqual(['a']);
  });

  it('tells news apart: unchanged tails are not news, an absent file differs from an empty one, nothing read is never news', () => {
    const live = new LiveOutput({ intervalMs: 1000, maxJobsPerTick: 10 });
    live.due('c', held(job('a')), 0);
    expect(live.isNews('c', 'a', { stdOut: 'one\n', stdErr: '' })).toBe(true);
    live.stored('c', 'a', { stdOut: 'one\n', stdErr: '' });
    expect(live.isNews('c', 'a', { stdOut: 'one\n', stdErr: '' })).toBe(false);
    expect(live.isNews('c', 'a', { stdOut: 'one\ntwo\n', stdErr: '' })).toBe(true);
    expect(live.isNews('c', 'a', { stdOut: 'one\n' })).toBe(true);
    expect(live.isNews('c', 'a', { stdOut: '', stdErr: 'one\n' })).toBe(true);
    // A scheduler that cannot read output (Mesos: {}) has nothing to write.
    expect(live.isNews('c', 'a', {})).toBe(false);
    expect(live.isNews('c', 'b', {})).toBe(false);
  });
});

describe('settings', () => {
  const secret = { AUTH_HS256_SECRET: 'x'.repeat(32) };

  it('defaults: 5 min grace for forgotten jobs; running jobs read every 30 s, 20 a tick', () => {
    expect(loadConfig(secret)).toMatchObject({ jobMissingGraceMs: 300_000, liveOutputIntervalMs: 30_000, liveOutputJobsPerTick: 20 });
  });

  it('takes values in range, 0 jobs a tick turning live output off', () => {
    expect(loadConfig({ ...secret, JOB_MISSING_GRACE_MS: '3000', LIVE_OUTPUT_INTERVAL_MS: '1000', LIVE_OUTPUT_JOBS_PER_TICK: '0' }))
      .toMatchObject({ jobMissingGraceMs: 3000, liveOutputIntervalMs: 1000, liveOutputJobsPerTick: 0 });
  });

  it('names each value out of range', () => {
    try {
      loadConfig({ ...secret, JOB_MISSING_GRACE_MS: '10', LIVE_OUTPUT_INTERVAL_MS: 'soon', LIVE_OUTPUT_JOBS_PER_TICK: '-1' });
      throw new Error('expected ConfigError');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).problems.map((p) => p.split(':')[0])).toEqual(['JOB_MISSING_GRACE_MS', 'LIVE_OUTPUT_INTERVAL_MS', 'LIVE_OUTPUT_JOBS_PER_TICK']);
    }
  });
});
