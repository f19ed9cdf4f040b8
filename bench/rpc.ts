// `npm run bench:rpc`: calls per second and latency of the Thrift service against a raw Thrift no-op
// server built on the same runtime, protocol, transport and multiplexing, in one process, over
// 127.0.0.1 only. It reports and never fails on the targets: it is a benchmark, not a test.
//
//   node dist/bench/rpc.js [--seconds 5] [--warmup 1] [--transport buffered|framed] [--concurrency 1,64]
//                          [--only raw,getAPIVersion,submitJob,getJob]   (a subset, e.g. for --cpu-prof)
//
// DATABASE_URL set: a fresh database `bench_<timestamp>_<pid>` is made on that (loopback) server and
// dropped at the end; unset: the embedded Postgres under a temporary DATA_DIR, removed at the end.
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { startApp, type App } from '../src/app';
import { mintHs256Token } from '../src/auth/mintToken';
import { connectClients, type ServiceClients } from '../src/client/connect';
import { loadConfig, type ThriftTransport } from '../src/config';
import { createLogger, maskUrl } from '../src/log';
import { base, ms } from '../src/rpc/wire';
import { assertLoopback, createBenchDatabase, type BenchDatabase } from './support/database';
import { LatencyRecorder, percentile } from './support/latency';
import { cpuBetween, cpuSnapshot, describeMachine, type CpuSnapshot } from './support/machine';
import { startRawNoopServer, type RawServer } from './support/rawServer';

const HOST = '127.0.0.1';
const GATEWAY = 'bench-gateway';
/** Jobs submitted during setup, read back by the getJob scenario. */
const SEEDED_JOBS = 1000;
/** Latency slots per run: far above what this runtime can serve (~20k calls/s). */
const SAMPLES_PER_SECOND = 100_000;
/** How long after the measured window a call may still be waited for. */
const STALL_MS = 10_000;
const TARGETS = { submitPerSec: 5000, submitVsRaw: 0.3, submitP99Ms: 25, getPerSec: 10_000, atConcurrency: 64 };

interface Options {
  seconds: number;
  warmup: number;
  transport: ThriftTransport;
  concurrency: number[];
  /** Scenario names to run; empty: all. */
  only: string[];
}

type Call = () => Promise<unknown>;

interface Scenario {
  name: string;
  port: number;
  /** Builds the call one client repeats; `worker` numbers the clients from 0. */
  makeCall(clients: ServiceClients, worker: number): Call;
}

interface Result {
  scenario: string;
  concurrency: number;
  calls: number;
  seconds: number;
  perSecond: number;
  p50: number;
  p99: number;
  errors: number;
  firstError?: string;
  overflow: number;
  /** CPU during the measured window, percent of one core: this process (clients and servers), the machine. */
  processCpu: number;
  machineCpu: number;
}

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
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write('usage: node dist/bench/rpc.js [--seconds 5] [--warmup 1] [--transport buffered|framed] [--concurrency 1,64] [--only raw,getAPIVersion,submitJob,getJob]\n');
    process.exit(0);
  }
  const positive = (name: string, text: string, max: number): number => {
    const value = Number(text);
    if (!Number.isFinite(value) || value <= 0 || value > max) throw new Error(`--${name}: "${text}" is not a number in (0, ${max}]`);
    return value;
  };
  const transport = values.transport ?? process.env.THRIFT_TRANSPORT ?? 'buffered';
  if (transport !== 'buffered' && transport !== 'framed') throw new Error(`--transport: "${transport}" is not buffered or framed`);
  const concurrency = values.concurrency.split(',').map((part) => Math.round(positive('concurrency', part.trim(), 1024)));
  return {
    seconds: positive('seconds', values.seconds, 600),
    warmup: values.warmup === '0' ? 0 : positive('warmup', values.warmup, 60),
    transport,
    concurrency,
    only: values.only.split(',').map((name) => name.trim()).filter((name) => name !== ''),
  };
}

