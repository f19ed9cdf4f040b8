// The Slurm batch script and sbatch arguments: quoting is proven by running the scripts in bash.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { BatchJob } from '../../src/schedulers/scheduler';
import type { JobSpec } from '../../src/domain/types';
import {
  renderBatchScript, sbatchArguments, scriptPath, shellQuote, slurmOutputPath,
} from '../../src/schedulers/slurm';

const HOSTILE = [
  "'; rm -rf /tmp/x; '", "it's", '"double" \\back\\slash', '$HOME ${HOME} $(id) `id`', 'new\nline', '  spaced  ',
  '', '*', '~', '!!', '#not a comment', '-n', '%s %x %j', 'ünïcödé ✓', '\t', "''", "\\'",
];

let dir: string;
beforeAll(() => { dir = mkdtempSync(path.join(tmpdir(), 'ms-slurm-unit-')); });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function bash(script: string, env: Record<string, string> = {}): string {
  const file = path.join(dir, `s-${Math.random().toString(36).slice(2)}.sh`);
  writeFileSync(file, script, { mode: 0o700 });
  return execFileSync('/bin/bash', [file], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env } });
}

const job = (spec: Partial<JobSpec>, extra: Partial<BatchJob> = {}): BatchJob => ({
  jobId: 'b7d3c1e2-0000-4000-8000-000000000001',
  workingDir: '/tmp/jobs/one',
  environment: {},
  account: 'ms-test-00000000',
  spec: { jobName: 'n', parallelism: 'SERIAL', command: ['true'], ...spec },
  ...extra,
});

describe('shellQuote', () => {
  it.each(HOSTILE.map((v) => [JSON.stringify(v), v]))('%s reaches bash as one literal word', (_label, value) => {
    const out = bash(`printf '%s\\0' ${shellQuote(value)}\n`);
    expect(out).toBe(`${value}\0`);
  });

  it('quotes all of them at once, in order, as separate words', () => {
    const out = bash(`printf '<%s>' ${HOSTILE.map(shellQuote).join(' ')}\n`);
    expect(out).toBe(HOSTILE.map((v) => `<${v}>`).join(''));
  });

  it('refuses a NUL byte instead of truncating', () => {
    expect(() => shellQuote('a\0b')).toThrow(/NUL/);
  });
});

describe('renderBatchScript', () => {
  it('runs the argv literally: command substitution and quote breaking are printed, not executed', () => {
    const pwned = path.join(dir, 'pwned');
    const victim = path.join(dir, 'x');
    writeFileSync(victim, 'keep');
    const args = [`$(touch ${pwned})`, `'; rm -rf ${victim}; '`, '`touch ' + pwned + '`', ...HOSTILE];
    const script = renderBatchScript(job({ command: ['printf', '[%s]\\n', ...args] }));
    const out = bash(script);
    expect(out).toBe(args.map((a) => `[${a}]\n`).join(''));
    expect(existsSync(pwned)).toBe(false);
    expect(existsSync(victim)).toBe(true);
  });

  it('exports the environment literally and exits with the program status', () => {
    const environment = { A: "x'; touch /tmp/never; '", B: '$(id)\n`id`', C: '' };
    const script = renderBatchScript(job({ command: ['sh', '-c', 'printf "%s|%s|%s" "$A" "$B" "$C"; exit 7'] }, { environment }));
    let status = 0;
    let out = '';
    try {
      bash(script);
    } catch (error) {
      status = (error as { status: number }).status;
      out = (error as { stdout: string }).stdout;
    }
    expect(status).toBe(7);
    expect(out).toBe(`${environment.A}|${environment.B}|`);
  });

  it('refuses an environment name that is not an identifier', () => {
    expect(() => renderBatchScript(job({}, { environment: { 'A;rm': 'x' } }))).toThrow(/identifier/);
  });

  it('starts MPI jobs with mpirun over $SLURM_NTASKS, never with a run-as-root permission', () => {
    const mpi = job({ parallelism: 'MPI', totalCPUCount: 2, command: ['/opt/a b/prog', '-x'] });
    const asRoot = renderBatchScript(mpi);
    expect(asRoot).toContain(`mpirun -np "$SLURM_NTASKS" '/opt/a b/prog' '-x'`);
    expect(asRoot).not.toMatch(/OMPI_ALLOW|allow-run-as-root/);
    expect(asRoot.startsWith('#!/bin/bash\n')).toBe(true);
    expect(asRoot.trimEnd().endsWith('exit "$status"')).toBe(true);
  });

  it('sets OMP_NUM_THREADS for OpenMP jobs unless the job does', () => {
    const script = renderBatchScript(job({ parallelism: 'OPENMP', totalCPUCount: 4, command: ['sh', '-c', 'echo $OMP_NUM_THREADS'] }));
    expect(bash(script, { SLURM_CPUS_PER_TASK: '4' })).toBe('4\n');
    const own = renderBatchScript(job({ parallelism: 'OPENMP', command: ['sh', '-c', 'echo $OMP_NUM_THREADS'] }, { environment: { OMP_NUM_THREADS: '3' } }));
    expect(bash(own, { SLURM_CPUS_PER_TASK: '4' })).toBe('3\n');
  });
});

