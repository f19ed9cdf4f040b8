// Crash chaos: the service as a process, SIGKILLed at random points and restarted each time with
// the same database, DATA_DIR and port, while a driver submits jobs to a STATIC Slurm cluster on a
// test host of this file's own (scripts/test-ssh-host, its own bridge: never this machine's Slurm)
// and cancels a few. Every submit and cancel is retried, with the same clientToken, until the
// service answers, as a careful client does. A queue of the file's own on RabbitMQ's
// status_exchange receives the job-status events the service publishes.
//
// When the last kill is over and every job has ended, three independent records must agree:
//   - the service: every accepted job ended in its true state (an echo job COMPLETE with its own
//     output; a canceled one CANCELED, or COMPLETE if it finished first), no FAILED; one job per
//     clientToken, and a repeated submit returns the same job id;
//   - Slurm's own job completion log: each job submitted to Slurm at most once, every dispatched one
//     exactly once, under the id the service recorded, ended as the service says; nothing of ours
//     left in squeue; the cluster READY;
//   - RabbitMQ: per job, the events with repeats in a row taken once are its history, state for
//     state, in order (a repeat of the same state is what at-least-once delivery may add and
//     Airavata tolerates); nothing left in the outbox.
// Then the cluster is deleted with one more kill during the teardown, and must end TERMINATED.
//
// Knobs (printed; chaosSettings.ts): CHAOS_SEED, CHAOS_KILLS (10), CHAOS_JOBS (40). The long run is
// this file with CHAOS_KILLS=50 CHAOS_JOBS=200.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { connectClients, type ServiceClients } from '../../src/client/connect';
import { base, ms } from '../../src/rpc/wire';
import { clusterStory } from '../support/clusterStory';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { endServiceRun } from '../support/instanceHosts';
import { freePort } from '../support/serviceProcess';
import { authz, TEST_SECRET } from '../support/tokens';
import { sleep, until } from '../support/until';
import { chaosSettings, describeSettings } from './support/chaosSettings';
import { eventVerdict, forwardProblem, indexJobcomp, slurmRecordProblem, type JobcompIndex } from './support/chaosVerdicts';
import { CrashingService } from './support/chaosService';
import { Rng } from './support/generators';
import { newTally, retried, type RetryOptions } from './support/chaosRetry';
import { consumeStatusEvents, type StatusEventQueue } from './support/chaosEventQueue';

jest.setTimeout(40 * 60_000);

const settings = chaosSettings();
const ROOT = path.resolve(__dirname, '../..');
const HELPER = path.join(ROOT, 'scripts/test-ssh-host');
const HELPER_ENV = { ...process.env, MS_TEST_BRIDGE: 'msbr10', MS_TEST_NET: '10.219.0' };
const HOST = { name: 'ms-chaos-h1', address: '10.219.0.51' };
const GATEWAY = 'gw-chaos';
const AMQP_URL = process.env.TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
/** Where our playbook has slurmctld write the job completion log (slurm_common's slurm_jobcomp_log). */
const JOBCOMP_LOG = '/var/log/slurm/jobcomp.log';
/** Jobs in flight at once in the driver. */
const DRIVER_LANES = 4;

const { JobState } = base;
const FINAL = new Set(['COMPLETE', 'CANCELED', 'FAILED']);

/** One job the driver means to submit; everything about it comes from the seed and its index. */
interface PlannedJob {
  index: number;
  spec: ms.JobSpec;
  /** Canceled this long after its handle came back; undefined: left to run. */
  cancelAfterMs?: number;
  /** The output an echo job must end with. */
  expectedOut?: string;
  /** Pause before its first submit, so submits land at scattered moments. */
  jitterMs: number;
}

interface DriverJob extends PlannedJob {
  jobId: string;
  /** When the service made the job (its creationTime, epoch ms). */
  createdAt: number;
  /** Attempts the submit took until it was answered. */
  submitAttempts: number;
  /** For a canceled job: "done", or "ended first" when it had already ended. */
  cancelOutcome?: 'done' | 'ended first';
}

