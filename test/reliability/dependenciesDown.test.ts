// Dependencies down: the service as a process, on a Postgres of this file's own, publishing to
// RabbitMQ through a TCP relay this file can cut, running jobs on a STATIC Slurm cluster on a test
// machine of its own (scripts/test-ssh-host, bridge msbr13: never this machine's Slurm). One at a
// time, each dependency goes away under load and comes back:
//   - ansible-runner SIGKILLed mid-play during the cluster's create: the cluster ends READY (a
//     retry) or FAILED with a reason naming what happened, never stuck CONFIGURING;
//   - sshd of the test machine killed (connections refused): submits are still answered, the jobs
//     wait SUBMITTED, and are dispatched once sshd is back; a job running meanwhile is not lost;
//   - slurmctld stopped and started again: jobs submitted meanwhile are dispatched once it is back;
//   - Postgres restarted mid-load (fast shutdown, down a while, started again): calls fail with a
//     clear error or wait, the service recovers by itself without a restart;
//   - RabbitMQ unreachable for a while: jobs go on, their events wait in the outbox and all arrive
//     afterwards, in order per job.
// At the end three records must agree: every job COMPLETE with its output, once per clientToken;
// Slurm's completion log holds each exactly once; RabbitMQ got each job's history in order, and the
// outbox is empty. For each dependency the outage and the time from its return to the service's
// recovery are printed (RELIABILITY.md, "Dependencies down").
//
// Knobs (printed; support/outages.ts): DEPS_DOWN_SECONDS (15; the "down for minutes" run is 300),
// DEPS_PG_DOWN_SECONDS (5), DEPS_JOBS (6 per outage).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { connectClients, type ServiceClients } from '../../src/client/connect';
import { base, ms } from '../../src/rpc/wire';
import { openDb, type Db } from '../../src/store/db';
import { clusterStory } from '../support/clusterStory';
import { endServiceRun } from '../support/instanceHosts';
import { freePort } from '../support/serviceProcess';
import { startTcpProxy, type TcpProxy } from '../support/tcpProxy';
import { authz, TEST_SECRET } from '../support/tokens';
import { sleep, until } from '../support/until';
import { consumeStatusEvents, type StatusEventQueue } from './support/chaosEventQueue';
import { newTally, retried, type RetryOptions } from './support/chaosRetry';
import { CrashingService } from './support/chaosService';
import { eventVerdict, forwardProblem, indexJobcomp, slurmRecordProblem } from './support/chaosVerdicts';
import { depsDownSettings, describeDepsSettings, OutageLog, type Outage } from './support/outages';
import { startPrivatePostgres, type PrivatePostgres } from './support/privatePostgres';
import { alive, descendantsOf, processesInNetns, processTable, type ProcessEntry } from './support/processTable';
import { TestHost } from './support/testHost';

jest.setTimeout(30 * 60_000);

const settings = depsDownSettings();
const HOST = new TestHost('ms-deps-h1', '10.222.0.51', { bridge: 'msbr13', net: '10.222.0' });
const GATEWAY = 'gw-deps';
const BROKER = { host: '127.0.0.1', port: 5672 };
const BROKER_URL = process.env.TEST_AMQP_URL ?? `amqp://guest:guest@${BROKER.host}:${BROKER.port}`;
/** Where our playbook has slurmctld write the job completion log (slurm_common's slurm_jobcomp_log). */
const JOBCOMP_LOG = '/var/log/slurm/jobcomp.log';
const SLURMCTLD_PID = '/run/slurmctld.pid';
const DOWN_MS = settings.downSeconds * 1000;

const { JobState } = base;
const FINAL = new Set(['COMPLETE', 'CANCELED', 'FAILED', 'UNKNOWN']);
const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const statesOf = (model: base.JobModel): string[] => (model.jobStatuses ?? []).map((s) => JobState[s.jobState]);

interface AcceptedJob {
  label: string;
  phase: string;
  jobId: string;
  spec: ms.JobSpec;
  expectedOut: string;
  /** Attempts its submit took until answered. */
  attempts: number;
  answeredAt: number;
}

/** The broker URL with its host and port replaced by the relay's. */
function throughRelay(url: string, port: number): string {
  const parsed = new URL(url);
  parsed.hostname = '127.0.0.1';
  parsed.port = String(port);
  return parsed.toString();
}

