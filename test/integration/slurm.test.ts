// SlurmScheduler against a real Slurm built on this machine by our own playbook (bare
// ansible-playbook: the Ansible bridge is not this test's subject). Torn down afterwards.
import { randomUUID } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import * as path from 'node:path';
import { execa } from 'execa';
import pino from 'pino';
import { DEFAULT_JOB_ROOT } from '../../src/config';
import { gatewayAccount } from '../../src/domain/gatewayAccount';
import type { JobSpec } from '../../src/domain/types';
import { LocalCommandRunner } from '../../src/exec/commandRunner';
import { JobRefusedError, type BatchJob, type NativeJobStatus, type TrackedJob } from '../../src/schedulers/scheduler';
import { SlurmScheduler } from '../../src/schedulers/slurm';

const CLUSTER_ID = 'slurm-adapter-test';
/** Jobs run as this gateway's account, in its root, as the service runs them. */
const ACCOUNT = gatewayAccount('slurm-adapter-test');
const GATEWAY_ROOT = path.join(DEFAULT_JOB_ROOT, ACCOUNT.name);
const PLAYBOOKS = path.resolve(__dirname, '../../playbooks');
const log = pino({ level: 'warn' });
const runner = new LocalCommandRunner();

let base: string;
let inventory: string;
/** Set when the playbook refused a host that another cluster owns: then we must not tear down. */
let foreignOwner: string | undefined;
let scheduler: SlurmScheduler;

async function playbook(file: string, timeoutMs: number): Promise<{ ok: boolean; output: string }> {
  const result = await execa('ansible-playbook', ['-i', inventory, path.join(PLAYBOOKS, file), '-e', `ms_cluster_id=${CLUSTER_ID}`, '-e', 'slurm_min_job_age=10',
    '-e', `ms_job_user=${ACCOUNT.name}`, '-e', `ms_job_uid=${ACCOUNT.uid}`], {
    cwd: PLAYBOOKS, reject: false, timeout: timeoutMs, killSignal: 'SIGTERM', all: true, env: { ANSIBLE_NOCOLOR: '1' },
  });
  return { ok: result.exitCode === 0, output: typeof result.all === 'string' ? result.all : '' };
}

async function sh(argv: string[]): Promise<string> {
  const result = await runner.run(argv, { timeoutMs: 60_000 });
  if (result.exitCode !== 0) throw new Error(`${argv.join(' ')}: exit ${result.exitCode}: ${result.stderr}`);
  return result.stdout;
}

