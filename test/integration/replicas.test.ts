// Two replicas of the service (two `node dist/src/main.js` processes on one Postgres) serving one
// Slurm cluster on a namespace test host (scripts/test-ssh-host on bridge msbr3): jobs are
// submitted through both, one replica is SIGKILLed while jobs are being dispatched and run, a
// replacement replica starts (its start-up recovery runs while the survivor works), and Slurm's own
// record on the controller (its job-completion log) must show every job exactly once, while the
// survivor reports every job's final state and exit code, and the broker got every job's state
// changes from the outbox in order. Along the way the queue's rows show that the cluster's monitor
// ran on one replica at a time, and how long the killed replica's locked work took to be taken
// over (printed; only a generous bound is asserted).
//
// The replicas share what a replica cannot make for itself: the database, the token secret and
// the secrets key (SECRETS_KEY_FILE, the same file content on every replica); each has its own
// DATA_DIR (Ansible run directories are per process).
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as amqp from 'amqplib';
import Int64 from 'node-int64';
import { connectClients, type ServiceClients } from '../../src/client/connect';
import { decodeJobStatusMessage, STATUS_EXCHANGE } from '../../src/events/jobStatusMessage';
import { base, ms } from '../../src/rpc/wire';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { freePort, startServiceProcess, type ServiceProcess } from '../support/serviceProcess';
import { authz, TEST_SECRET } from '../support/tokens';
import { sleep, until } from '../support/until';

jest.setTimeout(10 * 60_000);

const ROOT = path.resolve(__dirname, '../..');
const HELPER = path.join(ROOT, 'scripts/test-ssh-host');
/** This test's own bridge and network, apart from the other test-host users of the machine. */
const NET_ENV = { ...process.env, MS_TEST_BRIDGE: 'msbr3', MS_TEST_NET: '10.216.0' };
const HOST = { name: 'ms-rep-h1', address: '10.216.0.31' };
const JOBLOG = '/var/log/slurm/jobcomp.log';
const AMQP_URL = process.env.TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const GATEWAY = `gw-replicas-${randomBytes(3).toString('hex')}`;

/** Jobs submitted through both replicas, then through the survivor while one is killed, then after. */
const FIRST_WAVE = 16;
const SECOND_WAVE = 12;
const JOBS = 40;

const { JobState } = base;
const END = new Set([JobState.COMPLETE, JobState.FAILED, JobState.CANCELED]);

/** What each job is asked to exit with: some fail, so exit codes are checked both ways. */
const exitCodeOf = (index: number): number => (index % 7 === 3 ? 3 : 0);

interface Replica {
  name: string;
  process: ServiceProcess;
  clients: ServiceClients;
  pid: number;
}

interface SlurmRecord { nativeJobId: string; jobId: string; state: string; exitCode: number; start: string; end: string }

/** Slurm's record of every ended job on the host: the job-completion log, read inside the host. */
function slurmRecords(): SlurmRecord[] {
  const result = spawnSync(HELPER, ['exec', HOST.name, 'cat', JOBLOG], { encoding: 'utf8', env: NET_ENV });
  if (result.status !== 0) throw new Error(`cannot read ${JOBLOG}: ${result.stderr}`);
  const records: SlurmRecord[] = [];
  for (const line of result.stdout.split('\n')) {
    const m = /^JobId=(\d+) .* Name=ms-(\S+) JobState=(\S+) .* StartTime=(\S+) EndTime=(\S+) .* ExitCode=(\d+):\d+\s*$/.exec(line);
    if (m) records.push({ nativeJobId: m[1], jobId: m[2], state: m[3], start: m[4], end: m[5], exitCode: Number(m[6]) });
  }
  return records;
}

/** Names of the jobs Slurm still has waiting or running, from squeue inside the host. */
function slurmQueue(): string[] {
  const result = spawnSync(HELPER, ['exec', HOST.name, 'squeue', '-h', '-t', 'PD,CF,R,S', '-o', '%j'], { encoding: 'utf8', env: NET_ENV });
  if (result.status !== 0) throw new Error(`squeue failed: ${result.stderr}`);
  return result.stdout.split('\n').map((l) => l.trim()).filter((l) => l !== '');
}

