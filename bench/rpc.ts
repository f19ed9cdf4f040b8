// `npm run bench:rpc`: calls per second and latency of the Thrift service against a raw Thrift no-op
// server built on the same runtime, protocol, transport and multiplexing, over 127.0.0.1 only. Every
// side runs in its own process, as in production: the service (`node dist/src/main.js`, one process
// per replica, all on one database), the no-op server alone, and the clients in a few client
// processes (bench/rpcClients.ts) that report their latencies back over IPC. It reports and never
// fails on the targets: it is a benchmark, not a test.
//
//   node dist/bench/rpc.js [--seconds 5] [--warmup 1] [--transport buffered|framed] [--concurrency 1,64]
//                          [--only raw,getAPIVersion,submitJob,getJob] [--replicas 1] [--client-processes 4]
//                          [--service-node-args "--cpu-prof --cpu-prof-dir=/tmp/prof"]
//
// DATABASE_URL set: a fresh database `bench_<timestamp>_<pid>` is made on that (loopback) server and
// dropped at the end; unset: an embedded Postgres under a temporary directory, removed at the end.
// --replicas N (> 1) runs every service scenario twice, against replica 1 alone and against all N
// (connections round-robin over them), and prints what the extra processes add.
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { mintHs256Token } from '../src/auth/mintToken';
import { connectClients } from '../src/client/connect';
import type { ThriftTransport } from '../src/config';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../src/db/embeddedPostgres';
import { createLogger, maskUrl } from '../src/log';
import { base, ms } from '../src/rpc/wire';
import { MessageChild } from './support/children';
import { epochNow, type ClientReport, type FromClientProcess, type RunPlan, type ScenarioName, type ToClientProcess } from './support/clientProtocol';
import { assertLoopback, createBenchDatabase, serverVersion, type BenchDatabase } from './support/database';
import { percentile } from './support/latency';
import { describeMachine, processesCpuBetween, processesCpuSnapshot, cpuBetween, type ProcessesCpuSnapshot } from './support/machine';
import { freePort, startServiceReplica, type ServiceReplica } from './support/serviceProcess';

const HOST = '127.0.0.1';
const GATEWAY = 'bench-gateway';
/** Jobs submitted before the getJob scenario, which reads them back. */
const SEEDED_JOBS = 1000;
/** Latency slots per second of a run, per client process: far above what this runtime serves (~20k calls/s). */
const SAMPLES_PER_SECOND = 100_000;
/** How long after the measured window a call may still be waited for. */
const STALL_MS = 10_000;
/** How long SIGTERM lets a replica drain before it is killed. */
const SERVICE_GRACE_MS = 5000;
const CLIENTS_MODULE = path.join(__dirname, 'rpcClients.js');
const NOOP_MODULE = path.join(__dirname, 'rpcNoopServer.js');
/** The issue's targets, all at 64 concurrent clients. */
const TARGETS = {
  atConcurrency: 64,
  submitPerSec: 5000, submitVsRaw: 0.3, submitP99Ms: 25,
  getPerSec: 10_000, getVsRaw: 0.6, getP99Ms: 15,
};
const SCENARIOS: ScenarioName[] = ['raw no-op', 'getAPIVersion', 'submitJob', 'getJob'];
/** Service settings an operator may tune for a run, passed on to every replica when set. */
const PASSED_TO_SERVICE = ['DB_POOL_SIZE', 'WORKER_CONCURRENCY', 'BACKGROUND_WORKERS', 'THRIFT_MAX_CONNECTIONS', 'MONITOR_INTERVAL_MS'];

interface Options {
  seconds: number;
  warmup: number;
  transport: ThriftTransport;
  concurrency: number[];
  /** Scenario names to run; empty: all. */
  only: string[];
  replicas: number;
  clientProcesses: number;
  serviceNodeArgs: string[];
}