/** Whether a TCP connect to host:port is refused (nothing listening), answered, or neither in time. */
function probeTcp(host: string, port: number): Promise<'refused' | 'open' | 'timeout' | string> {
  return new Promise((resolve) => {
    const socket = connect(port, host);
    const timer = setTimeout(() => { socket.destroy(); resolve('timeout'); }, 3000);
    socket.once('connect', () => { clearTimeout(timer); socket.destroy(); resolve('open'); });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(error.code === 'ECONNREFUSED' ? 'refused' : error.code ?? error.message);
    });
  });
}

describe(`dependencies down: ${describeDepsSettings(settings)}`, () => {
  let pg: PrivatePostgres | undefined;
  let db: Db | undefined;
  let relay: TcpProxy | undefined;
  let events: StatusEventQueue | undefined;
  let service: CrashingService;
  let clients: ServiceClients | undefined;
  let token: base.AuthzToken;
  let dataDir = '';
  let authorizedKeys = '';
  let clusterId = '';
  let failed = false;
  let serial = 0;
  const tally = newTally();
  const accepted: AcceptedJob[] = [];
  const outages = new OutageLog();
  const notes: string[] = [];

  const api = (): ServiceClients => {
    if (!clients) throw new Error('service not started');
    return clients;
  };
  const retry = (deadlineMs = 180_000): RetryOptions => ({ tally, deadlineMs, abandoned: () => failed });
  const serviceWarnings = (): string => service.warnings().slice(-40).join('\n');
  const story = (id: string): Promise<string> => clusterStory(api(), token, id).catch((error: unknown) => `(no story: ${(error as Error).message})`);
  const store = (): Db => {
    if (!db) throw new Error('no database');
    return db;
  };
  const outboxDepth = async (): Promise<number> => {
    const [row] = await store()('job_event_outbox').whereNull('parked_at').count<{ count: string }[]>('* as count');
    return Number(row.count);
  };

  /** The outages need a cluster to run jobs on: without one, say so rather than wait on nothing. */
  const needReadyCluster = async (): Promise<void> => {
    const c = clusterId ? await api().cluster.getCluster(token, clusterId) : undefined;
    if (c?.state !== ms.ClusterState.READY) throw new Error(`no READY cluster to run jobs on (${c ? ms.ClusterState[c.state] : 'none made'})`);
  };

  /** Submits one job (the same call again, same clientToken, until answered). */
  async function submit(phase: string, options: { sleepSeconds?: number; retryOptions?: RetryOptions } = {}): Promise<AcceptedJob> {
    serial += 1;
    const label = `deps-${phase}-${serial}`;
    const script = options.sleepSeconds ? `sleep ${options.sleepSeconds}; echo "$0"` : 'echo "$0"';
    const spec = new ms.JobSpec({
      jobName: label, parallelism: base.ApplicationParallelismType.SERIAL, command: ['/bin/sh', '-c', script, label],
      clientToken: `deps-${process.pid}-${serial}`,
    });
    let attempts = 0;
    const handle = await retried(`submit ${label}`, () => {
      attempts += 1;
      return api().job.submitJob(token, spec);
    }, options.retryOptions ?? retry());
    const job = { label, phase, jobId: handle.jobId, spec, expectedOut: `${label}\n`, attempts, answeredAt: Date.now() };
    accepted.push(job);
    return job;
  }

  const models = async (jobs: readonly AcceptedJob[]): Promise<base.JobModel[]> =>
    retried('getJobs', () => api().job.getJobs(token, jobs.map((j) => j.jobId)), retry());

  /** When the first of these jobs has left SUBMITTED (dispatched), or has ended. */
  const firstDispatched = (what: string, jobs: readonly AcceptedJob[], timeoutMs: number): Promise<number> =>
    until(what, timeoutMs, async () => ((await models(jobs)).some((m) => statesOf(m).at(-1) !== 'SUBMITTED') ? Date.now() : undefined), 250);

  /** Every job ended; fails naming those still open and the service's warnings. */
  async function allEnded(what: string, jobs: readonly AcceptedJob[], timeoutMs: number): Promise<number> {
    return until(what, timeoutMs, async () => {
      const list = await models(jobs);
      return list.every((m) => FINAL.has(statesOf(m).at(-1) ?? '')) ? Date.now() : undefined;
    }, 500).catch(async (error: unknown) => {
      const open = (await models(jobs)).filter((m) => !FINAL.has(statesOf(m).at(-1) ?? '')).map((m) => `${m.jobId} ${statesOf(m).join(' ')}`);
      throw new Error(`${(error as Error).message}: still open ${open.join('; ')}\n--- service warnings ---\n${serviceWarnings()}`);
    });
  }

  async function expectComplete(jobs: readonly AcceptedJob[]): Promise<void> {
    const list = await models(jobs);
    const wrong = list.flatMap((m, i) => (statesOf(m).at(-1) === 'COMPLETE' && m.stdOut === jobs[i].expectedOut ? []
      : [`${jobs[i].label} (${m.jobId}): ${statesOf(m).join(' ')}, stdout ${JSON.stringify(m.stdOut)}, reason ${JSON.stringify(m.jobStatuses?.at(-1)?.reason)}`]));
    expect(wrong).toEqual([]);
  }

  /** Waits for the job to run (ACTIVE): the job a dependency's outage must not lose. */
  const running = async (job: AcceptedJob): Promise<void> => {
    await until(`${job.label} ACTIVE`, 120_000, async () => {
      const [m] = await models([job]);
      const last = statesOf(m).at(-1);
      if (last !== undefined && FINAL.has(last)) throw new Error(`${job.label} ended ${last} before the outage`);
      return last === 'ACTIVE' ? true : undefined;
    }, 250);
  };

  beforeAll(async () => {
    console.log(`dependenciesDown: ${describeDepsSettings(settings)}`);
    pg = await startPrivatePostgres();
    db = openDb(pg.url, 2);
    relay = await startTcpProxy(BROKER);
    // Straight to the broker, not through the relay: the suite's own view of what arrived.
    events = await consumeStatusEvents(BROKER_URL, GATEWAY);
    dataDir = mkdtempSync(path.join(tmpdir(), 'ms-deps-'));
    const port = await freePort();
    token = await authz(GATEWAY, 'operator');
    service = new CrashingService({
      DATABASE_URL: pg.url, DATA_DIR: dataDir, THRIFT_PORT: String(port), AUTH_HS256_SECRET: TEST_SECRET,
      MONITOR_INTERVAL_MS: '500', LOG_LEVEL: 'info', AMQP_URL: throughRelay(BROKER_URL, relay.port),
    });
    await service.start();
    clients = await connectClients({ host: '127.0.0.1', port });
    authorizedKeys = path.join(dataDir, 'authorized_keys');
    writeFileSync(authorizedKeys, `${(await api().cluster.getGatewaySSHPublicKey(token)).trim()}\n`, { mode: 0o600 });
    HOST.up(authorizedKeys);
  });

  afterAll(async () => {
    failed = true;
    console.log([`dependenciesDown: outages`, ...outages.lines().map((l) => `  ${l}`), ...notes.map((n) => `  ${n}`)].join('\n'));
    try {
      // Whatever failed, every dependency is given back first so the cluster can be deleted.
      if (pg && !pg.up) await pg.start().catch(() => undefined);
      await relay?.restore().catch(() => undefined);
      if (HOST && authorizedKeys) {
        try {
          HOST.up(authorizedKeys);
        } catch {
          // down already, or never up
        }
      }
      if (!service?.up) await service?.start().catch(() => undefined);
      await endServiceRun(clients, token, clusterId, service?.handOver());
    } finally {
      HOST.down();
      await events?.close().catch(() => undefined);
      await relay?.close().catch(() => undefined);
      await db?.destroy().catch(() => undefined);
      await pg?.destroy().catch(() => undefined);
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('ansible-runner SIGKILLed mid-play during a create: the cluster ends READY (retried) or FAILED with the reason, never stuck CONFIGURING', async () => {
    const began = Date.now();
    const create = (name: string): Promise<string> => api().cluster.createCluster(token, new ms.ClusterSpec({
      name, kind: ms.ClusterKind.SLURM, provider: ms.ProviderType.STATIC,
      hosts: [new ms.HostSpec({ address: HOST.address, roles: ['controller', 'worker'] })],
      // Slurm forgets ended jobs after 10 s: final states then come from the completion log.
      clusterOptions: new Map([['slurm_min_job_age', '10']]),
    }));
    clusterId = await create('deps');
    const servicePid = service.process?.child.pid;
    if (servicePid === undefined) throw new Error('the service has no pid');
    // The play's ansible-runner, a child of the service, once it has run a while (mid-play).
    const runnerOf = (): ProcessEntry | undefined => descendantsOf(servicePid)
      .find((p) => p.argv.some((a) => a.endsWith('ansible-runner')) && p.argv.includes('run'));
    const victim = await until('an ansible-runner run of the create', 120_000, async () => {
      const c = await api().cluster.getCluster(token, clusterId);
      if (c.state !== ms.ClusterState.CONFIGURING && c.state !== ms.ClusterState.PROVISIONING && c.state !== ms.ClusterState.REQUESTED) {
        throw new Error(`the cluster went ${ms.ClusterState[c.state]} before a play could be killed: ${c.stateReason}`);
      }
      return c.state === ms.ClusterState.CONFIGURING ? runnerOf() : undefined;
    }, 200);
    // Into the play: past its fact gathering, in the middle of the install tasks.
    await sleep(8000);
    const table = processTable();
    const play = descendantsOf(victim.pid, table).filter((p) => p.argv.some((a) => a.endsWith('ansible-playbook')));
    if (!alive(victim.pid)) throw new Error('ansible-runner ended before it could be killed: the play was too short to kill mid-way');
    const killedAt = Date.now();
    process.kill(victim.pid, 'SIGKILL');
    const outage = outages.begin('ansible-runner (SIGKILL mid-play)');
    outage.downAt = killedAt;
    OutageLog.back(outage);
    const end = await until('READY or FAILED after the kill', 600_000, async () => {
      const c = await api().cluster.getCluster(token, clusterId);
      return c.state === ms.ClusterState.READY || c.state === ms.ClusterState.FAILED ? c : undefined;
    }, 500).catch(async (error: unknown) => {
      const c = await api().cluster.getCluster(token, clusterId);
      throw new Error(`${(error as Error).message}: stuck ${ms.ClusterState[c.state]}\n${await story(clusterId)}\n--- service warnings ---\n${serviceWarnings()}`);
    });
    // The play's own processes when the service had decided: none may be left changing the machine.
    const playLeft = play.filter((p) => alive(p.pid)).map((p) => p.pid);
    OutageLog.recovered(outage, `cluster ${ms.ClusterState[end.state]}`);
    const reason = end.state === ms.ClusterState.FAILED ? end.stateReason ?? '' : undefined;
    notes.push(`ansible-runner pid ${victim.pid} SIGKILLed ${seconds(killedAt - began)} into the create; `
      + `its ansible-playbook processes ${play.length}, still alive when the cluster ended ${playLeft.length}; cluster ${ms.ClusterState[end.state]}`
      + `${reason !== undefined ? ` (${reason})` : ''}`);
    if (end.state === ms.ClusterState.FAILED) {
      // The rest of the file needs a READY cluster: the failed one goes, a new one is built.
      await api().cluster.deleteCluster(token, clusterId);
      await until('the failed cluster TERMINATED', 300_000, async () => ((await api().cluster.getCluster(token, clusterId)).state === ms.ClusterState.TERMINATED ? true : undefined), 1000);
      clusterId = await create('deps-2');
      await until('the second cluster READY', 600_000, async () => {
        const c = await api().cluster.getCluster(token, clusterId);
        if (c.state === ms.ClusterState.FAILED) throw new Error(`second create FAILED: ${c.stateReason}\n${await story(clusterId)}`);
        return c.state === ms.ClusterState.READY ? true : undefined;
      }, 1000);
    }
    console.log(`dependenciesDown: ${notes.at(-1)}; total ${seconds(Date.now() - began)}`);
    expect(playLeft).toEqual([]);
    // FAILED is fine if it says why: the play was killed, not a generic error.
    if (reason !== undefined) expect(reason).toMatch(/kill|signal|ansible-runner/i);
    expect(service.unexpectedExits).toEqual([]);
  });

  it('SSH to the host refused: submits answered at once, jobs wait SUBMITTED, dispatched once sshd is back; a running job not lost', async () => {
    await needReadyCluster();
    const runner = await submit('ssh', { sleepSeconds: 4 });
    await running(runner);
    const outage = outages.begin('sshd of the test machine');
    // Every sshd of the host, the listener and the sessions (the service's pooled connection).
    const sshds = processesInNetns(`/run/netns/${HOST.name}`).filter((p) => /sshd/.test(p.argv[0] ?? ''));
    expect(sshds.length).toBeGreaterThan(0);
    for (const p of sshds) process.kill(p.pid, 'SIGKILL');
    await until('every sshd of the host gone', 10_000, async () => (sshds.every((p) => !alive(p.pid)) ? true : undefined), 100);
    expect(await probeTcp(HOST.address, 22)).toBe('refused');

    const jobs: AcceptedJob[] = [];
    for (let i = 0; i < settings.jobsPerOutage; i += 1) jobs.push(await submit('ssh'));
    // Answered at the first call: a submit does not need the host.
    expect(jobs.map((j) => j.attempts)).toEqual(jobs.map(() => 1));
    const seenDuring = new Set<string>();
    while (Date.now() - outage.downAt < DOWN_MS) {
      for (const m of await models(jobs)) seenDuring.add(statesOf(m).at(-1) ?? '');
      await sleep(1000);
    }
    HOST.up(authorizedKeys);
    OutageLog.back(outage);
    expect(await probeTcp(HOST.address, 22)).toBe('open');
    OutageLog.recovered(outage, 'first dispatch', await firstDispatched('a dispatch after sshd is back', jobs, 300_000));
    OutageLog.recovered(outage, 'all jobs ended', await allEnded('every job of the SSH outage', [runner, ...jobs], 300_000));
    console.log(`dependenciesDown: ${OutageLog.describe(outage)}; job states seen while down: ${[...seenDuring].join(' ')}`);
    expect([...seenDuring]).toEqual(['SUBMITTED']);
    await expectComplete([runner, ...jobs]);
  });

  it('slurmctld stopped and started again: jobs submitted meanwhile dispatched once it is back, a running job not lost', async () => {
    await needReadyCluster();
    const runner = await submit('slurmctld', { sleepSeconds: 4 });
    await running(runner);
    const pid = Number(HOST.must(['cat', SLURMCTLD_PID]).trim());
    // Started again exactly as the playbook started it.
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((a) => a !== '');
    const outage = outages.begin('slurmctld');
    process.kill(pid, 'SIGTERM');
    await until('slurmctld stopped', 60_000, async () => (alive(pid) ? undefined : true), 100);
    const jobs: AcceptedJob[] = [];
    for (let i = 0; i < settings.jobsPerOutage; i += 1) jobs.push(await submit('slurmctld'));
    expect(jobs.map((j) => j.attempts)).toEqual(jobs.map(() => 1));
    const seenDuring = new Set<string>();
    while (Date.now() - outage.downAt < DOWN_MS) {
      for (const m of await models([runner, ...jobs])) seenDuring.add(statesOf(m).at(-1) ?? '');
      await sleep(1000);
    }
    HOST.must(argv);
    await until('slurmctld answering', 60_000, async () => (HOST.exec(['scontrol', 'ping']).stdout.includes('UP') ? true : undefined), 250);
    OutageLog.back(outage);
    OutageLog.recovered(outage, 'first dispatch', await firstDispatched('a dispatch after slurmctld is back', jobs, 300_000));
    OutageLog.recovered(outage, 'all jobs ended', await allEnded('every job of the slurmctld outage', [runner, ...jobs], 300_000));
    console.log(`dependenciesDown: ${OutageLog.describe(outage)}; job states seen while down: ${[...seenDuring].join(' ')}`);
    // Nothing ends while Slurm cannot be asked; the running job may only have been seen running.
    expect([...seenDuring].filter((s) => FINAL.has(s))).toEqual([]);
    await expectComplete([runner, ...jobs]);
  });

  it('Postgres restarted mid-load: calls fail with a clear error or wait, the service recovers by itself', async () => {
    await needReadyCluster();
    const database = pg;
    if (!database) throw new Error('no Postgres');
    // Failures each call met, kept apart from the file's tally: they are this phase's evidence.
    const phaseTally = newTally();
    const phaseRetry: RetryOptions = { tally: phaseTally, deadlineMs: 180_000, attemptTimeoutMs: 30_000, pauseMs: 250, abandoned: () => failed };
    const jobs: AcceptedJob[] = [];
    let outage: Outage | undefined;
    let stopSubmitting = false;
    // Two lanes submit back to back from before the stop until after the start.
    const lanes = Array.from({ length: 2 }, async () => {
      while (!stopSubmitting && !failed) jobs.push(await submit('pg', { retryOptions: phaseRetry }));
    });
    const restart = (async () => {
      await until('load running', 60_000, async () => (jobs.length >= 2 ? true : undefined), 100);
      outage = outages.begin('Postgres (fast shutdown, then start)');
      await database.stop();
      await sleep(settings.pgDownSeconds * 1000);
      await database.start();
      OutageLog.back(outage);
      await until('load after the restart', 180_000, async () => (jobs.filter((j) => j.answeredAt > (outage?.backAt ?? Infinity)).length >= settings.jobsPerOutage ? true : undefined), 200);
      stopSubmitting = true;
    })();
    const outcome = await Promise.allSettled([restart, ...lanes]);
    const problems = outcome.flatMap((o) => (o.status === 'rejected' ? [(o.reason as Error).message] : []));
    if (problems.length > 0) throw new Error(`${problems.join('\n')}\n--- service warnings ---\n${serviceWarnings()}`);
    if (!outage?.backAt) throw new Error('no restart happened');
    const backAt = outage.backAt;
    const firstAnswer = Math.min(...jobs.filter((j) => j.answeredAt > backAt).map((j) => j.answeredAt));
    OutageLog.recovered(outage, 'first submit answered', firstAnswer);
    const after = jobs.filter((j) => j.answeredAt > backAt);
    OutageLog.recovered(outage, 'first dispatch of a job made after', await firstDispatched('a dispatch after Postgres is back', after, 300_000));
    OutageLog.recovered(outage, 'all jobs ended', await allEnded('every job of the Postgres restart', jobs, 300_000));
    // One line per kind of answer: the request ids differ from call to call.
    const systemErrors = [...[...phaseTally.system.entries()].reduce((kinds, [message, count]) => {
      const kind = message.replace(/request id [0-9a-f-]+/, 'request id …');
      return kinds.set(kind, (kinds.get(kind) ?? 0) + count);
    }, new Map<string, number>()).entries()];
    console.log([
      `dependenciesDown: ${OutageLog.describe(outage)}`,
      `  ${jobs.length} submits across the restart; retried after a lost connection ${phaseTally.transport}, after a system exception `
        + `${systemErrors.reduce((n, [, c]) => n + c, 0)}: ${systemErrors.map(([m, c]) => `${c}x "${m}"`).join('; ') || 'none'}`,
    ].join('\n'));
    // A clear error: the caller is told the database is unavailable, not "internal error".
    expect(systemErrors.map(([m]) => m).filter((m) => !/database/i.test(m))).toEqual([]);
    // The same process throughout: it recovered by itself.
    expect(service.unexpectedExits).toEqual([]);
    expect(service.stats.starts).toBe(1);
    await expectComplete(jobs);
  });

  it('RabbitMQ unreachable: jobs go on, their events wait in the outbox and all go out when it is back', async () => {
    await needReadyCluster();
    const cut = relay;
    if (!cut) throw new Error('no relay');
    const outage = outages.begin('RabbitMQ (relay cut)');
    await cut.cut();
    expect(await probeTcp('127.0.0.1', cut.port)).toBe('refused');
    const jobs: AcceptedJob[] = [];
    for (let i = 0; i < settings.jobsPerOutage; i += 1) jobs.push(await submit('amqp'));
    await allEnded('every job of the RabbitMQ outage', jobs, 300_000);
    const depthWhileDown = await outboxDepth();
    const remaining = DOWN_MS - (Date.now() - outage.downAt);
    if (remaining > 0) await sleep(remaining);
    const depthAtReturn = await outboxDepth();
    await cut.restore();
    OutageLog.back(outage);
    const queue = events;
    if (!queue) throw new Error('no event queue');
    OutageLog.recovered(outage, 'outbox empty', await until('the outbox drained', 300_000, async () => ((await outboxDepth()) === 0 ? Date.now() : undefined), 250));
    const finals = new Map((await models(jobs)).map((m) => [m.jobId, statesOf(m).at(-1)]));
    OutageLog.recovered(outage, 'last final event received', await until('every final event received', 60_000, async () => {
      const byJob = queue.byJob();
      return jobs.every((j) => (byJob.get(j.jobId) ?? []).some((e) => e.state === finals.get(j.jobId))) ? Date.now() : undefined;
    }, 250));
    console.log(`dependenciesDown: ${OutageLog.describe(outage)}; outbox while down ${depthWhileDown}, at the return ${depthAtReturn}`);
    // The events really waited: the jobs' own went nowhere while the broker was away.
    expect(depthAtReturn).toBeGreaterThanOrEqual(jobs.length);
    await expectComplete(jobs);
  });

  it("the three records agree: every job COMPLETE once; Slurm ran each exactly once; RabbitMQ got each history in order", async () => {
    expect(accepted.length).toBeGreaterThan(0);
    const list = await retried('getJobs', async () => {
      const out: base.JobModel[] = [];
      for (let at = 0; at < accepted.length; at += 50) out.push(...await api().job.getJobs(token, accepted.slice(at, at + 50).map((j) => j.jobId)));
      return out;
    }, retry());
    const byId = new Map(list.map((m) => [m.jobId, m]));
    const natives = new Map((await store()('jobs').where({ gateway_id: GATEWAY }).select('id', 'native_job_id', 'client_token') as
      { id: string; native_job_id: string | null; client_token: string | null }[]).map((r) => [r.id, r]));
    const read = (): ReturnType<typeof indexJobcomp> => indexJobcomp(HOST.must(['cat', JOBCOMP_LOG]));
    // slurmctld writes a record as a job ends: give the last ones a moment.
    let log = read();
    const slurmProblems = (): string[] => accepted.flatMap((job) => {
      const problem = slurmRecordProblem({ jobId: job.jobId, history: statesOf(byId.get(job.jobId) as base.JobModel), nativeJobId: natives.get(job.jobId)?.native_job_id ?? undefined },
        log.byJob.get(job.jobId) ?? []);
      return problem ? [`${job.label} (${job.jobId}): ${problem}`] : [];
    });
    await until('every job in the completion log', 30_000, async () => {
      log = read();
      return slurmProblems().length === 0 ? true : undefined;
    }, 1000).catch(() => undefined);

    const historyProblems = accepted.flatMap((job) => {
      const m = byId.get(job.jobId);
      const problem = m ? forwardProblem(statesOf(m)) : 'not found';
      return problem ? [`${job.label}: ${problem}`] : [];
    });
    const queue = events;
    if (!queue) throw new Error('no event queue');
    const byJob = queue.byJob();
    let duplicates = 0;
    const eventProblems = accepted.flatMap((job) => {
      const verdict = eventVerdict((byJob.get(job.jobId) ?? []).map((e) => e.state), statesOf(byId.get(job.jobId) as base.JobModel));
      duplicates += verdict.duplicates;
      return verdict.problem ? [`${job.label} (${job.jobId}): ${verdict.problem}`] : [];
    });
    const parked = await store()('job_event_outbox').whereNotNull('parked_at').select('job_id', 'state', 'park_reason');
    const tokens = new Map<string, number>();
    for (const row of natives.values()) tokens.set(row.client_token ?? '(none)', (tokens.get(row.client_token ?? '(none)') ?? 0) + 1);
    const twice = [...log.byJob.values()].filter((records) => records.length > 1).length;
    console.log([
      `dependenciesDown: ${accepted.length} jobs (${[...new Set(accepted.map((j) => j.phase))].map((p) => `${p} ${accepted.filter((j) => j.phase === p).length}`).join(', ')}); `
        + `client retries after a lost connection ${tally.transport}`,
      `  Slurm completion log: ${[...log.byJob.values()].reduce((n, r) => n + r.length, 0)} records of our jobs, submitted twice ${twice}`,
      `  events received ${queue.received.length}, duplicates ${duplicates}, out of order or missing ${eventProblems.length}, parked ${parked.length}, outbox ${await outboxDepth()}`,
    ].join('\n'));
    await expectComplete(accepted);
    expect(historyProblems).toEqual([]);
    expect(slurmProblems()).toEqual([]);
    expect(log.unparsed).toEqual([]);
    expect(eventProblems).toEqual([]);
    expect(queue.undecodable).toEqual([]);
    expect(parked).toEqual([]);
    expect(await outboxDepth()).toBe(0);
    expect([...tokens.values()].filter((n) => n > 1)).toEqual([]);
    expect(natives.size).toBe(accepted.length);
    expect(service.unexpectedExits).toEqual([]);
  });
});