/** Opens `count` connections (each its own socket), runs warm-up then the measured window, closes them. */
async function runScenario(
  scenario: Scenario, count: number, options: Options, transport: ThriftTransport, recorder: LatencyRecorder, cores: number,
): Promise<Result> {
  const clients = await Promise.all(
    Array.from({ length: count }, () => connectClients({ host: HOST, port: scenario.port, transport, timeoutMs: 10_000 })),
  );
  recorder.reset();
  let errors = 0;
  let firstError: string | undefined;
  const started = performance.now();
  const measureStart = started + options.warmup * 1000;
  const measureEnd = measureStart + options.seconds * 1000;
  let lastDone = measureStart;
  let running = count;
  let timer: NodeJS.Timeout | undefined;
  let cpuAtStart: CpuSnapshot | undefined;
  const startTimer = setTimeout(() => (cpuAtStart = cpuSnapshot()), measureStart - performance.now());
  try {
    const workers = Promise.all(clients.map(async (client, worker) => {
      const call = scenario.makeCall(client, worker);
      let consecutiveErrors = 0;
      while (!aborted) {
        const t0 = performance.now();
        if (t0 >= measureEnd) break;
        try {
          await call();
        } catch (error) {
          if (t0 >= measureStart) errors += 1;
          firstError ??= error instanceof Error ? error.message : JSON.stringify(error);
          if (++consecutiveErrors >= 100) break; // a broken client: stop it, the errors column says so
          continue;
        }
        consecutiveErrors = 0;
        const t1 = performance.now();
        if (t0 >= measureStart) {
          recorder.record(t1 - t0);
          if (t1 > lastDone) lastDone = t1;
        }
      }
      running -= 1;
    }));
    // A call that never comes back must not hold the run: give up on it STALL_MS after the window.
    const stalled = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, measureEnd + STALL_MS - performance.now());
    });
    await Promise.race([workers, stalled]);
  } finally {
    clearTimeout(timer);
    clearTimeout(startTimer);
    for (const client of clients) client.close();
  }
  const cpu = cpuAtStart ? cpuBetween(cpuAtStart, cpuSnapshot(), cores) : { processPct: Number.NaN, machinePct: Number.NaN };
  const sorted = recorder.sorted();
  const calls = recorder.recorded + recorder.overflow;
  // Calls are those started inside the window; the window ends when the last of them completed.
  const seconds = (lastDone - measureStart) / 1000;
  return {
    scenario: scenario.name,
    concurrency: count,
    calls,
    seconds,
    perSecond: seconds > 0 ? calls / seconds : 0,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    errors: errors + running,
    firstError: running > 0 ? `${running} clients still waiting for a reply ${STALL_MS / 1000} s after the window` : firstError,
    overflow: recorder.overflow,
    processCpu: cpu.processPct,
    machineCpu: cpu.machinePct,
  };
}

function fmt(value: number, digits: number): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '-';
}

function table(results: Result[]): string {
  const raw = new Map(results.filter((r) => r.scenario === 'raw no-op').map((r) => [r.concurrency, r.perSecond]));
  const lines = [
    '| scenario | clients | calls | calls/s | p50 ms | p99 ms | x raw | errors | CPU bench proc | CPU machine |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of results) {
    const rawRate = raw.get(r.concurrency);
    const ratio = rawRate ? fmt(r.perSecond / rawRate, 2) : '-';
    lines.push(`| ${r.scenario} | ${r.concurrency} | ${r.calls} | ${fmt(r.perSecond, 0)} | ${fmt(r.p50, 2)} | ${fmt(r.p99, 2)} | ${ratio} | ${r.errors} | ${fmt(r.processCpu, 0)}% | ${fmt(r.machineCpu, 0)}% |`);
  }
  return lines.join('\n');
}