interface Result {
  scenario: ScenarioName;
  /** The scenario, or "raw no-op (end)" for the baseline run again after the service's. */
  label: string;
  /** Service processes the clients spread over (1 for the no-op server). */
  replicas: number;
  concurrency: number;
  clientProcesses: number;
  calls: number;
  seconds: number;
  perSecond: number;
  p50: number;
  p99: number;
  errors: number;
  firstError?: string;
  overflow: number;
  /** CPU during the measured window, percent of one core: the server(s) under test, the client processes, the machine. */
  serverCpu: number;
  clientCpu: number;
  machineCpu: number;
}

type ClientProcess = MessageChild<ToClientProcess, FromClientProcess>;

let aborted = false;

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      seconds: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '1' },
      transport: { type: 'string' },
      concurrency: { type: 'string', default: '1,64' },
      only: { type: 'string', default: '' },
      replicas: { type: 'string', default: '1' },
      'client-processes': { type: 'string', default: '4' },
      'service-node-args': { type: 'string', default: '' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write('usage: node dist/bench/rpc.js [--seconds 5] [--warmup 1] [--transport buffered|framed] [--concurrency 1,64]\n' +
      '         [--only raw,getAPIVersion,submitJob,getJob] [--replicas 1] [--client-processes 4] [--service-node-args "--cpu-prof"]\n');
    process.exit(0);
  }
  const positive = (name: string, text: string, max: number): number => {
    const value = Number(text);
    if (!Number.isFinite(value) || value <= 0 || value > max) throw new Error(`--${name}: "${text}" is not a number in (0, ${max}]`);
    return value;
  };
  const whole = (name: string, text: string, max: number): number => {
    const value = positive(name, text, max);
    if (!Number.isInteger(value)) throw new Error(`--${name}: "${text}" is not a whole number`);
    return value;
  };
  const transport = values.transport ?? process.env.THRIFT_TRANSPORT ?? 'buffered';
  if (transport !== 'buffered' && transport !== 'framed') throw new Error(`--transport: "${transport}" is not buffered or framed`);
  const only = values.only.split(',').map((name) => name.trim()).filter((name) => name !== '');
  const unknown = only.filter((name) => !SCENARIOS.some((s) => s.startsWith(name)));
  if (unknown.length > 0) throw new Error(`--only: no scenario starts with ${unknown.join(', ')} (scenarios: ${SCENARIOS.join(', ')})`);
  return {
    seconds: positive('seconds', values.seconds, 600),
    warmup: values.warmup === '0' ? 0 : positive('warmup', values.warmup, 60),
    transport,
    concurrency: values.concurrency.split(',').map((part) => whole('concurrency', part.trim(), 1024)),
    only,
    replicas: whole('replicas', values.replicas, 16),
    clientProcesses: whole('client-processes', values['client-processes'], 64),
    serviceNodeArgs: values['service-node-args'].split(/\s+/).filter((arg) => arg !== ''),
  };
}

function fmt(value: number, digits: number): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '-';
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Spreads `count` connections over `processes` (contiguous shares) and each share's connections round-robin over `ports`. */
function planShares(count: number, processes: number, ports: number[]): { ports: number[]; firstConnection: number }[] {
  const shares = [];
  let next = 0;
  for (let i = 0; i < processes; i++) {
    const share = Math.floor(count / processes) + (i < count % processes ? 1 : 0);
    // The global connection number picks the replica, so every process spreads its share too.
    shares.push({ ports: Array.from({ length: share }, (_, k) => ports[(next + k) % ports.length]), firstConnection: next });
    next += share;
  }
  return shares;
}

/**
 * One run: `count` connections spread over the client processes, all started at one instant, a
 * warm-up, then the measured window. CPU is sampled by this process at the window's edges.
 */
