// A soak: the service as a process, under a mixed load for SOAK_SECONDS (180 by default; 3600 for
// the long run) on a STATIC Slurm cluster of two test hosts of its own (scripts/test-ssh-host on its
// own bridge: ms-soak-h1 controller and worker, ms-soak-h2 worker; nothing of it on this machine's
// Slurm). The load, through the Thrift API: a short job submitted every SOAK_SUBMIT_EVERY_MS, one in
// ten cancelled at once, one in five a sleeper cancelled 3-8 s later, getJob and listJobs polled
// every second, the cluster scaled 2 -> 1 -> 2 ... whenever it is READY, and every job-status event
// consumed from RabbitMQ (a queue of our own bound to `gw-soak.#` on status_exchange).
//
// Every SOAK_SAMPLE_MS (10 s) one sample, printed as a table line (`soak| ...`): the service's RSS,
// anonymous RSS, threads and open fds by kind (/proc; the service exposes no heap figure, so heap is
// this test process's own), rows and bytes of every table (ours and graphile-worker's), outbox depth
// and the size of the service's Ansible run dirs (DATA_DIR/ansible). The samples are plotted, one
// panel per metric, into SOAK_OUTPUT_DIR/soak-output/soak-<timestamp>.png (default
// test-output/ in the repo root), with the table beside it as .txt.
//
// Bounds asserted (sizes and counts, never durations): memory, threads and fds in the load's last
// third within a margin of its first third, and fds not climbing steadily; the outbox back to 0
// (none parked) once the load stops, and every state change of every job consumed once; Ansible
// run dirs within the bridge's rotation (20 kept + those running); rows and bytes per job bounded;
// every job ended as its kind says; no unexpected RPC error; the service alive throughout.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import Int64 from 'node-int64';
import { connectClients, type ServiceClients } from '../../src/client/connect';
import { base, ms } from '../../src/rpc/wire';
import { clusterStory } from '../support/clusterStory';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { endServiceRun } from '../support/instanceHosts';
import { freePort, startServiceProcess, type ServiceProcess } from '../support/serviceProcess';
import { authz, TEST_SECRET } from '../support/tokens';
import { sleep, until } from '../support/until';
import { plotPng, type PlotPanel } from './support/linePlot';
import { dbStats } from './support/dbStats';
import { atMost, findings, peakGrowth, steadyClimb } from './support/soakBounds';
import { consumeStatusEvents, distinctEvents, type StatusEvents } from './support/soakEvents';
import { SoakLoad } from './support/soakLoad';
import { bytes, MAIN_TABLES, rows, sampleHeader, sampleLine, SoakSampler, type SoakSample } from './support/soakSampler';

const ROOT = path.resolve(__dirname, '../..');
const HELPER = path.join(ROOT, 'scripts/test-ssh-host');

function seconds(name: string, fallback: number, minimum: number): number {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isFinite(value) || value < minimum) throw new Error(`${name} must be a number >= ${minimum}, got ${JSON.stringify(raw)}`);
  return value;
}

const SOAK_SECONDS = seconds('SOAK_SECONDS', 180, 30);
const SAMPLE_MS = seconds('SOAK_SAMPLE_MS', 10_000, 1000);
const SUBMIT_EVERY_MS = seconds('SOAK_SUBMIT_EVERY_MS', 2000, 200);
const OUTPUT_DIR = path.join(path.resolve(process.env.SOAK_OUTPUT_DIR || path.join(ROOT, 'test-output')), 'soak-output');
const AMQP_URL = process.env.TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

// Our own bridge and network, so nothing here meets another file's test hosts.
// SOAK_BRIDGE, SOAK_NET and SOAK_HOSTS give a long run machines of its own, so that `npm test`'s
// bounded soak can run beside it.
const BRIDGE = process.env.SOAK_BRIDGE || 'msbr11';
const NET = process.env.SOAK_NET || '10.220.0';
const HOST_PREFIX = process.env.SOAK_HOSTS || 'ms-soak';
const HELPER_ENV = { ...process.env, MS_TEST_BRIDGE: BRIDGE, MS_TEST_NET: NET };
const HOSTS = [{ name: `${HOST_PREFIX}-h1`, address: `${NET}.61` }, { name: `${HOST_PREFIX}-h2`, address: `${NET}.62` }];
const GATEWAY = 'gw-soak';
const QUEUE = `ms-soak-${randomBytes(4).toString('hex')}`;

