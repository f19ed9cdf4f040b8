// airavata-ms jobs ...: JobService calls; `wait` polls getJob until the job has ended.
import * as path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { Command } from 'commander';
import { withSession, type CliContext } from '../context';
import { CliError, ExitCode } from '../exitCodes';
import { jobDetails, jobTable } from '../format';
import { addCommonOptions } from '../options';
import { clockTime, isoTime } from '../output';
import { keyValue, megabytes, positiveInt, seconds } from '../parsers';
import { jobSpecFrom, readSpecFile, type SpecDoc } from '../specFile';
import { FINAL_JOB_STATES, jobHandleView, jobView, type JobView } from '../views';

interface SubmitFlags {
  file?: string;
  name?: string;
  cluster?: string;
  mpi?: boolean;
  cpus?: number;
  nodes?: number;
  walltime?: number;
  memory?: number;
  env?: Map<string, string>;
  workdir?: string;
  clientToken?: string;
}

/** The file's fields, with each flag given on the command line taking precedence. */
export function mergeJobDoc(file: SpecDoc | undefined, flags: SubmitFlags, argv: readonly string[]): SpecDoc {
  const doc: SpecDoc = { ...(file ?? {}) };
  const set = (field: string, value: unknown): void => {
    if (value !== undefined) doc[field] = value;
  };
  set('jobName', flags.name);
  set('clusterId', flags.cluster);
  if (flags.mpi) doc.parallelism = 'MPI';
  set('totalCPUCount', flags.cpus);
  set('nodeCount', flags.nodes);
  set('wallTimeLimit', flags.walltime);
  set('totalPhysicalMemory', flags.memory);
  if (flags.env) {
    const fromFile = doc.environment !== null && typeof doc.environment === 'object' && !Array.isArray(doc.environment)
      ? doc.environment as Record<string, unknown> : {};
    doc.environment = { ...fromFile, ...Object.fromEntries(flags.env) };
  }
  set('workingDir', flags.workdir);
  set('clientToken', flags.clientToken);
  if (argv.length > 0 || doc.command === undefined) doc.command = [...argv];
  // A name is required; the program's own name is the obvious one when none is given.
  if (doc.jobName === undefined && argv.length > 0 && argv[0].trim() !== '') doc.jobName = path.basename(argv[0]);
  return doc;
}

function finalJobError(view: JobView): CliError {
  const exit = view.exitCode === undefined ? '' : ` (exit code ${view.exitCode})`;
  const reason = view.statuses.at(-1)?.reason;
  return new CliError(ExitCode.Failed, `job ${JSON.stringify(view.jobId)} ended ${view.state}${exit}${reason ? `: ${reason}` : ''}`);
}