function targets(results: Result[]): string {
  const at = TARGETS.atConcurrency;
  const find = (name: string): Result | undefined => results.find((r) => r.scenario === name && r.concurrency === at);
  const raw = find('raw no-op');
  const submit = find('submitJob');
  const get = find('getJob');
  if (!submit || !get || !raw) return `targets: not evaluated (needs raw no-op, submitJob and getJob at ${at} clients)`;
  const check = (label: string, ok: boolean, got: string): string => `- ${ok ? 'MET    ' : 'NOT MET'} ${label}: ${got}`;
  const ratio = submit.perSecond / raw.perSecond;
  return [
    `targets at ${at} concurrent clients:`,
    check(`submitJob >= ${TARGETS.submitPerSec} calls/s`, submit.perSecond >= TARGETS.submitPerSec, fmt(submit.perSecond, 0)),
    check(`submitJob >= ${TARGETS.submitVsRaw}x raw no-op`, ratio >= TARGETS.submitVsRaw, `${fmt(ratio, 2)}x`),
    check(`submitJob p99 <= ${TARGETS.submitP99Ms} ms`, submit.p99 <= TARGETS.submitP99Ms, `${fmt(submit.p99, 2)} ms`),
    check(`getJob >= ${TARGETS.getPerSec} calls/s`, get.perSecond >= TARGETS.getPerSec, fmt(get.perSecond, 0)),
  ].join('\n');
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  const { transport } = options;
  const machine = describeMachine();
  const loadBefore = loadavg()[0];
  const log = createLogger('warn', pino.destination(2));

  // Bounded in time whatever happens: setup, every run (warm-up, window, a call timeout), teardown.
  const runs = 4 * options.concurrency.length; // at most four scenarios
  const budgetMs = 180_000 + runs * (options.warmup + options.seconds + STALL_MS / 1000 + 5) * 1000;
  setTimeout(() => {
    process.stderr.write(`bench/rpc: still running after ${Math.round(budgetMs / 1000)} s; giving up\n`);
    process.exit(1);
  }, budgetMs).unref();
  const interrupt = (): void => {
    if (aborted) process.exit(130);
    aborted = true;
    process.stderr.write('bench/rpc: interrupted; finishing the current run and cleaning up (again to quit now)\n');
  };
  process.on('SIGINT', interrupt);
  process.on('SIGTERM', interrupt);

  const adminUrl = process.env.DATABASE_URL?.trim() || undefined;
  if (adminUrl) assertLoopback(adminUrl);
  const secret = randomBytes(32).toString('base64url');
  let benchDb: BenchDatabase | undefined;
  let dataDir: string | undefined;
  let app: App | undefined;
  let raw: RawServer | undefined;
  const results: Result[] = [];
  let database = '';
  try {
    // startApp makes DATA_DIR in either case; the embedded Postgres keeps its data there.
    dataDir = mkdtempSync(path.join(tmpdir(), 'bench-rpc-'));
    chmodSync(dataDir, 0o755); // the embedded Postgres runs as an unprivileged user when we are root
    if (adminUrl) benchDb = await createBenchDatabase(adminUrl);
    const config = loadConfig({
      DATABASE_URL: benchDb?.url,
      DATA_DIR: dataDir,
      THRIFT_HOST: HOST,
      THRIFT_PORT: '0',
      THRIFT_TRANSPORT: transport,
      AUTH_HS256_SECRET: secret,
      LOG_LEVEL: 'warn',
      DB_POOL_SIZE: process.env.DB_POOL_SIZE,
      SHUTDOWN_GRACE_MS: '5000',
    });
    app = await startApp(config, log);
    raw = await startRawNoopServer(transport);
    const version = await app.db.raw<{ rows: { server_version: string }[] }>('SHOW server_version');
    const pgVersion = version.rows[0]?.server_version ?? 'unknown';
    database = benchDb
      ? `Postgres ${pgVersion} from DATABASE_URL (${maskUrl(adminUrl ?? '')}), fresh database ${benchDb.name}`
      : `embedded Postgres ${pgVersion} under ${dataDir}`;

    const token = new base.AuthzToken({
      accessToken: await mintHs256Token({ secret, gatewayId: GATEWAY, userName: 'bench', ttlSeconds: 3600 }),
      claimsMap: new Map([['gatewayID', GATEWAY]]),
    });
    let submitted = 0;
    const runTag = Date.now().toString(36);
    // A distinct client token per call: every submit is a new durable job, never an idempotent replay.
    const newSpec = (worker: number): ms.JobSpec => new ms.JobSpec({
      jobName: `bench-${worker}`,
      parallelism: base.ApplicationParallelismType.SERIAL,
      command: ['/bin/echo', 'bench'],
      clientToken: `bench-${runTag}-${(submitted += 1)}`,
    });

    // Jobs for getJob to read, submitted through the service itself.
    const seedClient = await connectClients({ host: HOST, port: app.rpc.port, transport });
    const jobIds: string[] = [];
    try {
      for (let i = 0; i < SEEDED_JOBS; i += 50) {
        const handles = await Promise.all(Array.from({ length: 50 }, () => seedClient.job.submitJob(token, newSpec(-1))));
        jobIds.push(...handles.map((h) => h.jobId));
      }
    } finally {
      seedClient.close();
    }

    const servicePort = app.rpc.port;
    const rawPort = raw.port;
    const scenarios: Scenario[] = [
      { name: 'raw no-op', port: rawPort, makeCall: (c) => () => c.job.getAPIVersion() },
      { name: 'getAPIVersion', port: servicePort, makeCall: (c) => () => c.job.getAPIVersion() },
      { name: 'submitJob', port: servicePort, makeCall: (c, w) => () => c.job.submitJob(token, newSpec(w)) },
      {
        name: 'getJob',
        port: servicePort,
        makeCall: (c, w) => {
          let next = (w * 97) % jobIds.length;
          return () => {
            next = (next + 1) % jobIds.length;
            return c.job.getJob(token, jobIds[next]);
          };
        },
      },
    ];

    process.stderr.write(`bench/rpc: ${transport} transport, ${database}; ${options.warmup} s warm-up + ${options.seconds} s per run\n`);
    const recorder = new LatencyRecorder(Math.ceil(options.seconds * SAMPLES_PER_SECOND) + 1024);
    const selected = scenarios.filter((s) => options.only.length === 0 || options.only.some((name) => s.name.startsWith(name)));
    for (const scenario of selected) {
      for (const count of options.concurrency) {
        if (aborted) break;
        const result = await runScenario(scenario, count, options, transport, recorder, machine.cores);
        results.push(result);
        process.stderr.write(`  ${scenario.name} x${count}: ${fmt(result.perSecond, 0)} calls/s, p99 ${fmt(result.p99, 2)} ms` +
          `${result.errors ? `, ${result.errors} errors (${result.firstError})` : ''}\n`);
      }
    }
  } finally {
    // Every step runs even when an earlier one fails: nothing of the run may be left behind.
    const attempt = async (what: string, step: () => Promise<void> | void): Promise<void> => {
      try {
        await step();
      } catch (error) {
        process.stderr.write(`bench/rpc: cleanup: ${what} failed: ${error instanceof Error ? error.message : String(error)}\n`);
      }
    };
    await attempt('closing the no-op server', () => raw?.close());
    await attempt('stopping the service', () => app?.stop());
    await attempt(`dropping ${benchDb?.name ?? 'the bench database'}`, () => benchDb?.drop());
    await attempt(`removing ${dataDir ?? 'the data dir'}`, () => {
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    });
  }

  const pool = process.env.DB_POOL_SIZE ?? '16 (default)';
  process.stdout.write([
    '',
    `machine:   ${machine.cores} cores, ${machine.cpuModel}, ${machine.os}`,
    `node:      ${machine.node}`,
    `load:      1-min load average ${loadBefore.toFixed(2)} before the runs (other work on the machine skews every figure)`,
    `CPU:       percent of one core during each measured window; "bench proc" is this process (clients and both`,
    `           servers on one event loop, 100% = saturated), "machine" all cores (max ${machine.cores * 100}%: includes Postgres)`,
    `transport: ${transport} (binary protocol, multiplexed), 127.0.0.1, clients and servers in this one process`,
    `database:  ${database}; pool ${pool}`,
    `runs:      ${options.warmup} s warm-up + ${options.seconds} s measured, each client its own connection, calls back to back`,
    '',
    table(results),
    '',
    targets(results),
    ...results.filter((r) => r.overflow > 0).map((r) => `note: ${r.scenario} x${r.concurrency}: ${r.overflow} calls beyond the latency buffer (counted, not in percentiles)`),
    ...results.filter((r) => r.firstError).map((r) => `note: ${r.scenario} x${r.concurrency}: first error: ${r.firstError}`),
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