describe('sbatchArguments', () => {
  it('passes every option as one argv element', () => {
    const j = job({ parallelism: 'MPI', totalCPUCount: 4, nodeCount: 2, wallTimeLimit: 30, totalPhysicalMemory: 1024, queueName: 'debug' });
    expect(sbatchArguments(j, scriptPath(j))).toEqual([
      '--parsable', `--job-name=ms-${j.jobId}`, `--comment=metascheduler:${j.jobId}`, '--chdir=/tmp/jobs/one',
      '--output=/tmp/jobs/one/stdout.txt', '--error=/tmp/jobs/one/stderr.txt', '--ntasks=4', '--nodes=2', '--time=30',
      '--mem=1024', '--partition=debug', `/tmp/jobs/one/.ms-${j.jobId}.sbatch`,
    ]);
  });

  it('lays out tasks per parallelism and falls back to the default partition', () => {
    const serial = sbatchArguments(job({ totalCPUCount: 8 }), 's', { defaultPartition: 'batch' });
    expect(serial).toContain('--ntasks=1');
    expect(serial).toContain('--partition=batch');
    expect(serial.some((a) => a.startsWith('--cpus-per-task'))).toBe(false);
    const omp = sbatchArguments(job({ parallelism: 'OPENMP', totalCPUCount: 8 }), 's');
    expect(omp).toEqual(expect.arrayContaining(['--ntasks=1', '--cpus-per-task=8']));
    expect(omp.some((a) => a.startsWith('--partition'))).toBe(false);
    expect(sbatchArguments(job({ parallelism: 'OPENMP_MPI', totalCPUCount: 6 }), 's')).toContain('--ntasks=6');
    expect(() => sbatchArguments(job({ parallelism: 'CRAY_MPI' }), 's')).toThrow(/not supported/);
  });

  it('keeps Slurm from expanding % in output paths and refuses backslashes it would strip', () => {
    expect(slurmOutputPath('/tmp/100%x', 'stdout.txt')).toBe('/tmp/100%x/\\stdout.txt');
    expect(slurmOutputPath('/tmp/plain/', 'stdout.txt')).toBe('/tmp/plain/stdout.txt');
    expect(() => slurmOutputPath('/tmp/a\\b', 'stdout.txt')).toThrow(/backslash/);
  });

  it('refuses job ids that could not be a job name', () => {
    expect(() => sbatchArguments(job({}, { jobId: 'a b' }), 's')).toThrow(/job id/);
    expect(() => renderBatchScript(job({}, { jobId: 'a\nrm -rf /' }))).toThrow(/job id/);
    expect(() => sbatchArguments(job({}, { workingDir: 'relative' }), 's')).toThrow(/absolute/);
  });
});