async function until<T>(what: string | (() => string), timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Polls every 500 ms until the job's status satisfies `done`. */
async function pollUntil(job: TrackedJob, done: (s: NativeJobStatus) => boolean, timeoutMs = 60_000): Promise<NativeJobStatus> {
  let last: NativeJobStatus | undefined;
  return until(() => `job ${job.jobId} (last: ${JSON.stringify(last)})`, timeoutMs, async () => {
    const [status] = await scheduler.poll([job]);
    last = status;
    return status && done(status) ? status : undefined;
  });
}

const ended = (s: NativeJobStatus): boolean => ['COMPLETE', 'FAILED', 'CANCELED'].includes(s.state);

function batchJob(spec: Partial<JobSpec>, extra: Partial<BatchJob> = {}): BatchJob {
  const jobId = randomUUID();
  return {
    jobId,
    workingDir: path.join(GATEWAY_ROOT, jobId),
    environment: {},
    account: ACCOUNT.name,
    spec: { jobName: 'it', parallelism: 'SERIAL', command: ['true'], ...spec },
    ...extra,
  };
}

async function submit(job: BatchJob): Promise<TrackedJob> {
  return { jobId: job.jobId, nativeJobId: await scheduler.submit(job) };
}

beforeAll(async () => {
  base = mkdtempSync(path.join(tmpdir(), 'ms-slurm-it-'));
  chmodSync(base, 0o755); // the MPI program built here runs as the gateway's account
  inventory = path.join(base, 'inventory.yml');
  const host = [
    '        localhost:',
    '          ansible_connection: local',
    '          ansible_python_interpreter: /usr/bin/python3',
    `          slurm_node_name: ${hostname()}`,
  ].join('\n');
  writeFileSync(inventory, `all:\n  children:\n    slurm_controller:\n      hosts:\n${host}\n    slurm_workers:\n      hosts:\n${host}\n`);
  const started = Date.now();
  const run = await playbook('slurm.yml', 150_000);
  if (!run.ok) {
    const failure = run.output.split('\n').filter((l) => /FAILED!|fatal:|ERROR/.test(l)).join('\n') || run.output.slice(-2000);
    if (/is owned by metascheduler cluster|it is not ours/.test(run.output)) foreignOwner = failure;
    throw new Error(`slurm.yml failed${foreignOwner ? ' (Slurm here belongs to another cluster; not tearing it down)' : ''}:\n${failure}`);
  }
  console.log(`slurm.yml took ${((Date.now() - started) / 1000).toFixed(1)} s`);
  await until('sinfo to show the node idle', 60_000, async () => {
    const states = (await sh(['sinfo', '-h', '-o', '%T'])).trim().split('\n');
    return states.length > 0 && states.every((s) => s === 'idle') ? true : undefined;
  });
  scheduler = new SlurmScheduler({ runner, log });
}, 240_000);

afterAll(async () => {
  if (foreignOwner === undefined && inventory) {
    const run = await playbook('slurm_teardown.yml', 150_000);
    if (!run.ok) console.error(`slurm_teardown.yml failed:\n${run.output.slice(-3000)}`);
  }
  if (base) rmSync(base, { recursive: true, force: true });
}, 180_000);

describe('SlurmScheduler on real Slurm', () => {
  it('runs a serial job: output in stdout.txt, COMPLETE with exit code 0', async () => {
    const job = batchJob({ command: ['sh', '-c', 'echo "hello from $SLURM_JOB_ID"; echo warn >&2'] }, { environment: { GREETING: 'hi' } });
    const tracked = await submit(job);
    expect(tracked.nativeJobId).toMatch(/^\d+$/);
    const script = path.join(job.workingDir, `.ms-${job.jobId}.sbatch`);
    // Made by the gateway's account, not by root.
    expect(statSync(script).uid).toBe(ACCOUNT.uid);
    expect(statSync(job.workingDir).uid).toBe(ACCOUNT.uid);
    const status = await pollUntil(tracked, ended);
    expect(status).toMatchObject({ jobId: job.jobId, nativeJobId: tracked.nativeJobId, state: 'COMPLETE', nativeState: 'COMPLETED', exitCode: 0 });
    expect(status.endTime).toBeGreaterThanOrEqual(status.startTime ?? Infinity);
    expect(Math.abs(Date.now() - (status.endTime ?? 0))).toBeLessThan(120_000);
    expect(readFileSync(path.join(job.workingDir, 'stdout.txt'), 'utf8')).toBe(`hello from ${tracked.nativeJobId}\n`);
    expect(readFileSync(path.join(job.workingDir, 'stderr.txt'), 'utf8')).toBe('warn\n');
  });

  it('reports a non-zero exit as FAILED with that exit code', async () => {
    const tracked = await submit(batchJob({ command: ['sh', '-c', 'exit 3'] }));
    const status = await pollUntil(tracked, ended);
    expect(status).toMatchObject({ state: 'FAILED', nativeState: 'FAILED', exitCode: 3, reason: expect.stringContaining('FAILED') });
  });

  it('runs a 2-rank MPI program that communicates (MPI_Reduce) to COMPLETE', async () => {
    const src = path.join(base, 'reduce.c');
    const bin = path.join(base, 'reduce');
    writeFileSync(src, [
      '#include <mpi.h>',
      '#include <stdio.h>',
      'int main(int argc, char **argv) {',
      '  int rank, size, sum = -1;',
      '  MPI_Init(&argc, &argv);',
      '  MPI_Comm_rank(MPI_COMM_WORLD, &rank);',
      '  MPI_Comm_size(MPI_COMM_WORLD, &size);',
      '  MPI_Reduce(&rank, &sum, 1, MPI_INT, MPI_SUM, 0, MPI_COMM_WORLD);',
      '  if (rank == 0) printf("size=%d sum=%d\\n", size, sum);',
      '  MPI_Finalize();',
      '  return 0;',
      '}',
      '',
    ].join('\n'));
    await sh(['mpicc', '-o', bin, src]);
    const job = batchJob({ parallelism: 'MPI', totalCPUCount: 2, command: [bin] });
    const tracked = await submit(job);
    const status = await pollUntil(tracked, ended, 90_000);
    const stdout = readFileSync(path.join(job.workingDir, 'stdout.txt'), 'utf8');
    const stderr = readFileSync(path.join(job.workingDir, 'stderr.txt'), 'utf8');
    expect({ status, stderr }).toMatchObject({ status: { state: 'COMPLETE', exitCode: 0 } });
    expect(stdout).toContain('size=2 sum=1');
  }, 120_000);

  it('cancels a running job (CANCELED) and a pending one (no exit code); cancelling again is fine', async () => {
    const running = await submit(batchJob({ command: ['sleep', '60'] }));
    const active = await pollUntil(running, (s) => s.state === 'ACTIVE');
    expect(active.startTime).toBeDefined();
    // Two CPUs on this machine, one taken: a 2-CPU job has to wait.
    const pending = await submit(batchJob({ parallelism: 'MPI', totalCPUCount: 2, command: ['true'] }));
    const queued = await pollUntil(pending, (s) => s.state === 'QUEUED');
    expect(queued.nativeState).toBe('PENDING');
    await scheduler.cancel(pending.nativeJobId);
    await scheduler.cancel(running.nativeJobId);
    const [a, b] = await Promise.all([pollUntil(running, ended), pollUntil(pending, ended)]);
    expect(a).toMatchObject({ state: 'CANCELED', nativeState: 'CANCELLED' });
    // jobcomp logs ExitCode=0:0 for it (written at cancel time): no exit code is claimed.
    expect(a.exitCode).toBeUndefined();
    expect(a.startTime).toBeDefined();
    expect(b).toMatchObject({ state: 'CANCELED', nativeState: 'CANCELLED' });
    expect(b.exitCode).toBeUndefined();
    await expect(scheduler.cancel(running.nativeJobId)).resolves.toBeUndefined();
    await expect(scheduler.cancel('999999')).resolves.toBeUndefined();
    await expect(scheduler.cancel('--user=root')).rejects.toThrow(/not a Slurm job id/);
  });

  it('passes hostile arguments, environment and working directory literally, executing none of them', async () => {
    rmSync('/tmp/pwned', { force: true });
    const victim = path.join(base, 'victim');
    writeFileSync(victim, 'still here');
    const args = ['$(touch /tmp/pwned)', "'; rm -rf /tmp/x; '", '`touch /tmp/pwned`', `"; rm -f ${victim}; "`, 'a  b', "it's", 'new\nline', '$HOME', '%j %x'];
    const workingDir = path.join(GATEWAY_ROOT, `wd $(touch pwned) 100%x 'q' ${randomUUID()}`);
    const job = batchJob(
      { command: ['printf', '[%s]\\n', ...args] },
      { workingDir, environment: { HOSTILE: '$(touch /tmp/pwned)\'"`x`' } },
    );
    const tracked = await submit(job);
    expect(await pollUntil(tracked, ended)).toMatchObject({ state: 'COMPLETE', exitCode: 0 });
    expect(readFileSync(path.join(workingDir, 'stdout.txt'), 'utf8')).toBe(args.map((a) => `[${a}]\n`).join(''));
    expect(existsSync('/tmp/pwned')).toBe(false);
    expect(existsSync(path.join(workingDir, 'pwned'))).toBe(false);
    expect(readFileSync(victim, 'utf8')).toBe('still here');
    const envJob = batchJob({ command: ['sh', '-c', 'printf %s "$HOSTILE"'] }, { environment: job.environment });
    const envTracked = await submit(envJob);
    await pollUntil(envTracked, ended);
    expect(readFileSync(path.join(envJob.workingDir, 'stdout.txt'), 'utf8')).toBe(job.environment.HOSTILE);
    expect(existsSync('/tmp/pwned')).toBe(false);
  });

  it("runs jobs as the gateway's account, which reaches neither root's files nor the service's", async () => {
    const secret = path.join(base, 'secrets.key');
    writeFileSync(secret, 'root only', { mode: 0o600 });
    const job = batchJob({ command: ['sh', '-c', `id -u; id -g; cat ${secret} || echo denied`] });
    const tracked = await submit(job);
    expect(await pollUntil(tracked, ended)).toMatchObject({ state: 'COMPLETE' });
    expect(readFileSync(path.join(job.workingDir, 'stdout.txt'), 'utf8')).toBe(`${ACCOUNT.uid}\n${ACCOUNT.uid}\ndenied\n`);
    expect(statSync(GATEWAY_ROOT).mode & 0o777).toBe(0o700);
  });

  it('refuses a working directory the account cannot create (a symlink out of its root), and reads no output through one', async () => {
    const link = path.join(GATEWAY_ROOT, `escape-${randomUUID()}`);
    symlinkSync('/root', link);
    try {
      await expect(scheduler.submit(batchJob({}, { workingDir: path.join(link, 'job') }))).rejects.toThrow(JobRefusedError);
      expect(existsSync(path.join('/root', 'job'))).toBe(false);
      // Output files a job replaced with links to root-only files are read as the account: nothing comes back.
      const secret = path.join(base, 'secrets.key');
      writeFileSync(secret, 'root only', { mode: 0o600 });
      const dir = path.join(GATEWAY_ROOT, `tails-${randomUUID()}`);
      const job = batchJob({ command: ['sh', '-c', `echo mine; ln -sf ${secret} stderr.txt`] }, { workingDir: dir });
      const tracked = await submit(job);
      await pollUntil(tracked, ended);
      expect(await scheduler.outputTails({ account: ACCOUNT.name, workingDir: dir }, 1024)).toEqual({ stdOut: 'mine\n', stdErr: undefined });
    } finally {
      rmSync(link, { force: true });
    }
  });

  it('finds jobs by our id while live and after squeue forgot them (MinJobAge=10 s), from the completion log', async () => {
    const job = batchJob({ command: ['sleep', '2'] });
    const tracked = await submit(job);
    const unknown = randomUUID();
    expect(await scheduler.findByJobIds([job.jobId, unknown])).toEqual(new Map([[job.jobId, tracked.nativeJobId]]));
    const final = await pollUntil(tracked, ended);
    expect(final.state).toBe('COMPLETE');
    await until('squeue to forget the job', 60_000, async () => {
      const out = await sh(['squeue', '-h', '-a', '-t', 'all', '-o', '%i']);
      return out.split('\n').includes(tracked.nativeJobId) ? undefined : true;
    });
    // Past MinJobAge slurmctld no longer knows the job at all.
    const scontrol = await runner.run(['scontrol', 'show', 'job', tracked.nativeJobId]);
    expect(scontrol.stderr + scontrol.stdout).toMatch(/Invalid job id/i);
    expect(await scheduler.poll([tracked])).toEqual([final]);
    expect(await scheduler.findByJobIds([job.jobId])).toEqual(new Map([[job.jobId, tracked.nativeJobId]]));
    // A fresh scheduler (a restarted service) reads the log from the start and finds it too.
    const fresh = new SlurmScheduler({ runner, log });
    expect(await fresh.poll([tracked])).toEqual([final]);
    expect(await fresh.findByJobIds([job.jobId])).toEqual(new Map([[job.jobId, tracked.nativeJobId]]));
    // The same native id under another of our ids is not this job.
    expect(await fresh.poll([{ jobId: unknown, nativeJobId: tracked.nativeJobId }])).toEqual([]);
  }, 120_000);

  it('reports a job killed by a signal as 128+N, and a wall-time overrun as FAILED (TIMEOUT)', async () => {
    const killed = await submit(batchJob({ command: ['sh', '-c', 'kill -KILL $$'] }));
    const overrun = await submit(batchJob({ wallTimeLimit: 1, command: ['sleep', '300'] }));
    expect(await pollUntil(killed, ended)).toMatchObject({ state: 'FAILED', exitCode: 137 });
    const timeout = await pollUntil(overrun, ended, 150_000);
    console.log(`wall-time overrun: ${JSON.stringify(timeout)}`);
    expect(timeout).toMatchObject({ state: 'FAILED', nativeState: 'TIMEOUT', reason: expect.stringContaining('TIMEOUT') });
    // Slurm logs ExitCode=0:0 for it (written when slurmctld ends the job): no exit code is claimed.
    expect(timeout.exitCode).toBeUndefined();
  }, 180_000);
});