async function runScenario(args: {
  scenario: ScenarioName;
  label: string;
  count: number;
  ports: number[];
  replicas: number;
  serverPids: number[];
  workers: ClientProcess[];
  options: Options;
  base: Omit<RunPlan, 'scenario' | 'ports' | 'firstConnection' | 'sampleCapacity'>;
  cores: number;
}): Promise<Result> {
  const { scenario, count, options } = args;
  const active = args.workers.slice(0, Math.min(count, args.workers.length));
  const shares = planShares(count, active.length, args.ports);
  const sampleCapacity = Math.ceil(options.seconds * SAMPLES_PER_SECOND) + 1024;
  await Promise.all(active.map((worker, i) => worker.request(
    { type: 'prepare', plan: { ...args.base, scenario, sampleCapacity, ...shares[i] } }, 'prepared', 30_000)));

  // A little ahead, so every process has the message before the start.
  const startAt = epochNow() + 50;
  const measureStart = startAt + options.warmup * 1000;
  const measureEnd = measureStart + options.seconds * 1000;
  const clientPids = active.map((worker) => worker.pid);
  const pids = [...args.serverPids, ...clientPids];
  let atStart: ProcessesCpuSnapshot | undefined;
  let atEnd: ProcessesCpuSnapshot | undefined;
  const startTimer = setTimeout(() => { atStart = processesCpuSnapshot(pids); }, measureStart - epochNow());
  const endTimer = setTimeout(() => { atEnd = processesCpuSnapshot(pids); }, measureEnd - epochNow());
  const onAbort = setInterval(() => {
    if (aborted) for (const worker of active) worker.send({ type: 'abort' });
  }, 200);
  let reports: ClientReport[];
  try {
    const replyWithin = measureEnd + STALL_MS + 15_000 - epochNow();
    const answers = await Promise.all(active.map((worker) => worker.request(
      { type: 'go', startAt, measureStart, measureEnd }, 'result', replyWithin)));
    reports = answers.map((answer) => answer.report);
  } finally {
    clearTimeout(startTimer);
    clearTimeout(endTimer);
    clearInterval(onAbort);
  }
  atEnd ??= processesCpuSnapshot(pids); // an aborted run ends early
  const cpu = (some: number[]): number => (atStart ? processesCpuBetween(atStart, atEnd!, some) : Number.NaN);
  const machineCpu = atStart ? cpuBetween(atStart.machine, atEnd.machine, args.cores).machinePct : Number.NaN;

  const total = reports.reduce((sum, r) => sum + r.samples.length, 0);
  const samples = new Float64Array(total);
  let offset = 0;
  for (const r of reports) {
    samples.set(r.samples, offset);
    offset += r.samples.length;
  }
  samples.sort();
  const calls = reports.reduce((sum, r) => sum + r.calls, 0);
  const stalled = reports.reduce((sum, r) => sum + r.stalled, 0);
  // Calls are those started inside the window; the window ends when the last of them completed.
  const lastDone = Math.max(measureStart, ...reports.map((r) => r.lastDone));
  const seconds = (lastDone - measureStart) / 1000;
  return {
    scenario,
    label: args.label,
    replicas: args.replicas,
    concurrency: count,
    clientProcesses: active.length,
    calls,
    seconds,
    perSecond: seconds > 0 ? calls / seconds : 0,
    p50: percentile(samples, 50),
    p99: percentile(samples, 99),
    errors: reports.reduce((sum, r) => sum + r.errors, 0) + stalled,
    firstError: stalled > 0 ? `${stalled} clients still waiting for a reply ${STALL_MS / 1000} s after the window`
      : reports.find((r) => r.firstError)?.firstError,
    overflow: reports.reduce((sum, r) => sum + r.overflow, 0),
    serverCpu: cpu(args.serverPids),
    clientCpu: cpu(clientPids),
    machineCpu,
  };
}

/**
 * The raw no-op's rate at this many clients: the higher of its runs at the start and at the end,
 * so a baseline slowed by other work on the machine never flatters the ratios.
 */
function rawRate(results: Result[], concurrency: number): number | undefined {
  const rates = results.filter((r) => r.scenario === 'raw no-op' && r.concurrency === concurrency).map((r) => r.perSecond);
  return rates.length > 0 ? Math.max(...rates) : undefined;
}

/**
 * Our own edge answering a call that does no work (getAPIVersion, one replica): a second baseline.
 * Our connection loop is cheaper than the runtime's server, so "x raw" alone would flatter the
 * calls that do work; "x edge" is what the work itself costs.
 */