/**
 * The test host starts with copies of this machine's Slurm directories, which hold whatever this
 * machine's own Slurm has (another cluster's ownership marker and slurm.conf, its saved state and
 * completion log). The host gets an empty Slurm state instead, so the build is ours and the
 * completion log holds our jobs only. Only inside the host, and only where its directories are
 * its own mounts: this machine's files are never touched.
 */
function freshSlurmState(): void {
  execFileSync(HELPER, ['exec', HOST.name, 'sh', '-c',
    'set -e; for d in /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm; do '
    + 'mountpoint -q "$d" || { echo "$d is not the host\'s own mount" >&2; exit 1; }; done; '
    + 'rm -f /etc/slurm/.metascheduler-owner /etc/slurm/slurm.conf; '
    + 'find /var/spool/slurmctld /var/spool/slurmd /var/log/slurm -mindepth 1 -delete'], { env: NET_ENV });
}

describe('two replicas on one Postgres, one SIGKILLed mid-run', () => {
  let database: TestDatabase;
  const replicas: Replica[] = [];
  let token: base.AuthzToken;
  let clusterId: string | undefined;
  let hostUp = false;
  let shared: { SECRETS_KEY_FILE: string; AUTH_HS256_SECRET: string; DATABASE_URL: string; AMQP_URL: string };
  /** Every job-status event the broker routed for the gateway: our job id -> states in arrival order. */
  const published = new Map<string, string[]>();
  let broker: amqp.ChannelModel | undefined;
  /** Our job id -> the exit code its command ends with. */
  const expected = new Map<string, number>();
  /** Most cluster_monitor queue jobs seen locked at once (one sample every few ms). */
  let maxLockedMonitors = 0;
  let monitorSamples = 0;
  let sampling = true;
  let sampler: Promise<void> | undefined;

  const startReplica = async (name: string): Promise<Replica> => {
    const port = await freePort();
    const service = await startServiceProcess({
      ...shared,
      DATA_DIR: mkdtempSync(path.join(tmpdir(), `ms-replica-${name}-`)),
      THRIFT_PORT: String(port),
      MONITOR_INTERVAL_MS: '500',
      LOG_LEVEL: 'info',
    });
    const replica = { name, process: service, clients: await connectClients({ host: '127.0.0.1', port }), pid: service.child.pid ?? -1 };
    replicas.push(replica);
    return replica;
  };
  const alive = (): Replica[] => replicas.filter((r) => r.process.child.exitCode === null && r.process.child.signalCode === null);

  /** graphile-worker's workers, by the replica (pid) whose heartbeats name them. */
  const workersOf = async (pid: number): Promise<string[]> => {
    const rows = await database.db('worker_heartbeats').select('worker_id', 'process_id') as { worker_id: string; process_id: string }[];
    return rows.filter((r) => r.process_id.endsWith(`:${pid}`)).map((r) => r.worker_id);
  };
  const lockedBy = async (workerIds: string[]): Promise<{ id: string; task_identifier: string; key: string | null }[]> =>
    workerIds.length === 0 ? [] : database.db.withSchema('graphile_worker').from('jobs')
      .select(database.db.raw('id::text AS id'), 'task_identifier', 'key').whereIn('locked_by', workerIds);

  const submitThrough = async (replica: Replica, index: number): Promise<void> => {
    const code = exitCodeOf(index);
    const handle = await replica.clients.job.submitJob(token, new ms.JobSpec({
      jobName: `replica-job-${index}`,
      parallelism: base.ApplicationParallelismType.SERIAL,
      // The job prints its Slurm job name, which carries our id (ms-<jobId>).
      command: ['/bin/sh', '-c', `sleep 0.5; echo "$SLURM_JOB_NAME"; exit ${code}`],
      clusterId,
    }));
    expected.set(handle.jobId, code);
  };

  beforeAll(async () => {
    database = await createTestDatabase({ migrate: false });
    const keyDir = mkdtempSync(path.join(tmpdir(), 'ms-replica-key-'));
    const keyFile = path.join(keyDir, 'secrets.key');
    writeFileSync(keyFile, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    shared = { DATABASE_URL: database.url, AUTH_HS256_SECRET: TEST_SECRET, SECRETS_KEY_FILE: keyFile, AMQP_URL };
    token = await authz(GATEWAY, 'operator');
    // Airavata's side of the outbox: everything routed for this gateway, as it arrives.
    broker = await amqp.connect(AMQP_URL);
    const channel = await broker.createChannel();
    await channel.assertExchange(STATUS_EXCHANGE, 'topic', { durable: true });
    const { queue } = await channel.assertQueue('', { exclusive: true });
    await channel.bindQueue(queue, STATUS_EXCHANGE, `${GATEWAY}.#`);
    await channel.consume(queue, (delivery) => {
      if (!delivery) return;
      const { event } = decodeJobStatusMessage(delivery.content);
      const jobId = event.jobIdentity.jobId;
      published.set(jobId, [...(published.get(jobId) ?? []), JobState[event.state]]);
      channel.ack(delivery);
    });
    // Both start together: schema migrations and graphile-worker's own must not trip over each other.
    await Promise.all([startReplica('a'), startReplica('b')]);
    replicas.sort((x, y) => x.name.localeCompare(y.name));
    // Each replica reads the gateway's key pair, made once by whichever was asked first.
    const publicKeys = await Promise.all(replicas.map((r) => r.clients.cluster.getGatewaySSHPublicKey(token)));
    expect(publicKeys[1]).toBe(publicKeys[0]);
    const authorized = path.join(keyDir, 'authorized_keys');
    writeFileSync(authorized, `${publicKeys[0].trim()}\n`, { mode: 0o600 });
    execFileSync(HELPER, ['up', HOST.name, HOST.address, authorized], { env: NET_ENV });
    hostUp = true;
    freshSlurmState();
    sampler = (async () => {
      while (sampling) {
        const { rows } = await database.db.raw(
          "SELECT count(*)::int AS locked FROM graphile_worker.jobs WHERE task_identifier = 'cluster_monitor' AND locked_at IS NOT NULL",
        ) as { rows: { locked: number }[] };
        maxLockedMonitors = Math.max(maxLockedMonitors, rows[0].locked);
        monitorSamples += 1;
        await sleep(10);
      }
    })();
  });

  afterAll(async () => {
    sampling = false;
    await sampler?.catch(() => undefined);
    try {
      const survivor = alive()[0];
      if (survivor && clusterId) {
        const c = await survivor.clients.cluster.getCluster(token, clusterId).catch(() => undefined);
        if (c && c.state !== ms.ClusterState.TERMINATED) {
          await survivor.clients.cluster.deleteCluster(token, clusterId).catch(() => undefined);
          await until('teardown', 180_000, async () => {
            const now = await survivor.clients.cluster.getCluster(token, clusterId as string);
            return [ms.ClusterState.TERMINATED, ms.ClusterState.FAILED].includes(now.state) ? true : undefined;
          }, 1000).catch(() => undefined);
        }
      }
    } finally {
      for (const replica of replicas) {
        replica.clients.close();
        if (replica.process.child.exitCode === null && replica.process.child.signalCode === null) replica.process.child.kill('SIGTERM');
        await replica.process.exited;
      }
      if (hostUp) spawnSync(HELPER, ['down', HOST.name], { env: NET_ENV });
      await broker?.close().catch(() => undefined);
      await database?.drop();
    }
  });

  it('builds one cluster through replica a; both replicas see it READY', async () => {
    const [a, b] = replicas;
    clusterId = await a.clients.cluster.createCluster(token, new ms.ClusterSpec({
      name: 'replicas', kind: ms.ClusterKind.SLURM, provider: ms.ProviderType.STATIC,
      hosts: [new ms.HostSpec({ address: HOST.address, roles: ['controller', 'worker'] })],
      // Slurm forgets ended jobs after 10 s: final states must come from its completion log.
      clusterOptions: new Map([['slurm_min_job_age', '10']]),
    }));
    const id = clusterId;
    await until('READY', 300_000, async () => {
      const c = await b.clients.cluster.getCluster(token, id);
      if (c.state === ms.ClusterState.FAILED) {
        const events = await b.clients.cluster.getClusterEvents(token, id, new Int64(0));
        throw new Error(`cluster FAILED: ${c.stateReason}\n${events.map((e) => `${e.kind} ${e.task ?? ''}: ${e.message}`).join('\n')}`);
      }
      return c.state === ms.ClusterState.READY ? c : undefined;
    }, 1000);
    expect((await a.clients.cluster.getCluster(token, id)).state).toBe(ms.ClusterState.READY);
  });

  it('runs every job exactly once and records its final state, through a SIGKILL of one replica', async () => {
    if (!clusterId) throw new Error('no cluster');
    const [a, b] = replicas;

    // Submit through both replicas at once, alternating.
    await Promise.all(Array.from({ length: FIRST_WAVE }, (_, i) => submitThrough(i % 2 === 0 ? a : b, i)));

    // Replica a is killed while it holds queue work: a dispatch and the cluster's monitor tick if
    // it can be caught holding both, else a dispatch, else anything it holds. Submissions keep
    // coming through b meanwhile, whose dispatches a's workers take their share of.
    const victim = a;
    const survivor = b;
    const victimWorkers = await workersOf(victim.pid);
    expect(victimWorkers.length).toBeGreaterThan(0);
    const victimProcess = (await database.db('worker_heartbeats').where('worker_id', victimWorkers[0]).first<{ process_id: string }>('process_id')).process_id;
    const secondWave = (async () => {
      for (let i = FIRST_WAVE; i < FIRST_WAVE + SECOND_WAVE; i += 1) await submitThrough(survivor, i);
    })();
    const lookingSince = Date.now();
    // The victim is frozen (SIGSTOP) while its locks are read, so what is seen is exactly what it
    // holds when SIGKILL lands; a look that finds too little lets it run on (SIGCONT).
    await until('replica a to hold queue work', 60_000, async () => {
      victim.process.child.kill('SIGSTOP');
      const tasks = new Set((await lockedBy(victimWorkers)).map((l) => l.task_identifier));
      const waited = Date.now() - lookingSince;
      const wanted = waited < 3000 ? tasks.has('job_dispatch') && tasks.has('cluster_monitor')
        : waited < 10_000 ? tasks.has('job_dispatch') : tasks.size > 0;
      victim.process.child.kill(wanted ? 'SIGKILL' : 'SIGCONT');
      return wanted ? true : undefined;
    }, 5);
    const killedAt = Date.now();
    await victim.process.exited;
    const held = await lockedBy(victimWorkers);
    const claims = await database.db('jobs').where('dispatch_claimed_by', victimProcess).pluck('id') as string[];
    await secondWave;
    console.log(`killed replica ${victim.name} (pid ${victim.pid}) holding ${held.length} queue job(s) `
      + `[${held.map((h) => h.task_identifier).join(', ')}] and ${claims.length} dispatch claim(s)`);
    expect(held.length).toBeGreaterThan(0);

    // Keep submitting through the survivor while its sweep takes over the dead replica's work.
    for (let i = FIRST_WAVE + SECOND_WAVE; i < JOBS; i += 1) await submitThrough(survivor, i);

    const takenOverAfter = await until('the killed replica\'s locks and claims to be taken over', 60_000, async () => {
      const stillLocked = await lockedBy(victimWorkers);
      const stillClaimed = await database.db('jobs').where('dispatch_claimed_by', victimProcess).count<{ count: string }[]>('* as count');
      return stillLocked.length === 0 && Number(stillClaimed[0].count) === 0 ? Date.now() - killedAt : undefined;
    }, 100);
    console.log(`the killed replica's work was taken over ${takenOverAfter} ms after the SIGKILL`);
    expect(takenOverAfter).toBeLessThan(60_000);

    // A replacement replica starts while the survivor is working: its start-up recovery must not
    // start a second monitor of the cluster nor dispatch anything again.
    const replacement = await startReplica('c');

    const ids = [...expected.keys()];
    expect(ids).toHaveLength(JOBS);
    const dispatchedAfter = await until('every job to be dispatched', 120_000, async () => {
      const waiting = await database.db('jobs').whereIn('id', ids).whereNull('native_job_id').count<{ count: string }[]>('* as count');
      return Number(waiting[0].count) === 0 ? Date.now() - killedAt : undefined;
    }, 200).catch(() => undefined);
    console.log(`all ${ids.length} jobs dispatched ${dispatchedAfter} ms after the SIGKILL`);
    const models = await until('every job to end', 180_000, async () => {
      const all = await survivor.clients.job.getJobs(token, ids);
      return all.every((m) => END.has(m.jobStatuses?.at(-1)?.jobState ?? JobState.SUBMITTED)) ? all : undefined;
    }, 1000);
    const endedAfter = Date.now() - killedAt;
    console.log(`all ${ids.length} jobs final ${endedAfter} ms after the SIGKILL`);

    // What the survivor reports: each job's final state, exit code and own output.
    for (const model of models) {
      const code = expected.get(model.jobId);
      const states = (model.jobStatuses ?? []).map((s) => JobState[s.jobState]);
      expect({ jobId: model.jobId, final: states.at(-1), exitCode: model.exitCode, stdOut: model.stdOut })
        .toEqual({ jobId: model.jobId, final: code === 0 ? 'COMPLETE' : 'FAILED', exitCode: code, stdOut: `ms-${model.jobId}\n` });
      expect(states.filter((s) => s === 'QUEUED')).toHaveLength(1);
    }
    // The replacement serves the same answers.
    const fromReplacement = await replacement.clients.job.getJobs(token, ids.slice(0, 5));
    expect(fromReplacement.map((m) => m.exitCode)).toEqual(ids.slice(0, 5).map((id) => expected.get(id)));

    // Slurm's own record: one native job per job of ours, none still queued, none of anyone else's.
    const records = await until('Slurm to log every job', 30_000, async () => {
      const all = slurmRecords();
      return all.length >= ids.length ? all : undefined;
    }).catch(() => slurmRecords());
    const perJob = new Map<string, SlurmRecord[]>();
    for (const record of records) perJob.set(record.jobId, [...(perJob.get(record.jobId) ?? []), record]);
    const twice = [...perJob].filter(([, list]) => list.length > 1).map(([jobId, list]) => `${jobId}: ${list.map((r) => r.nativeJobId).join(',')}`);
    expect(twice).toEqual([]);
    const starts = records.map((r) => r.start).sort();
    const ends = records.map((r) => r.end).sort();
    console.log(`Slurm ran them from ${starts[0]} to ${ends.at(-1)} (host clock)`);
    expect([...perJob.keys()].sort()).toEqual([...ids].sort());
    expect(slurmQueue()).toEqual([]);
    for (const model of models) {
      const [record] = perJob.get(model.jobId) ?? [];
      expect({ jobId: model.jobId, native: record?.nativeJobId, exitCode: record?.exitCode })
        .toEqual({ jobId: model.jobId, native: (await database.db('jobs').where('id', model.jobId).first<{ native_job_id: string }>('native_job_id')).native_job_id, exitCode: expected.get(model.jobId) });
    }

    // The outbox: every state change of every job reached the broker, in the order of the job's
    // history. A replica killed between the broker's confirm and the row's removal makes the next
    // lease holder send that row again (at least once), so repeats are counted, not refused.
    await until('the outbox to drain', 60_000, async () => {
      const [row] = await database.db('job_event_outbox').count<{ count: string }[]>('* as count');
      return Number(row.count) === 0 ? true : undefined;
    }, 200);
    await sleep(500);
    let repeats = 0;
    for (const model of models) {
      const arrived = published.get(model.jobId) ?? [];
      const firsts = arrived.filter((state, i) => arrived.indexOf(state) === i);
      repeats += arrived.length - firsts.length;
      expect({ jobId: model.jobId, events: firsts }).toEqual({ jobId: model.jobId, events: (model.jobStatuses ?? []).map((st) => JobState[st.jobState]) });
    }
    console.log(`job-status events: ${[...published.values()].reduce((n, l) => n + l.length, 0)} received, ${repeats} repeated`);

    // One monitor tick at a time for the cluster, through the kill and the replacement's start.
    console.log(`cluster_monitor jobs locked at once: at most ${maxLockedMonitors} over ${monitorSamples} samples`);
    expect(monitorSamples).toBeGreaterThan(100);
    expect(maxLockedMonitors).toBe(1);
  });

  it('deletes the cluster through a surviving replica', async () => {
    if (!clusterId) throw new Error('no cluster');
    const survivor = alive()[0];
    await survivor.clients.cluster.deleteCluster(token, clusterId);
    const id = clusterId;
    const c = await until('TERMINATED', 180_000, async () => {
      const now = await survivor.clients.cluster.getCluster(token, id);
      if (now.state === ms.ClusterState.FAILED) throw new Error(`teardown FAILED: ${now.stateReason}`);
      return now.state === ms.ClusterState.TERMINATED ? now : undefined;
    }, 1000);
    expect(c.nodes.map((n) => ms.NodeState[n.state])).toEqual(['RELEASED']);
  });
});