export function registerJobs(program: Command, ctx: CliContext): void {
  const jobs = program.command('jobs').description('submit, inspect, cancel and wait for jobs');

  addCommonOptions(jobs.command('submit'))
    .description('submit a job from a spec file and/or flags; the program and its arguments follow "--"')
    .usage('[options] [-- PROGRAM ARGS...]')
    .argument('[command...]', 'the argv to run (never a shell line)')
    .option('-f, --file <spec>', 'job spec file (YAML or JSON, JobSpec field names; flags override it)')
    .option('--name <name>', 'job name (default: the program name)')
    .option('--cluster <id>', 'run on this cluster (default: the meta-scheduler chooses)')
    .option('--mpi', 'an MPI job (default SERIAL)')
    .option('--cpus <n>', 'total CPU count', positiveInt)
    .option('--nodes <n>', 'node count', positiveInt)
    .option('--walltime <minutes>', 'wall-time limit in minutes', positiveInt)
    .option('--memory <MB>', 'total memory in MB (e.g. 2048, 2G)', megabytes)
    .option('--env <NAME=VALUE>', 'environment variable (repeatable)', keyValue)
    .option('--workdir <dir>', 'working directory (absolute)')
    .option('--client-token <token>', 'idempotency key: a retry with it returns the first job')
    .action(async (argv: string[], opts: SubmitFlags, cmd: Command) => {
      const file = opts.file ? await readSpecFile(opts.file) : undefined;
      const spec = jobSpecFrom(mergeJobDoc(file, opts, argv), opts.file ? `spec file ${opts.file}` : 'job spec');
      await withSession(ctx, cmd, async ({ session, out }) => {
        const handle = jobHandleView(await session.call((c, authz) => c.job.submitJob(authz, spec)));
        out.result(handle, () => handle.jobId);
      });
    });

  addCommonOptions(jobs.command('show'))
    .description('show a job: state, history, exit code')
    .argument('<id>', 'job id')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      await withSession(ctx, cmd, async ({ session, out }) => {
        const view = jobView(await session.call((c, authz) => c.job.getJob(authz, id)));
        out.result(view, () => jobDetails(view));
      });
    });

  addCommonOptions(jobs.command('list'))
    .description("list the gateway's jobs, newest first")
    .option('--cluster <id>', 'only jobs of this cluster')
    .option('--limit <n>', 'at most this many (service default 100, max 1000)', positiveInt)
    .action(async (opts: { cluster?: string; limit?: number }, cmd: Command) => {
      await withSession(ctx, cmd, async ({ session, out }) => {
        const models = await session.call((c, authz) => c.job.listJobs(authz, opts.cluster, opts.limit));
        const views = models.map((m) => jobView(m, { tails: false }));
        out.result(views, () => jobTable(views));
      });
    });

  addCommonOptions(jobs.command('cancel'))
    .description('cancel a job (a dispatched one goes CANCELED once Slurm confirms)')
    .argument('<id>', 'job id')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      await withSession(ctx, cmd, async ({ session, out }) => {
        await session.call((c, authz) => c.job.cancelJob(authz, id));
        const view = jobView(await session.call((c, authz) => c.job.getJob(authz, id)), { tails: false });
        out.result({ jobId: id, state: view.state }, () => `job ${id}: ${view.state}${view.state === 'CANCELED' ? '' : ' (cancel requested)'}`);
      });
    });

  addCommonOptions(jobs.command('logs'))
    .description("print the tail (last 64 KiB) of a job's stdout, once the job has ended")
    .argument('<id>', 'job id')
    .option('--stderr', 'stderr instead of stdout')
    .action(async (id: string, opts: { stderr?: boolean }, cmd: Command) => {
      await withSession(ctx, cmd, async ({ session, out }) => {
        const view = jobView(await session.call((c, authz) => c.job.getJob(authz, id)));
        const stream = opts.stderr ? 'stderr' : 'stdout';
        const text = opts.stderr ? view.stdErr : view.stdOut;
        if (out.json) {
          out.result({ jobId: id, state: view.state, stream, text: text ?? null }, () => '');
          return;
        }
        if (text === undefined) {
          ctx.stderr.write(`airavata-ms: job ${id} has no ${stream} yet (${view.state}); it is kept once the job ends\n`);
          return;
        }
        ctx.stdout.write(text);
      });
    });

  addCommonOptions(jobs.command('wait'))
    .description('wait until a job ends: exit 0 if COMPLETE, 1 if FAILED or CANCELED')
    .argument('<id>', 'job id')
    .option('--interval <seconds>', 'seconds between polls', seconds, 1)
    .option('--timeout <seconds>', 'give up (exit 1) after this long', seconds)
    .action(async (id: string, opts: { interval: number; timeout?: number }, cmd: Command) => {
      await withSession(ctx, cmd, async ({ session, out }) => {
        const deadline = opts.timeout === undefined ? Infinity : Date.now() + opts.timeout * 1000;
        let shown = 0;
        for (;;) {
          const view = jobView(await session.call((c, authz) => c.job.getJob(authz, id)), { tails: false });
          for (const status of view.statuses.slice(shown)) {
            out.line(`[${clockTime(status.time ?? Date.now())}] ${status.state}${status.reason ? `: ${status.reason}` : ''}`);
          }
          shown = view.statuses.length;
          if (FINAL_JOB_STATES.has(view.state)) {
            out.result(view, () => `job ${id} ${view.state}${view.exitCode === undefined ? '' : ` (exit code ${view.exitCode})`} at ${isoTime(view.statuses.at(-1)?.time)}`);
            if (view.state !== 'COMPLETE') throw finalJobError(view);
            return;
          }
          if (Date.now() >= deadline) {
            throw new CliError(ExitCode.Failed, `job ${JSON.stringify(id)} still ${view.state} after ${opts.timeout} s`);
          }
          await delay(Math.min(opts.interval * 1000, Math.max(0, deadline - Date.now())));
        }
      });
    });
}