function edgeRate(results: Result[], concurrency: number): number | undefined {
  return results.find((r) => r.scenario === 'getAPIVersion' && r.replicas === 1 && r.concurrency === concurrency)?.perSecond;
}

function table(results: Result[]): string {
  const lines = [
    '| scenario | replicas | clients | client procs | calls | calls/s | p50 ms | p99 ms | x raw | x edge | errors | CPU server | CPU clients | CPU machine |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of results) {
    const raw = rawRate(results, r.concurrency);
    const edge = edgeRate(results, r.concurrency);
    const ratio = raw ? fmt(r.perSecond / raw, 2) : '-';
    const edgeRatio = edge ? fmt(r.perSecond / edge, 2) : '-';
    lines.push(`| ${r.label} | ${r.replicas} | ${r.concurrency} | ${r.clientProcesses} | ${r.calls} | ${fmt(r.perSecond, 0)} | ${fmt(r.p50, 2)} | ` +
      `${fmt(r.p99, 2)} | ${ratio} | ${edgeRatio} | ${r.errors} | ${fmt(r.serverCpu, 0)}% | ${fmt(r.clientCpu, 0)}% | ${fmt(r.machineCpu, 0)}% |`);
  }
  return lines.join('\n');
}

/**
 * The no-op run again at the end: on a shared machine other work comes and goes, and a baseline
 * that moved during the bench makes every ratio of that run doubtful.
 */
function baselineDrift(results: Result[]): string[] {
  return results.filter((r) => r.label === 'raw no-op (end)').map((end) => {
    const start = results.find((r) => r.label === 'raw no-op' && r.concurrency === end.concurrency)?.perSecond ?? Number.NaN;
    return `baseline drift x${end.concurrency}: raw no-op ${fmt(start, 0)} calls/s at the start, ${fmt(end.perSecond, 0)} at the end ` +
      `(${fmt((100 * (end.perSecond - start)) / start, 0)}%); "x raw" is over the higher of the two`;
  });
}

/** What the extra replicas add: each service scenario at N replicas against the same at 1. */
function replicaGain(results: Result[], replicas: number): string[] {
  if (replicas === 1) return ['replicas: 1 service process (--replicas 2 shows what a second one adds)'];
  const lines = [`replicas: what ${replicas} service processes give over 1 (same database; connections round-robin over the replicas):`];
  for (const one of results.filter((r) => r.replicas === 1 && r.scenario !== 'raw no-op')) {
    const many = results.find((r) => r.scenario === one.scenario && r.concurrency === one.concurrency && r.replicas === replicas);
    if (!many) continue;
    const gain = one.perSecond > 0 ? many.perSecond / one.perSecond : Number.NaN;
    lines.push(`- ${one.scenario} x${one.concurrency}: ${fmt(one.perSecond, 0)} -> ${fmt(many.perSecond, 0)} calls/s (${fmt(gain, 2)}x), ` +
      `p99 ${fmt(one.p99, 2)} -> ${fmt(many.p99, 2)} ms, CPU of the service processes ${fmt(one.serverCpu, 0)}% -> ${fmt(many.serverCpu, 0)}%`);
  }
  if (lines.length === 1) lines.push('- no service scenario ran at both replica counts');
  return lines;
}