function planJob(seed: number, index: number): PlannedJob {
  const rng = Rng.forCase(seed, 'job', index);
  const cancel = rng.bool(0.15);
  const label = `chaos-${index}`;
  const command = cancel ? ['/bin/sleep', String(rng.range(2, 4))] : ['/bin/sh', '-c', 'echo "$0"', label];
  return {
    index,
    spec: new ms.JobSpec({
      jobName: label, parallelism: base.ApplicationParallelismType.SERIAL, command,
      clientToken: `chaos-${seed}-${index}`,
    }),
    ...(cancel ? { cancelAfterMs: rng.range(0, 3000) } : { expectedOut: `${label}\n` }),
    jitterMs: rng.range(0, 1200),
  };
}

/** Runs a command inside the test host (not over SSH: the test's own look at it). */
function onHost(argv: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(HELPER, ['exec', HOST.name, ...argv], { encoding: 'utf8', env: HELPER_ENV });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function hostDaemons(): string {
  return onHost(['sh', '-c',
    'for f in /run/slurmctld.pid /run/slurmd-*.pid /run/munge/munged.pid; do '
    + '[ -f "$f" ] && p=$(cat "$f") && [ -d "/proc/$p" ] && echo "$f"; done; true']).stdout.trim();
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const statesOf = (model: base.JobModel): string[] => (model.jobStatuses ?? []).map((s) => JobState[s.jobState]);
const finalOf = (model: base.JobModel): string | undefined => {
  const last = statesOf(model).at(-1);
  return last !== undefined && FINAL.has(last) ? last : undefined;
};

describe(`crash chaos: ${describeSettings(settings)}`, () => {
  let database: TestDatabase;
  let service: CrashingService;
  let clients: ServiceClients | undefined;
  let events: StatusEventQueue | undefined;
  let token: base.AuthzToken;
  let clusterId = '';
  let hostUp = false;
  const tally = newTally();
  const accepted: DriverJob[] = [];
  const finals = new Map<string, base.JobModel>();
  const timings: string[] = [];
  let failed = false;

  const api = (): ServiceClients => {
    if (!clients) throw new Error('service not started');
    return clients;
  };
  const retry = (deadlineMs = 180_000): RetryOptions => ({ tally, deadlineMs, abandoned: () => failed });
  const cluster = () => retried('getCluster', () => api().cluster.getCluster(token, clusterId), retry());
  const story = (): Promise<string> => clusterStory(api(), token, clusterId).catch((error: unknown) => `(no story: ${(error as Error).message})`);
  const serviceWarnings = (): string => service.warnings().slice(-40).join('\n');

  beforeAll(async () => {
    console.log(`crashChaos: ${describeSettings(settings)} (repeat a run with these)`);
    database = await createTestDatabase({ migrate: false });
    // Bound before anything is submitted: the queue holds every event from the first one on.
    events = await consumeStatusEvents(AMQP_URL, GATEWAY);
    const dataDir = mkdtempSync(path.join(tmpdir(), 'ms-chaos-'));
    const port = await freePort();
    token = await authz(GATEWAY, 'operator');
    // The same environment at every start: the database, DATA_DIR (so the secrets key) and port.
    service = new CrashingService({
      DATABASE_URL: database.url, DATA_DIR: dataDir, THRIFT_PORT: String(port), AUTH_HS256_SECRET: TEST_SECRET,
      MONITOR_INTERVAL_MS: '500', LOG_LEVEL: 'info', AMQP_URL,
    });
    await service.start();
    // One client for the whole file: it opens a new connection when a call finds the old one gone.
    clients = await connectClients({ host: '127.0.0.1', port });
    const authorized = path.join(dataDir, 'authorized_keys');
    writeFileSync(authorized, `${(await api().cluster.getGatewaySSHPublicKey(token)).trim()}\n`, { mode: 0o600 });
    hostUp = true;
    execFileSync(HELPER, ['up', HOST.name, HOST.address, authorized], { env: HELPER_ENV });
  });

  afterAll(async () => {
    failed = true;
    try {
      // A file that failed with the service down still deletes what it built.
      if (!service?.up) await service?.start().catch(() => undefined);
      await endServiceRun(clients, token, clusterId, service?.handOver());
    } finally {
      try {
        if (hostUp) spawnSync(HELPER, ['down', HOST.name], { env: HELPER_ENV });
      } finally {
        try {
          await events?.close();
        } finally {
          await database?.drop();
        }
      }
    }
  });

  it('builds a STATIC Slurm cluster on the test host to READY', async () => {
    const began = Date.now();
    clusterId = await api().cluster.createCluster(token, new ms.ClusterSpec({
      name: 'chaos', kind: ms.ClusterKind.SLURM, provider: ms.ProviderType.STATIC,
      hosts: [new ms.HostSpec({ address: HOST.address, roles: ['controller', 'worker'] })],
      // Slurm forgets ended jobs after 10 s: final states then come from the completion log.
      clusterOptions: new Map([['slurm_min_job_age', '10']]),
    }));
    const ready = await until('READY', 600_000, async () => {
      const c = await api().cluster.getCluster(token, clusterId);
      if (c.state === ms.ClusterState.FAILED) {
        throw new Error(`cluster FAILED: ${c.stateReason}\n${await story()}\n--- service warnings ---\n${serviceWarnings()}`);
      }
      return c.state === ms.ClusterState.READY ? c : undefined;
    }, 1000);
    timings.push(`build ${seconds(Date.now() - began)}`);
    expect(ready.nodes.map((n) => ms.NodeState[n.state])).toEqual(['CONFIGURED']);
  });

  it(`survives ${settings.kills} SIGKILLs while ${settings.jobs} jobs are submitted, dispatched, canceled and run`, async () => {
    expect(clusterId).not.toBe('');
    const began = Date.now();
    let killsDone = 0;
    const killRng = Rng.forCase(settings.seed, 'killer', 0);
    const pauses: number[] = [];
    // Submits the killer sent just before a SIGKILL, to catch a submit committed whose answer is
    // lost: how the first call ended, and when the kill came.
    const raced: { plan: PlannedJob; answered?: boolean; killedAt: number }[] = [];
    const racedRuns: Promise<void>[] = [];
    const plans = Array.from({ length: settings.jobs }, (_, index) => planJob(settings.seed, index));
    let next = 0;

    // The killer: up for a random while (some kills land in the recovery right after a start,
    // others mid-dispatch, mid-monitor or mid-publish), SIGKILL, down a random while, start again.
    const killer = async (): Promise<void> => {
      for (let k = 0; k < settings.kills; k += 1) {
        await sleep(killRng.range(300, 5000));
        if (failed) return;
        // Half the kills come a few ms after a submit was sent, answered or not.
        let race: (typeof raced)[number] | undefined;
        if (next < plans.length && killRng.bool(0.5)) {
          const entry: (typeof raced)[number] = { plan: plans[next], killedAt: 0 };
          race = entry;
          next += 1;
          raced.push(entry);
          api().job.submitJob(token, entry.plan.spec).then(() => { entry.answered = true; }, () => { entry.answered = false; });
          await sleep(killRng.range(0, 40));
        }
        if (race) race.killedAt = Date.now();
        await service.kill();
        const down = killRng.range(100, 1500);
        pauses.push(down);
        await sleep(down);
        await service.start();
        killsDone += 1;
        // The raced job's client then goes on as any other: the same submit until answered.
        if (race) racedRuns.push(runJob(race.plan, 1));
      }
      await Promise.all(racedRuns);
    };

    // The driver: job i waits for its share of the kills to have happened, so submits are spread
    // over the whole chaos phase whatever the machine's speed.
    const epochOf = (index: number): number => Math.floor((index * settings.kills) / settings.jobs);
    async function runJob(plan: PlannedJob, attemptsBefore = 0): Promise<void> {
      if (attemptsBefore === 0) {
        while (killsDone < epochOf(plan.index) && !failed) await sleep(100);
        await sleep(plan.jitterMs);
      }
      let attempts = attemptsBefore;
      const handle = await retried(`submit job ${plan.index}`, () => {
        attempts += 1;
        return api().job.submitJob(token, plan.spec);
      }, retry());
      const created = await retried(`getJob ${plan.index}`, () => api().job.getJob(token, handle.jobId), retry());
      const job: DriverJob = { ...plan, jobId: handle.jobId, submitAttempts: attempts, createdAt: created.creationTime?.toNumber() ?? 0 };
      accepted.push(job);
      if (plan.cancelAfterMs === undefined) return;
      await sleep(plan.cancelAfterMs);
      try {
        await retried(`cancel job ${plan.index}`, () => api().job.cancelJob(token, job.jobId), retry());
        job.cancelOutcome = 'done';
      } catch (error) {
        // Only "has already ended": the job finished before the cancel reached it.
        if (!(error instanceof base.InvalidRequestException) || !/has already ended/.test(error.message)) throw error;
        job.cancelOutcome = 'ended first';
      }
    }
    const driver = async (): Promise<void> => {
      await Promise.all(Array.from({ length: DRIVER_LANES }, async () => {
        while (next < plans.length && !failed) {
          const plan = plans[next];
          next += 1;
          await runJob(plan);
        }
      }));
    };

    const outcome = await Promise.allSettled([killer(), driver()]);
    const problems = outcome.flatMap((o) => (o.status === 'rejected' ? [(o.reason as Error).message ?? String(o.reason)] : []));
    if (problems.length > 0) {
      failed = true;
      throw new Error(`${problems.join('\n')}\n--- service warnings ---\n${serviceWarnings()}`);
    }
    const chaosDone = Date.now();
    timings.push(`chaos ${seconds(chaosDone - began)}`);

    // Every accepted job ends, with the service left running from here on.
    const ids = accepted.map((j) => j.jobId);
    await until('every accepted job to end', 120_000 + settings.jobs * 2000, async () => {
      for (let at = 0; at < ids.length; at += 50) {
        const models = await retried('getJobs', () => api().job.getJobs(token, ids.slice(at, at + 50)), retry());
        for (const model of models) if (finalOf(model)) finals.set(model.jobId, model);
      }
      return finals.size === ids.length ? true : undefined;
    }, 1000).catch(async (error: unknown) => {
      const open = ids.filter((id) => !finals.has(id));
      throw new Error(`${(error as Error).message}: ${open.length} still open: ${open.slice(0, 10).join(', ')}\n`
        + `--- service warnings ---\n${serviceWarnings()}`);
    });
    timings.push(`drain ${seconds(Date.now() - chaosDone)}`);

    const starts = [...service.stats.startMs].sort((a, b) => a - b);
    console.log([
      `crashChaos: ${service.stats.kills} SIGKILLs, ${service.stats.starts} starts `
        + `(to listening: median ${seconds(starts[Math.floor(starts.length / 2)] ?? 0)}, max ${seconds(starts.at(-1) ?? 0)}; `
        + `down ${Math.min(...pauses)}-${Math.max(...pauses)} ms)`,
      `  retries: ${tally.transport} after a lost connection, ${[...tally.system.values()].reduce((a, b) => a + b, 0)} after a system exception`
        + `${tally.system.size > 0 ? ` (${[...tally.system.entries()].map(([m, n]) => `${n}x ${m}`).join('; ')})` : ''}`,
      `  submits needing more than one attempt: ${accepted.filter((j) => j.submitAttempts > 1).length} of ${accepted.length}`,
      `  submits sent just before a kill ${raced.length}: answered ${raced.filter((r) => r.answered).length}, `
        + `committed but the answer lost ${raced.filter((r) => !r.answered && (accepted.find((j) => j.index === r.plan.index)?.createdAt ?? Infinity) < r.killedAt).length}, `
        + `not committed ${raced.filter((r) => !r.answered && (accepted.find((j) => j.index === r.plan.index)?.createdAt ?? 0) >= r.killedAt).length}`,
    ].join('\n'));
    expect(service.unexpectedExits).toEqual([]);
    expect(service.stats.kills).toBe(settings.kills);
    expect(accepted).toHaveLength(settings.jobs);
  });

  it('every accepted job reached its true final state, once per clientToken, and a repeated submit gives the same job', async () => {
    expect(finals.size).toBe(settings.jobs);
    const counts = { COMPLETE: 0, CANCELED: 0, FAILED: 0 };
    const wrong: string[] = [];
    for (const job of accepted) {
      const model = finals.get(job.jobId);
      const final = model ? finalOf(model) : undefined;
      if (!model || !final) {
        wrong.push(`job ${job.index} (${job.jobId}): not ended`);
        continue;
      }
      counts[final as keyof typeof counts] += 1;
      const forward = forwardProblem(statesOf(model));
      if (forward) wrong.push(`job ${job.index} (${job.jobId}): its history ${forward}: ${statesOf(model).join(' ')}`);
      if (job.expectedOut !== undefined) {
        if (final !== 'COMPLETE' || model.stdOut !== job.expectedOut || model.exitCode !== 0) {
          wrong.push(`job ${job.index} (${job.jobId}): ${statesOf(model).join(' ')}, exit ${model.exitCode}, stdout ${JSON.stringify(model.stdOut)}, `
            + `stderr ${JSON.stringify(model.stdErr)}, reason ${JSON.stringify(model.jobStatuses?.at(-1)?.reason)}`);
        }
      } else if (final !== 'CANCELED' && !(final === 'COMPLETE' && model.exitCode === 0)) {
        wrong.push(`canceled job ${job.index} (${job.jobId}): ${statesOf(model).join(' ')}, exit ${model.exitCode}`);
      } else if (final === 'COMPLETE' && job.cancelOutcome === 'done' && !statesOf(model).includes('QUEUED')) {
        wrong.push(`canceled job ${job.index} (${job.jobId}): canceled before dispatch yet COMPLETE`);
      }
    }

    // The same spec and clientToken again: the job already made, never a second one.
    const moved: string[] = [];
    for (const job of accepted) {
      const again = await retried(`resubmit job ${job.index}`, () => api().job.submitJob(token, job.spec), retry());
      if (again.jobId !== job.jobId) moved.push(`job ${job.index}: first ${job.jobId}, again ${again.jobId}`);
    }
    // The service's own store (the test's look at its database): one job per clientToken, no other.
    const rows = await database.db('jobs').where({ gateway_id: GATEWAY }).select('id', 'client_token') as { id: string; client_token: string | null }[];
    const perToken = new Map<string, string[]>();
    for (const row of rows) perToken.set(row.client_token ?? '(none)', [...(perToken.get(row.client_token ?? '(none)') ?? []), row.id]);
    const doubled = [...perToken.entries()].filter(([, idsOfToken]) => idsOfToken.length > 1).map(([t, idsOfToken]) => `${t}: ${idsOfToken.join(', ')}`);

    const cancels = accepted.filter((j) => j.cancelAfterMs !== undefined);
    console.log([
      `crashChaos: jobs accepted ${accepted.length}: COMPLETE ${counts.COMPLETE}, CANCELED ${counts.CANCELED}, FAILED ${counts.FAILED}`,
      `  cancels asked ${cancels.length}: ended CANCELED ${cancels.filter((j) => finals.get(j.jobId) && finalOf(finals.get(j.jobId) as base.JobModel) === 'CANCELED').length}, `
        + `COMPLETE first ${cancels.filter((j) => finals.get(j.jobId) && finalOf(finals.get(j.jobId) as base.JobModel) === 'COMPLETE').length} `
        + `(cancel answered "already ended" ${cancels.filter((j) => j.cancelOutcome === 'ended first').length})`,
      `  jobs in the store ${rows.length}, clientTokens with more than one job ${doubled.length}, handles changed on resubmit ${moved.length}`,
    ].join('\n'));
    expect(wrong).toEqual([]);
    expect(counts.FAILED).toBe(0);
    expect(moved).toEqual([]);
    expect(doubled).toEqual([]);
    expect(rows).toHaveLength(accepted.length);
  });

  it("Slurm's own record: every dispatched job ran exactly once, as the service says; nothing left queued; the cluster READY", async () => {
    const natives = new Map((await database.db('jobs').where({ gateway_id: GATEWAY }).select('id', 'native_job_id') as { id: string; native_job_id: string | null }[])
      .map((row) => [row.id, row.native_job_id ?? undefined]));
    const facts = accepted.map((job) => ({
      index: job.index,
      jobId: job.jobId,
      history: statesOf(finals.get(job.jobId) as base.JobModel),
      nativeJobId: natives.get(job.jobId),
    }));
    const read = (): JobcompIndex => {
      const result = onHost(['cat', JOBCOMP_LOG]);
      if (result.status !== 0) throw new Error(`cannot read ${JOBCOMP_LOG} on ${HOST.name}: ${result.stderr.trim()}`);
      return indexJobcomp(result.stdout);
    };
    // slurmctld writes a record as the job ends; a job canceled during its dispatch ends just after.
    let log = read();
    const problemsOf = (index: JobcompIndex): string[] => facts.flatMap((f) => {
      const problem = slurmRecordProblem(f, index.byJob.get(f.jobId) ?? []);
      const reasons = (finals.get(f.jobId)?.jobStatuses ?? []).map((st) => `${JobState[st.jobState]} (${st.reason ?? ''})`).join(', ');
      return problem ? [`job ${f.index} (${f.jobId}): ${problem}; service native id ${f.nativeJobId ?? 'none'}, history ${reasons}`] : [];
    });
    await until('every dispatched job in the completion log', 30_000, async () => {
      log = read();
      return problemsOf(log).length === 0 ? true : undefined;
    }, 1000).catch(() => undefined);

    const ours = new Set(accepted.map((j) => j.jobId));
    const strays = [...log.byJob.keys()].filter((id) => !ours.has(id));
    const records = [...log.byJob.values()].reduce((n, list) => n + list.length, 0);
    const twice = [...log.byJob.values()].filter((list) => list.length > 1).length;
    const never = facts.filter((f) => (log.byJob.get(f.jobId) ?? []).length === 0).length;
    // Only live states: an ended job may still be listed for slurm_min_job_age.
    const squeue = onHost(['squeue', '-h', '-t', 'PENDING,RUNNING,SUSPENDED,CONFIGURING', '-o', '%i %j %T']);
    if (squeue.status !== 0) throw new Error(`squeue on ${HOST.name} failed (${squeue.status}): ${squeue.stderr.trim()}`);
    const queued = squeue.stdout.split('\n').filter((line) => / ms-/.test(line));
    const c = await cluster();
    console.log([
      `crashChaos: Slurm completion log: ${records} records of our jobs for ${facts.length} jobs; `
        + `submitted twice ${twice}, never submitted ${never} (canceled before dispatch), strays ${strays.length}`,
      `  still in squeue ${queued.length}; cluster ${ms.ClusterState[c.state]}`,
    ].join('\n'));
    expect(problemsOf(log)).toEqual([]);
    expect(strays).toEqual([]);
    expect(log.unparsed).toEqual([]);
    expect(queued).toEqual([]);
    expect(ms.ClusterState[c.state]).toBe('READY');
    expect(c.nodes.map((n) => ms.NodeState[n.state])).toEqual(['CONFIGURED']);
  });

  it('RabbitMQ got every job-status event, in order per job (repeats of one state in a row only)', async () => {
    const queue = events;
    if (!queue) throw new Error('no event queue');
    const outboxLeft = async (): Promise<number> => {
      const [row] = await database.db('job_event_outbox').count<{ count: string }[]>('* as count');
      return Number(row.count);
    };
    // The last event of each job has reached the queue, and nothing waits in the outbox.
    await until('every final event on RabbitMQ', 120_000, async () => {
      const byJob = queue.byJob();
      const done = accepted.every((job) => (byJob.get(job.jobId) ?? []).some((e) => e.state === finalOf(finals.get(job.jobId) as base.JobModel)));
      return done && (await outboxLeft()) === 0 ? true : undefined;
    }, 500).catch(() => undefined);
    // Deliveries in flight when the outbox emptied.
    await sleep(1000);

    const byJob = queue.byJob();
    const ours = new Set(accepted.map((j) => j.jobId));
    const problems: string[] = [];
    let duplicates = 0;
    let withDuplicates = 0;
    for (const job of accepted) {
      const received = byJob.get(job.jobId) ?? [];
      const verdict = eventVerdict(received.map((e) => e.state), statesOf(finals.get(job.jobId) as base.JobModel));
      duplicates += verdict.duplicates;
      if (verdict.duplicates > 0) withDuplicates += 1;
      if (verdict.problem) problems.push(`job ${job.index} (${job.jobId}): ${verdict.problem}; message ids ${received.map((e) => e.messageId).join(' ')}`);
    }
    const foreign = queue.received.filter((e) => !ours.has(e.jobId));
    const messageIds = new Set(queue.received.map((e) => e.messageId));
    const parked = await database.db('job_event_outbox').whereNotNull('parked_at').select('job_id', 'state', 'park_reason');
    console.log([
      `crashChaos: events received ${queue.received.length} for ${byJob.size} jobs: `
        + `duplicates ${duplicates} (in ${withDuplicates} jobs; distinct message ids ${messageIds.size}), `
        + `broker redeliveries ${queue.received.filter((e) => e.redelivered).length}, `
        + `out of order or missing ${problems.length}, foreign ${foreign.length}, undecodable ${queue.undecodable.length}`,
      `  outbox left ${await outboxLeft()} (parked ${parked.length})`,
      `  timings: ${timings.join(', ')}`,
    ].join('\n'));
    expect(problems).toEqual([]);
    expect(foreign.map((e) => `${e.jobId} ${e.state}`)).toEqual([]);
    expect(queue.undecodable).toEqual([]);
    expect(parked).toEqual([]);
    expect(await outboxLeft()).toBe(0);
  });

  it('deletes the cluster through one more SIGKILL during its teardown: TERMINATED, every daemon stopped', async () => {
    const began = Date.now();
    const rng = Rng.forCase(settings.seed, 'teardown', 0);
    await retried('deleteCluster', () => api().cluster.deleteCluster(token, clusterId), retry());
    await sleep(rng.range(500, 4000));
    await service.kill();
    await sleep(rng.range(100, 1500));
    await service.start();
    const c = await until('TERMINATED', 300_000, async () => {
      const now = await cluster();
      if (now.state === ms.ClusterState.FAILED) throw new Error(`teardown FAILED: ${now.stateReason}\n${await story()}`);
      return now.state === ms.ClusterState.TERMINATED ? now : undefined;
    }, 1000);
    console.log(`crashChaos: teardown with a SIGKILL in it: ${ms.ClusterState[c.state]} in ${seconds(Date.now() - began)}; `
      + `${service.stats.kills} SIGKILLs in all`);
    expect(c.nodes.map((n) => ms.NodeState[n.state])).toEqual(['RELEASED']);
    expect(hostDaemons()).toBe('');
    expect(service.unexpectedExits).toEqual([]);
  });
});