/** The Ansible bridge keeps this many run dirs (src/ansible/bridge.ts keepRuns), plus those running. */
const KEPT_RUNS = 20;
const WORKER_CONCURRENCY = 4;

const MB = 1024 * 1024;
/** Tables a submitted job writes to; graphile-worker's queue is bounded on its own (it churns with time, not jobs). */
const JOB_TABLES = ['jobs', 'job_statuses', 'job_event_outbox', 'idempotency_keys'];

// Build (up to 10 min when slow) + load + drain (up to ~8 min) + teardown.
jest.setTimeout((SOAK_SECONDS + 1800) * 1000);

const print = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

describe(`soak: ${SOAK_SECONDS} s of mixed load on a two-host STATIC Slurm cluster, sampled every ${SAMPLE_MS / 1000} s`, () => {
  let database: TestDatabase;
  let dataDir: string | undefined;
  let service: ServiceProcess | undefined;
  let clients: ServiceClients | undefined;
  let token: base.AuthzToken;
  let clusterId = '';
  let events: StatusEvents | undefined;
  let sampler: SoakSampler | undefined;
  let load: SoakLoad | undefined;
  let buildState = 'NONE';
  const up: string[] = [];
  const marks: { t: number; label: string }[] = [];
  /** What the drain waited for and did not get (checked by the tests that bound it). */
  const drainProblems: string[] = [];
  /** Every job's status history, read once the load has drained. */
  const histories = new Map<string, string[]>();
  /** The PNG written, once. */
  let plotted: string | undefined;

  const api = (): ServiceClients => {
    if (!clients) throw new Error('service not started');
    return clients;
  };
  const loadSamples = (): SoakSample[] => (sampler?.samples ?? []).filter((s) => s.phase === 'load');
  const lastSample = (): SoakSample => {
    const last = sampler?.samples.at(-1);
    if (!last) throw new Error('no sample was taken');
    return last;
  };

  beforeAll(async () => {
    // The broker first: without it there is nothing to soak, and the message says what is missing.
    events = await consumeStatusEvents(AMQP_URL, QUEUE, `${GATEWAY}.#`);
    database = await createTestDatabase({ migrate: false });
    dataDir = mkdtempSync(path.join(tmpdir(), 'ms-soak-'));
    const port = await freePort();
    // Valid for the whole run and its drain: the hour-long run outlived a one-hour token once.
    token = await authz(GATEWAY, 'operator', GATEWAY, SOAK_SECONDS + 3600);
    service = await startServiceProcess({
      DATABASE_URL: database.url, DATA_DIR: dataDir, THRIFT_PORT: String(port), AUTH_HS256_SECRET: TEST_SECRET,
      AMQP_URL, MONITOR_INTERVAL_MS: '1000', LOG_LEVEL: 'info', WORKER_CONCURRENCY: String(WORKER_CONCURRENCY),
    });
    const pid = service.child.pid;
    if (pid === undefined) throw new Error('the service process has no pid');
    clients = await connectClients({ host: '127.0.0.1', port });
    sampler = new SoakSampler({
      pid, db: database.db, runsRoot: path.join(dataDir, 'ansible'), print,
      load: () => ({
        ...(load?.counts() ?? { submitted: 0, ended: 0, canceled: 0 }),
        polls: load?.polls ?? 0,
        events: events ? distinctEvents(events) : 0,
        scales: load?.scales.length ?? 0,
        clusterState: load?.clusterState ?? buildState,
      }),
    });
    sampler.start(SAMPLE_MS);
    const authorized = path.join(dataDir, 'authorized_keys');
    writeFileSync(authorized, `${(await api().cluster.getGatewaySSHPublicKey(token)).trim()}\n`, { mode: 0o600 });
    for (const host of HOSTS) {
      execFileSync(HELPER, ['up', host.name, host.address, authorized], { env: HELPER_ENV });
      up.push(host.name);
    }
  });

  afterAll(async () => {
    await sampler?.stop();
    // A run that never got to its load (a failed build) still leaves its samples behind.
    if (!plotted && sampler && sampler.samples.length > 0) {
      print(`soak: plot (no load ran) ${writeOutputs(sampler.samples, marks, 'no load ran')}`);
    }
    try {
      await endServiceRun(clients, token, clusterId, service);
    } finally {
      for (const host of up) {
        const down = spawnSync(HELPER, ['down', host], { env: HELPER_ENV, encoding: 'utf8' });
        if (down.status !== 0) print(`soak: test-ssh-host down ${host} failed: ${down.stderr.trim()}`);
      }
      await events?.close().catch((error: unknown) => print(`soak: deleting queue ${QUEUE} failed: ${(error as Error).message}`));
      await database?.drop();
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('builds a STATIC Slurm cluster on both hosts to READY', async () => {
    clusterId = await api().cluster.createCluster(token, new ms.ClusterSpec({
      name: 'soak', kind: ms.ClusterKind.SLURM, provider: ms.ProviderType.STATIC,
      hosts: [
        new ms.HostSpec({ address: HOSTS[0].address, roles: ['controller', 'worker'] }),
        new ms.HostSpec({ address: HOSTS[1].address, roles: ['worker'] }),
      ],
      // Open MPI on the test network only; Slurm forgets ended jobs after 10 s (keeps squeue short).
      clusterOptions: new Map([['openmpi_tcp_networks', `${NET}.0/24`], ['slurm_min_job_age', '10']]),
    }));
    const ready = await until('READY', 600_000, async () => {
      const c = await api().cluster.getCluster(token, clusterId);
      buildState = ms.ClusterState[c.state];
      if (c.state === ms.ClusterState.FAILED) throw new Error(`cluster FAILED: ${c.stateReason}\n${await clusterStory(api(), token, clusterId)}`);
      return c.state === ms.ClusterState.READY ? c : undefined;
    }, 1000);
    expect(ready.nodes.map((n) => [n.address, ms.NodeState[n.state]])).toEqual(HOSTS.map((h) => [h.address, 'CONFIGURED']));
  });

  it(`runs ${SOAK_SECONDS} s of submits, polls, cancels, scaling and event consumption, then drains`, async () => {
    if (!sampler || !events) throw new Error('not set up');
    // Without a READY cluster the load would only wait out its timeouts: the build's failure says why.
    if (buildState !== 'READY') throw new Error(`no load: the cluster is ${buildState}, not READY`);
    const run = sampler;
    const consumed = events;
    load = new SoakLoad({
      clients: api(), token, clusterId, seconds: SOAK_SECONDS, submitEveryMs: SUBMIT_EVERY_MS, pollEveryMs: 1000,
      scalePauseMs: 10_000, workers: HOSTS.length, now: () => run.now(),
      story: () => clusterStory(api(), token, clusterId),
    });
    const started = Date.now();
    // A sample right at the start, so the load's first third has its baseline.
    run.phase = 'load';
    marks.push({ t: run.now(), label: 'LOAD' });
    await run.sample();
    await load.run();
    run.phase = 'drain';
    marks.push({ t: run.now(), label: 'DRAIN' });
    const loadS = (Date.now() - started) / 1000;

    const drainStarted = Date.now();
    const soak = load;
    const ids = [...soak.jobs.keys()];
    await until('every job to end', 300_000, async () => {
      histories.clear();
      for (let i = 0; i < ids.length; i += 50) {
        for (const model of await api().job.getJobs(token, ids.slice(i, i + 50))) {
          histories.set(model.jobId, (model.jobStatuses ?? []).map((s) => base.JobState[s.jobState]));
        }
      }
      for (const [id, states] of histories) {
        const job = soak.jobs.get(id);
        if (job) job.state = states.at(-1);
      }
      return soak.counts().ended === ids.length ? true : undefined;
    }, 2000).catch((error: unknown) => drainProblems.push((error as Error).message));
    await soak.ready(600_000).catch((error: unknown) => drainProblems.push((error as Error).message));
    const statusRows = histories.size > 0 ? [...histories.values()].reduce((n, h) => n + h.length, 0) : 0;
    await until('the outbox to drain', 120_000, async () => ((await dbStats(database.db)).outboxDepth === 0 ? true : undefined), 2000)
      .catch((error: unknown) => drainProblems.push((error as Error).message));
    await until('every status change at the consumer', 60_000, async () => (distinctEvents(consumed) >= statusRows ? true : undefined), 1000)
      .catch((error: unknown) => drainProblems.push(`${(error as Error).message}: ${distinctEvents(consumed)} of ${statusRows}`));
    await sleep(1000);
    await run.sample();
    await run.stop();
    const drainS = (Date.now() - drainStarted) / 1000;

    plotted = writeOutputs(run.samples, marks, `${SOAK_SECONDS}s load, ${soak.jobs.size} jobs, ${soak.scales.length} scales`);
    print(summary(run.samples, soak, consumed, { loadS, drainS }));
    print(await scaleSteps(api(), token, clusterId, started));
    print(`soak: plot ${plotted}`);
    expect(drainProblems).toEqual([]);
  });

  it('keeps the service alive, every sample taken, no unexpected RPC error', () => {
    expect(sampler?.errors).toEqual([]);
    expect(service?.child.exitCode).toBeNull();
    expect((sampler?.samples ?? []).filter((s) => !s.proc).map((s) => s.t)).toEqual([]);
    expect(load?.errors).toEqual([]);
    expect(load?.scales.length).toBeGreaterThanOrEqual(1);
    expect(load?.scales.filter((s) => s.tookS === undefined)).toEqual([]);
  });

  it('bounds memory, threads and open fds: the last third within a margin of the first, no steady fd climb', () => {
    const samples = loadSamples().filter((s) => s.proc);
    const series = (pick: (s: SoakSample) => number) => samples.map(pick);
    const rss = series((s) => Math.round((s.proc?.rssKb ?? 0) / 1024));
    const anon = series((s) => Math.round((s.proc?.rssAnonKb ?? 0) / 1024));
    const fds = series((s) => s.proc?.fds ?? 0);
    const threads = series((s) => s.proc?.threads ?? 0);
    expect(findings(
      peakGrowth('service RSS (MB)', rss, { ratio: 0.5, slack: 64 }),
      peakGrowth('service anonymous RSS (MB)', anon, { ratio: 0.5, slack: 64 }),
      steadyClimb('service anonymous RSS (MB)', anon, 32),
      peakGrowth('service threads', threads, { ratio: 0.5, slack: 8 }),
      peakGrowth('service open fds', fds, { ratio: 0.25, slack: 16 }),
      steadyClimb('service open fds', fds, 8),
    )).toEqual([]);
  });

  it('drains the outbox to 0 with nothing parked, and every job state change reached the consumer once', () => {
    const last = lastSample();
    expect({ depth: last.db.outboxDepth, parked: last.db.outboxParked, rows: rows(last, 'job_event_outbox') })
      .toEqual({ depth: 0, parked: 0, rows: 0 });
    expect(events?.problems).toEqual([]);
    const mismatched = [...histories].filter(([id, states]) => JSON.stringify(events?.byJob.get(id) ?? []) !== JSON.stringify(states))
      .map(([id, states]) => `${id}: history ${states.join(',')}, events ${(events?.byJob.get(id) ?? []).join(',')}`);
    expect(mismatched).toEqual([]);
    expect(histories.size).toBe(load?.jobs.size);
  });

  it('keeps the Ansible run dirs within the bridge rotation', () => {
    const samples = sampler?.samples ?? [];
    const peakRuns = Math.max(...samples.map((s) => s.artifacts.runs));
    const peakBytes = Math.max(...samples.map((s) => s.artifacts.bytes));
    const largestRun = Math.max(...samples.map((s) => s.artifacts.largestRunBytes));
    expect(findings(
      atMost('Ansible run dirs', peakRuns, KEPT_RUNS + WORKER_CONCURRENCY, `${KEPT_RUNS} kept + ${WORKER_CONCURRENCY} running`),
      atMost('Ansible run dirs (bytes)', peakBytes, (KEPT_RUNS + WORKER_CONCURRENCY) * largestRun, 'as many run dirs as rotation keeps, each at most the largest seen'),
      atMost('Ansible run dirs (MB)', Math.round(peakBytes / MB), 256, 'a generous ceiling for 24 playbook runs'),
    )).toEqual([]);
  });

  it('grows the database in proportion to the jobs: rows and bytes per job bounded', () => {
    const first = loadSamples()[0];
    const last = lastSample();
    const jobs = load?.jobs.size ?? 0;
    const clusterOps = 1 + (load?.scales.length ?? 0);
    const jobBytes = (s: SoakSample) => JOB_TABLES.reduce((n, table) => n + bytes(s, table), 0);
    expect(jobs).toBeGreaterThan(0);
    expect(findings(
      atMost('jobs rows', rows(last, 'jobs'), jobs, 'one per submit'),
      atMost('job_statuses rows per job', rows(last, 'job_statuses') / jobs, 6, 'SUBMITTED, QUEUED, ACTIVE, an end, and room for UNKNOWN and back'),
      atMost('graphile-worker jobs left', rows(last, 'graphile_worker._private_jobs'), 10, 'recurring work only (monitor, sweeper, placement)'),
      atMost('graphile-worker jobs table (MiB)', bytes(last, 'graphile_worker._private_jobs') / MB, 16, 'a queue of a few rows, rewritten every monitor tick until vacuumed'),
      atMost('idempotency_keys rows', rows(last, 'idempotency_keys'), clusterOps, 'submits without client tokens write none'),
      atMost('cluster_events rows per cluster operation', rows(last, 'cluster_events') / clusterOps, 3000, 'a build or scale streams its tasks per host'),
      atMost('job tables growth per job (KiB)', (jobBytes(last) - jobBytes(first)) / 1024 / jobs, 64, 'rows, TOAST and indexes, dead tuples included'),
      atMost('cluster_events bytes per cluster operation (MiB)', bytes(last, 'cluster_events') / MB / clusterOps, 2, 'task events are short lines'),
      atMost('database growth per job (KiB)', (last.db.databaseBytes - first.db.databaseBytes) / 1024 / jobs, 256, 'everything the load wrote'),
    )).toEqual([]);
  });

  it('ends every job as its kind says: short ones COMPLETE, sleepers CANCELED, early cancels CANCELED unless they ended first', () => {
    const wrong = [...(load?.jobs.values() ?? [])].filter((job) => {
      if (job.kind === 'short') return job.state !== 'COMPLETE';
      if (job.kind === 'sleeper') return job.state !== 'CANCELED';
      return !(job.state === 'CANCELED' || (job.state === 'COMPLETE' && job.cancel === 'refused'));
    }).map((job) => `${job.name} (${job.kind}, cancel ${job.cancel ?? 'none'}): ${histories.get(job.id)?.join(' -> ') ?? job.state}`);
    expect(wrong).toEqual([]);
  });
});

/** The plot and the sample table, as SOAK_OUTPUT_DIR/soak-output/soak-<timestamp>.{png,txt}; returns the PNG's path. */
function writeOutputs(samples: readonly SoakSample[], markers: readonly { t: number; label: string }[], what: string): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  mkdirSync(OUTPUT_DIR, { recursive: true });
  const png = path.join(OUTPUT_DIR, `soak-${stamp}.png`);
  writeFileSync(png, plotPng({ title: `soak ${stamp}: ${what}, samples every ${SAMPLE_MS / 1000}s`, panels: panels(samples), markers }));
  writeFileSync(path.join(OUTPUT_DIR, `soak-${stamp}.txt`), `${[sampleHeader(), ...samples.map(sampleLine)].join('\n')}\n`);
  return png;
}

/** The workflow steps the cluster logged since the load began, with their times: where a scale spends its time. */
async function scaleSteps(clients: ServiceClients, token: base.AuthzToken, clusterId: string, since: number): Promise<string> {
  const lines: string[] = [];
  for (let after = 0; ;) {
    const page = await clients.cluster.getClusterEvents(token, clusterId, new Int64(after));
    if (page.length === 0) break;
    for (const e of page) {
      if ((e.kind === 'step' || e.kind === 'state') && e.time.toNumber() >= since) {
        lines.push(`soak: cluster +${((e.time.toNumber() - since) / 1000).toFixed(0).padStart(4)} s ${e.kind} ${e.message.slice(0, 160)}`);
      }
    }
    after = page[page.length - 1].seq.toNumber();
  }
  return lines.join('\n') || 'soak: cluster logged no step during the load';
}

/** One panel per metric, in the order the eye wants them: the process, the database, the disk, the load. */
function panels(samples: readonly SoakSample[]): PlotPanel[] {
  const panel = (name: string, pick: (s: SoakSample) => number): PlotPanel => ({ name, points: samples.map((s) => ({ t: s.t, v: pick(s) })) });
  const proc = (pick: (p: NonNullable<SoakSample['proc']>) => number) => (s: SoakSample) => (s.proc ? pick(s.proc) : Number.NaN);
  return [
    panel('service rss mb', proc((p) => p.rssKb / 1024)),
    panel('service anon rss mb', proc((p) => p.rssAnonKb / 1024)),
    panel('service open fds', proc((p) => p.fds)),
    panel('service threads', proc((p) => p.threads)),
    panel('outbox depth', (s) => s.db.outboxDepth),
    panel('database mb', (s) => s.db.databaseBytes / MB),
    panel('jobs rows', (s) => rows(s, 'jobs')),
    panel('job_statuses rows', (s) => rows(s, 'job_statuses')),
    panel('jobs table mb', (s) => bytes(s, 'jobs') / MB),
    panel('cluster_events rows', (s) => rows(s, 'cluster_events')),
    panel('graphile jobs rows', (s) => rows(s, 'graphile_worker._private_jobs')),
    panel('ansible run dirs mb', (s) => s.artifacts.bytes / MB),
    panel('events consumed', (s) => s.load.events),
    panel('test process heap mb', (s) => s.testHeapBytes / MB),
  ];
}

/** What the run did and how each table moved, printed after the sample lines. */
function summary(samples: readonly SoakSample[], soak: SoakLoad, consumed: StatusEvents, times: { loadS: number; drainS: number }): string {
  const loadSamples = samples.filter((s) => s.phase === 'load');
  const first = loadSamples[0] ?? samples[0];
  const last = samples[samples.length - 1];
  const counts = soak.counts();
  const lines = [
    `soak: load ${times.loadS.toFixed(0)} s, drain ${times.drainS.toFixed(0)} s, ${samples.length} samples (${loadSamples.length} under load)`,
    `soak: jobs ${counts.submitted} submitted, ${counts.ended} ended, ${counts.canceled} canceled; ${soak.polls} polls; `
      + `${distinctEvents(consumed)} events (${consumed.received} received, ${consumed.repeats} repeated)`,
    `soak: scales ${soak.scales.map((s) => `->${s.to} at ${s.startedAt.toFixed(0)} s (${s.tookS?.toFixed(0) ?? '?'} s)`).join(', ') || 'none'}`,
    `soak: errors ${soak.errors.length === 0 ? 'none' : soak.errors.join('; ')}`,
    'soak: table                              rows first -> last        bytes first -> last',
  ];
  const main = new Set<string>(MAIN_TABLES);
  const tables = Object.keys(last.db.tables).sort((a, b) => Number(main.has(b)) - Number(main.has(a)) || a.localeCompare(b));
  for (const table of tables) {
    lines.push(`soak: ${table.padEnd(34)} ${String(rows(first, table)).padStart(7)} -> ${String(rows(last, table)).padEnd(7)} `
      + `${String(bytes(first, table)).padStart(10)} -> ${bytes(last, table)}`);
  }
  lines.push(`soak: database ${(first.db.databaseBytes / MB).toFixed(1)} MB -> ${(last.db.databaseBytes / MB).toFixed(1)} MB`);
  return lines.join('\n');
}