function targets(results: Result[], replicaCounts: number[]): string[] {
  const at = TARGETS.atConcurrency;
  const raw = rawRate(results, at);
  const lines: string[] = [];
  for (const replicas of replicaCounts) {
    const find = (name: ScenarioName): Result | undefined => results.find((r) => r.scenario === name && r.concurrency === at && r.replicas === replicas);
    const submit = find('submitJob');
    const get = find('getJob');
    const label = `${replicas} service process${replicas > 1 ? 'es' : ''}`;
    if (raw === undefined || (!submit && !get)) {
      lines.push(`targets (${label}): not evaluated: they need the raw no-op and submitJob or getJob at ${at} clients`);
      continue;
    }
    const check = (what: string, ok: boolean, got: string): string => `- ${ok ? 'MET    ' : 'NOT MET'} ${what}: ${got}`;
    lines.push(`targets at ${at} concurrent clients, ${label} (the issue's, all must hold):`);
    for (const [name, r, perSec, vsRaw, p99] of [
      ['submitJob', submit, TARGETS.submitPerSec, TARGETS.submitVsRaw, TARGETS.submitP99Ms],
      ['getJob', get, TARGETS.getPerSec, TARGETS.getVsRaw, TARGETS.getP99Ms],
    ] as const) {
      if (!r) {
        lines.push(`- not run  ${name}`);
        continue;
      }
      const ratio = r.perSecond / raw;
      const edge = edgeRate(results, at);
      const overEdge = edge ? `; ${fmt(r.perSecond / edge, 3)}x our own edge's no-op (getAPIVersion), which is faster than the raw one` : '';
      lines.push(check(`${name} >= ${vsRaw}x raw no-op`, ratio >= vsRaw, `${fmt(ratio, 3)}x${overEdge}`));
      lines.push(check(`${name} >= ${perSec} calls/s`, r.perSecond >= perSec, fmt(r.perSecond, 0)));
      lines.push(check(`${name} p99 <= ${p99} ms`, r.p99 <= p99, `${fmt(r.p99, 2)} ms`));
      if (r.errors > 0) lines.push(`- NOT MET ${name} without errors: ${r.errors}`);
    }
  }
  return lines;
}

async function seedJobs(port: number, transport: ThriftTransport, token: base.AuthzToken, runTag: string): Promise<string[]> {
  const client = await connectClients({ host: HOST, port, transport });
  const jobIds: string[] = [];
  try {
    for (let i = 0; i < SEEDED_JOBS; i += 50) {
      const handles = await Promise.all(Array.from({ length: 50 }, (_, k) => client.job.submitJob(token, new ms.JobSpec({
        jobName: 'bench-seed',
        parallelism: base.ApplicationParallelismType.SERIAL,
        command: ['/bin/echo', 'bench'],
        clientToken: `bench-${runTag}-seed-${i + k}`,
      }))));
      jobIds.push(...handles.map((h) => h.jobId));
    }
  } finally {
    client.close();
  }
  return jobIds;
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  const { transport } = options;
  const machine = describeMachine();
  const loadBefore = loadavg()[0];
  const selected = SCENARIOS.filter((s) => options.only.length === 0 || options.only.some((name) => s.startsWith(name)));
  const replicaCounts = options.replicas > 1 ? [1, options.replicas] : [1];

  const adminUrl = process.env.DATABASE_URL?.trim() || undefined;
  if (adminUrl) assertLoopback(adminUrl);
  const secret = randomBytes(32).toString('base64url');
  let benchDb: BenchDatabase | undefined;
  let embedded: EmbeddedDatabase | undefined;
  const tempDirs: string[] = [];
  const replicas: ServiceReplica[] = [];
  let noop: MessageChild<never, { type: 'listening'; port: number } | { type: 'failed'; error: string }> | undefined;
  const workers: ClientProcess[] = [];
  const results: Result[] = [];
  let database = '';
  let rawPort = 0;

  let cleaned: Promise<void> | undefined;
  // Every step runs even when an earlier one fails: nothing of the run may be left behind.
  const cleanup = (): Promise<void> => (cleaned ??= (async () => {
    const attempt = async (what: string, step: () => Promise<void> | void): Promise<void> => {
      try {
        await step();
      } catch (error) {
        process.stderr.write(`bench/rpc: cleanup: ${what} failed: ${describeError(error)}\n`);
      }
    };
    await attempt('stopping the client processes', async () => { await Promise.all(workers.map((w) => w.close())); });
    await attempt('stopping the no-op server', () => noop?.close());
    await attempt('stopping the service', async () => { await Promise.all(replicas.map((r) => r.stop(SERVICE_GRACE_MS + 5000))); });
    await attempt(`dropping ${benchDb?.name ?? 'the bench database'}`, () => benchDb?.drop());
    await attempt('stopping the embedded Postgres', () => embedded?.stop());
    for (const dir of tempDirs) await attempt(`removing ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
  })());

  // Bounded in time whatever happens: setup, every run (warm-up, window, a call timeout), teardown.
  const runs = (selected.length + 1) * options.concurrency.length * replicaCounts.length;
  const budgetMs = 180_000 + runs * (options.warmup + options.seconds + STALL_MS / 1000 + 10) * 1000;
  setTimeout(() => {
    process.stderr.write(`bench/rpc: still running after ${Math.round(budgetMs / 1000)} s; giving up\n`);
    const forced = setTimeout(() => process.exit(1), 30_000);
    void cleanup().finally(() => { clearTimeout(forced); process.exit(1); });
  }, budgetMs).unref();
  const interrupt = (): void => {
    if (aborted) process.exit(130); // the exit hook kills every child
    aborted = true;
    process.stderr.write('bench/rpc: interrupted; finishing the current run and cleaning up (again to quit now)\n');
  };
  process.on('SIGINT', interrupt);
  process.on('SIGTERM', interrupt);

  try {
    // The database is set up here, not by a replica: all replicas share it and none owns it.
    if (adminUrl) {
      benchDb = await createBenchDatabase(adminUrl);
      database = `Postgres ${await serverVersion(benchDb.url)} from DATABASE_URL (${maskUrl(adminUrl)}), fresh database ${benchDb.name}`;
    } else {
      const pgDir = mkdtempSync(path.join(tmpdir(), 'bench-rpc-pg-'));
      tempDirs.push(pgDir);
      chmodSync(pgDir, 0o755); // the embedded Postgres runs as an unprivileged user when we are root
      embedded = await startEmbeddedPostgres(pgDir, createLogger('warn'));
      database = `embedded Postgres ${await serverVersion(embedded.url)} under ${pgDir}`;
    }
    const databaseUrl = benchDb?.url ?? embedded?.url ?? '';
    // One DATA_DIR for all replicas, as replicas of one deployment share their secrets key.
    const dataDir = mkdtempSync(path.join(tmpdir(), 'bench-rpc-data-'));
    tempDirs.push(dataDir);

    const needsService = selected.some((s) => s !== 'raw no-op');
    if (needsService) {
      const passed = Object.fromEntries(PASSED_TO_SERVICE.flatMap((name) => (process.env[name] ? [[name, process.env[name] as string]] : [])));
      // One at a time: the first applies the migrations, the others find them done.
      for (let i = 0; i < options.replicas; i++) {
        replicas.push(await startServiceReplica({
          host: HOST,
          port: await freePort(HOST),
          nodeArgs: options.serviceNodeArgs,
          env: {
            ...passed,
            DATABASE_URL: databaseUrl,
            DATA_DIR: dataDir,
            THRIFT_TRANSPORT: transport,
            AUTH_HS256_SECRET: secret,
            LOG_LEVEL: 'warn',
            SHUTDOWN_GRACE_MS: String(SERVICE_GRACE_MS),
          },
        }));
      }
    }
    if (selected.includes('raw no-op')) {
      const started = await MessageChild.start<never, { type: 'listening'; port: number } | { type: 'failed'; error: string }>(
        NOOP_MODULE, [transport], 'the no-op server', 'listening');
      noop = started.process;
      if (started.ready.type === 'listening') rawPort = started.ready.port;
    }
    const processes = Math.min(Math.max(...options.concurrency), options.clientProcesses);
    for (let i = 0; i < processes; i++) {
      workers.push((await MessageChild.start<ToClientProcess, FromClientProcess>(CLIENTS_MODULE, [], `client process ${i + 1}`, 'ready')).process);
    }

    const accessToken = await mintHs256Token({ secret, gatewayId: GATEWAY, userName: 'bench', ttlSeconds: 24 * 3600 });
    const runTag = Date.now().toString(36);
    let jobIds: string[] = [];
    const passes = selected.map((scenario) => ({ scenario, label: scenario as string }));
    if (selected.includes('raw no-op') && selected.length > 1) passes.push({ scenario: 'raw no-op', label: 'raw no-op (end)' });

    process.stderr.write(`bench/rpc: ${transport} transport, ${database}; ${options.replicas} service process(es); ` +
      `${options.warmup} s warm-up + ${options.seconds} s per run\n`);
    for (const { scenario, label } of passes) {
      // Seeded just before they are read: the service's background work on them must not fall on the no-op's runs.
      if (scenario === 'getJob' && jobIds.length === 0 && replicas[0] && !aborted) {
        jobIds = await seedJobs(replicas[0].port, transport, new base.AuthzToken({ accessToken, claimsMap: new Map([['gatewayID', GATEWAY]]) }), runTag);
      }
      for (const count of options.concurrency) {
        for (const replicaCount of scenario === 'raw no-op' ? [1] : replicaCounts) {
          if (aborted) break;
          const inUse = scenario === 'raw no-op' ? [] : replicas.slice(0, replicaCount);
          const result = await runScenario({
            scenario,
            label,
            count,
            ports: scenario === 'raw no-op' ? [rawPort] : inUse.map((r) => r.port),
            replicas: replicaCount,
            // Every replica counts, also one the clients do not use: it still runs background work.
            serverPids: scenario === 'raw no-op' ? [noop?.pid ?? -1] : replicas.map((r) => r.pid),
            workers,
            options,
            // A tag per run: each run's submitJob client tokens are new, never replays of an earlier run's.
            base: { transport, host: HOST, accessToken, gatewayId: GATEWAY, jobIds, runTag: `${runTag}-${results.length}`, stallMs: STALL_MS },
            cores: machine.cores,
          });
          results.push(result);
          process.stderr.write(`  ${label} x${count}${scenario === 'raw no-op' ? '' : ` on ${replicaCount} replica(s)`}: ` +
            `${fmt(result.perSecond, 0)} calls/s, p99 ${fmt(result.p99, 2)} ms` +
            `${result.errors ? `, ${result.errors} errors (${result.firstError})` : ''}\n`);
        }
      }
    }
  } catch (error) {
    for (const replica of replicas) {
      const output = replica.output().trim();
      if (output) process.stderr.write(`bench/rpc: output of the replica on port ${replica.port}:\n${output}\n`);
    }
    throw error;
  } finally {
    await cleanup();
  }

  const pool = process.env.DB_POOL_SIZE ?? '16 (default)';
  process.stdout.write([
    '',
    `transport: ${transport} (binary protocol, multiplexed), 127.0.0.1`,
    `processes: the service \`node dist/src/main.js\` (${options.replicas} replica process(es), all up in every run, background workers ` +
      `${process.env.BACKGROUND_WORKERS ?? 'on'}), the raw no-op`,
    `           server alone in its own process, clients in ${workers.length} client process(es) (each run uses min(clients, ${workers.length}),`,
    '           each with its share of the connections; a connection per client, calls back to back)',
    `database:  ${database}; pool ${pool} per replica`,
    `runs:      ${options.warmup} s warm-up + ${options.seconds} s measured; "x raw" is calls/s over the raw no-op at the same clients, "x edge" over our getAPIVersion (1 replica)`,
    `CPU:       percent of one core during the measured window: "server" is the no-op process, or all service replicas`,
    `           together; "clients" the client processes used; "machine" all cores (max ${machine.cores * 100}%, includes Postgres)`,
    '',
    table(results),
    '',
    ...baselineDrift(results),
    ...replicaGain(results, options.replicas),
    '',
    ...targets(results, replicaCounts),
    ...results.filter((r) => r.overflow > 0).map((r) => `note: ${r.label} x${r.concurrency}: ${r.overflow} calls beyond the latency buffer (counted, not in percentiles)`),
    ...results.filter((r) => r.firstError).map((r) => `note: ${r.label} x${r.concurrency} on ${r.replicas}: first error: ${r.firstError}`),
    '',
    `machine:   ${machine.cores} cores, ${machine.cpuModel}, ${machine.os}, Node ${machine.node}`,
    `load:      1-min load average ${loadBefore.toFixed(2)} before the runs, ${loadavg()[0].toFixed(2)} after (other work on the machine skews every figure)`,
    '',
  ].join('\n'));
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench/rpc: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
    process.exit(1);
  },
);
