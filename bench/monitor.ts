// bench/monitor: many live jobs across Slurm clusters, watched by the service's monitor. The
// clusters are built by the service itself (createCluster, STATIC) on throw-away namespace hosts
// (scripts/test-ssh-host) on their own bridge, never on this machine's Slurm; their nodes are
// drained so every job stays PENDING. Then it measures, from outside the service process:
//   - scheduler queries per cluster per tick: slurmctld's own RPC counts (sdiag) over a window,
//     against the ticks the service logged (its debug line 'monitor tick') in that window;
//   - tick duration (the same lines);
//   - lag: jobs are cancelled in Slurm directly (scancel on the controller) in waves at random
//     moments, and for each the time from the scancel to the first getJobs reply showing CANCELED;
//   - the service's RSS (/proc/PID/status), sampled all along. Monitoring is measured in a fresh
//     service process started once every job is queued (as a replica taking over would be; the
//     process that took the submits and dispatched is reported too); --fresh 0 keeps the first.
// Everything is torn down at the end, failed run or not: jobs cancelled, clusters deleted, hosts
// down, the database dropped. Prints figures; asserts nothing.
//
//   npm run build && node dist/bench/monitor.js [--jobs 10000] [--clusters 2] [--changes 200]
//       [--interval 1000] [--window 15] [--fresh 1] [--trace-gc] [--keep-bashrc]
// Needs root (namespace hosts), Postgres at DATABASE_URL (default postgres://root@127.0.0.1:5432/postgres).
// Env MS_TEST_BRIDGE / MS_TEST_NET choose the hosts' bridge and /24 (default msbr4, 10.217.0).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { Client } from 'pg';
import { mintHs256Token } from '../src/auth/mintToken';
import { connectClients, type ServiceClients } from '../src/client/connect';
import { gatewayAccount } from '../src/domain/gatewayAccount';
import { freePort } from '../src/net/freePort';
import { base, ms } from '../src/rpc/wire';
import { assertLoopback, createBenchDatabase, type BenchDatabase } from './support/database';
import { describeMachine } from './support/machine';

const ROOT = path.resolve(__dirname, __dirname.split(path.sep).includes('dist') ? '../..' : '..');
const MAIN = path.join(ROOT, 'dist/src/main.js');
const HELPER = path.join(ROOT, 'scripts/test-ssh-host');
const BRIDGE = process.env.MS_TEST_BRIDGE ?? 'msbr4';
const NET = process.env.MS_TEST_NET ?? '10.217.0';
const SECRET = 'bench-monitor-secret-0123456789abcdef-0123';
const GATEWAY = 'gw-bench-monitor';
const RSS_TARGET_MB = 200;
/** The Slurm directories test-ssh-host gives each host its own copy of (fixed paths, no user text). */
const PRIVATE_SLURM_DIRS = ['/etc/slurm', '/var/spool/slurmctld', '/var/spool/slurmd', '/var/log/slurm'];
const LAG_TARGET_MS = 2000;

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const value = i > 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isFinite(value) || value < 0) throw new Error(`--${name} must be a number`);
  return value;
}

const sleep = (t: number) => new Promise((resolve) => setTimeout(resolve, t));
const round = (n: number, digits = 0) => (Number.isFinite(n) ? Number(n.toFixed(digits)) : Number.NaN);

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

function log(line: string): void {
  console.log(line);
}

/** Runs the namespace-host helper (never a shell); rejects with its stderr on failure. */
function helper(args: readonly string[], timeoutMs = 120_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(HELPER, [...args], { env: { ...process.env, MS_TEST_BRIDGE: BRIDGE, MS_TEST_NET: NET }, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => (error ? reject(new Error(`test-ssh-host ${args.slice(0, 3).join(' ')}: ${stderr || error.message}`)) : resolve(stdout)));
  });
}

const onHost = (host: string, argv: readonly string[], timeoutMs?: number) => helper(['exec', host, ...argv], timeoutMs);

/** slurmctld's RPC counts by message type (sdiag), e.g. REQUEST_JOB_INFO -> 12. */
async function rpcCounts(host: string): Promise<Map<string, number>> {
  const text = await onHost(host, ['sdiag']);
  const start = text.indexOf('by message type');
  const end = text.indexOf('by user', start);
  const counts = new Map<string, number>();
  for (const m of text.slice(start, end < 0 ? undefined : end).matchAll(/^\s*([A-Z][A-Z0-9_]+)\s+\(\s*\d+\)\s+count:(\d+)/gm)) {
    counts.set(m[1], Number(m[2]));
  }
  return counts;
}

function rssMb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}


interface Tick { at: number; clusterId: string; live: number; changed: number; ms: number; readMs: number; pollMs: number; recordMs: number; tailsMs: number }

/** The service in its own process; keeps only what the bench reads of its log (ticks, warnings). */
class Service {
  readonly ticks: Tick[] = [];
  readonly problems: string[] = [];
  /** V8's heap after each full GC, MB (with --trace-gc): what the process really keeps. */
  readonly heapAfterFullGc: number[] = [];
  /** The last GC line (--trace-gc): heap used (committed) before -> after. */
  lastGc = '';
  private readonly child: ChildProcess;
  readonly exited: Promise<number | string>;
  port = 0;

  constructor(env: Record<string, string>, nodeFlags: readonly string[] = []) {
    this.child = spawn(process.execPath, [...nodeFlags, MAIN], { cwd: ROOT, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.child.on('close', (code, signal) => resolve(code ?? signal ?? 'unknown')));
    for (const stream of [this.child.stdout, this.child.stderr]) {
      if (stream) createInterface({ input: stream }).on('line', (line) => this.read(line));
    }
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  private listening?: (port: number) => void;

  private read(line: string): void {
    if (!line.startsWith('{')) {
      const gc = /Mark-Compact[^\d]*[\d.]+ \([\d.]+\) -> ([\d.]+) \(([\d.]+)\) MB/.exec(line);
      if (gc) this.heapAfterFullGc.push(Number(gc[1]));
      if (/\bms: (Scavenge|Mark-Compact|Minor)/.test(line)) this.lastGc = line.replace(/^\[[^\]]*\]\s*/, '').slice(0, 200);
      else if (line.trim() !== '' && !/\bms: (Scavenge|Mark-Compact|Mark-sweep|Minor)/.test(line)) this.problems.push(line.slice(0, 500));
      return;
    }
    let entry: { level?: number; msg?: string; clusterId?: string; time?: number } & Partial<Omit<Tick, 'at' | 'clusterId'>>;
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      return;
    }
    if (entry.msg === 'monitor tick' && entry.clusterId) {
      this.ticks.push({
        at: Date.now(), clusterId: entry.clusterId, live: entry.live ?? 0, changed: entry.changed ?? 0, ms: entry.ms ?? 0,
        readMs: entry.readMs ?? 0, pollMs: entry.pollMs ?? 0, recordMs: entry.recordMs ?? 0, tailsMs: entry.tailsMs ?? 0,
      });
    } else if ((entry.level ?? 0) >= 40) {
      this.problems.push(line.slice(0, 1000));
    }
    const listening = entry.msg ? /^listening on [^:]+:(\d+)$/.exec(entry.msg) : null;
    if (listening) this.listening?.(Number(listening[1]));
  }

  async started(timeoutMs = 60_000): Promise<number> {
    this.port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`service did not listen within ${timeoutMs} ms: ${this.problems.join('\n')}`)), timeoutMs);
      this.listening = (port) => { clearTimeout(timer); resolve(port); };
      void this.exited.then((code) => { clearTimeout(timer); reject(new Error(`service exited (${code}): ${this.problems.join('\n')}`)); });
    });
    return this.port;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const killer = setTimeout(() => this.child.kill('SIGKILL'), 40_000);
    await this.exited;
    clearTimeout(killer);
  }
}

interface Host { name: string; address: string; clusterId?: string; node?: string }

async function main(): Promise<void> {
  const jobs = Math.floor(arg('jobs', 10_000));
  const clusterCount = Math.max(1, Math.floor(arg('clusters', 2)));
  const changes = Math.min(jobs, Math.floor(arg('changes', 200)));
  const intervalMs = Math.floor(arg('interval', 1000));
  const windowS = arg('window', 15);
  // Measure monitoring in a fresh process (as a replica taking over would be), apart from the one
  // that took the submits and dispatched; both are printed.
  const fresh = arg('fresh', 1) === 1;
  const traceGc = process.argv.includes('--trace-gc');
  const keepBashrc = process.argv.includes('--keep-bashrc');
  // glibc's malloc arenas for the service (MALLOC_ARENA_MAX); 0: glibc's default.
  const mallocArenas = Math.floor(arg('malloc-arena-max', 0));
  if (process.getuid?.() !== 0) throw new Error('bench/monitor needs root (it makes namespace hosts)');
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: npm run build first`);
  const machine = describeMachine();
  log(`bench/monitor: ${jobs} live jobs on ${clusterCount} Slurm cluster(s), ${changes} changes, MONITOR_INTERVAL_MS=${intervalMs}`);
  if (mallocArenas > 0) log(`service run with MALLOC_ARENA_MAX=${mallocArenas}`);
  log(`machine: ${machine.cores} cores (${machine.cpuModel}), ${machine.os}, node ${machine.node}; hosts on ${BRIDGE} ${NET}.0/24`);

  const adminUrl = process.env.DATABASE_URL?.trim() || 'postgres://root@127.0.0.1:5432/postgres';
  assertLoopback(adminUrl);
  const hosts: Host[] = Array.from({ length: clusterCount }, (_, i) => ({ name: `ms-bm-h${i + 1}`, address: `${NET}.${41 + i}` }));
  const dataDir = mkdtempSync(path.join(tmpdir(), 'ms-bench-monitor-'));
  let database: BenchDatabase | undefined;
  let service: Service | undefined;
  let clients: ServiceClients | undefined;
  const hostsUp: Host[] = [];
  let pg: Client | undefined;
  let rssTimer: NodeJS.Timeout | undefined;
  const rss: { phase: string; mb: number }[] = [];
  let phase = 'start';

  const teardown = async (): Promise<void> => {
    if (rssTimer) clearInterval(rssTimer);
    const account = gatewayAccount(GATEWAY).name;
    // Jobs first, straight in Slurm (one call per cluster): a cluster deleted with thousands of
    // live jobs would cancel them one by one.
    await Promise.all(hostsUp.map((h) => onHost(h.name, ['scancel', '--user', account]).catch(() => undefined)));
    if (clients) {
      const api = clients;
      const token = await tokenFor();
      await Promise.all(hostsUp.filter((h) => h.clusterId).map(async (h) => {
        const clusterId = h.clusterId as string;
        try {
          await api.cluster.deleteCluster(token, clusterId);
          const deadline = Date.now() + 600_000;
          while (Date.now() < deadline) {
            const c = await api.cluster.getCluster(token, clusterId);
            if (c.state === ms.ClusterState.TERMINATED || c.state === ms.ClusterState.FAILED) {
              log(`teardown: cluster ${h.name} ${ms.ClusterState[c.state]}`);
              return;
            }
            await sleep(1000);
          }
          log(`teardown: cluster ${h.name} not TERMINATED after 10 min`);
        } catch (error) {
          log(`teardown: deleting cluster ${h.name} failed: ${error instanceof Error ? error.message : String(error)}`);
        }
      }));
      api.close();
    }
    await pg?.end().catch(() => undefined);
    await service?.stop();
    for (const h of hostsUp) await helper(['down', h.name]).catch((error: unknown) => log(`teardown: host ${h.name} down failed: ${String(error)}`));
    await database?.drop().catch((error: unknown) => log(`teardown: dropping the database failed: ${String(error)}`));
    rmSync(dataDir, { recursive: true, force: true });
  };

  let tornDown: Promise<void> | undefined;
  const tearDownOnce = () => (tornDown ??= teardown());
  const onSignal = (signal: NodeJS.Signals) => {
    log(`${signal}: tearing down`);
    void tearDownOnce().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const tokenFor = async () => new base.AuthzToken({
    accessToken: await mintHs256Token({ secret: SECRET, gatewayId: GATEWAY, userName: 'bench', ttlSeconds: 6 * 3600 }),
    claimsMap: new Map([['gatewayID', GATEWAY], ['userName', 'bench']]),
  });

  try {
    database = await createBenchDatabase(adminUrl);
    const serviceEnv: Record<string, string> = {
      DATABASE_URL: database.url, DATA_DIR: dataDir, THRIFT_PORT: String(await freePort()), AUTH_HS256_SECRET: SECRET,
      MONITOR_INTERVAL_MS: String(intervalMs), LOG_LEVEL: 'debug',
      ...(mallocArenas > 0 ? { MALLOC_ARENA_MAX: String(mallocArenas) } : {}),
    };
    const nodeFlags = traceGc ? ['--trace-gc'] : [];
    service = new Service(serviceEnv, nodeFlags);
    const port = await service.started();
    let running = service;
    rssTimer = setInterval(() => {
      try {
        rss.push({ phase, mb: rssMb(running.pid) });
      } catch {
        // the process is gone: the run fails elsewhere
      }
    }, 500);
    clients = await connectClients({ host: '127.0.0.1', port });
    const api = clients;
    const token = await tokenFor();
    pg = new Client({ connectionString: database.url });
    await pg.connect();
    const db = pg;

    // Hosts, with the gateway's key authorized for root, then one cluster on each.
    const authorized = path.join(dataDir, 'authorized_keys');
    writeFileSync(authorized, `${(await api.cluster.getGatewaySSHPublicKey(token)).trim()}\n`, { mode: 0o600 });
    for (const h of hosts) {
      hostsUp.push(h);
      await helper(['up', h.name, h.address, authorized]);
      // A host starts with copies of this machine's Slurm directories, and with them whatever this
      // machine's own Slurm holds now (its owner mark and configuration, its controller's saved jobs): a fresh host
      // has none. Only the host's private copies are emptied (each must be its own mount).
      await onHost(h.name, ['sh', '-c', `${PRIVATE_SLURM_DIRS.map((d) => `mountpoint -q ${d}`).join(' && ')} || exit 3; `
        + `rm -f /etc/slurm/.metascheduler-owner /etc/slurm/slurm.conf /etc/slurm/cgroup.conf; find ${PRIVATE_SLURM_DIRS.slice(1).join(' ')} -mindepth 1 -delete`]);
      // bash reads ~/.bashrc for every command sshd runs; this machine's root's runs `pyenv init`
      // (~100 processes, 150-250 ms per SSH command), which a Slurm controller would not. Hidden
      // inside the host only (its own mount namespace); --keep-bashrc measures with it.
      if (!keepBashrc && existsSync('/root/.bashrc')) await onHost(h.name, ['mount', '--bind', '/dev/null', '/root/.bashrc']);
    }
    if (!keepBashrc && existsSync('/root/.bashrc')) log('root\'s ~/.bashrc hidden inside the test hosts (this machine\'s runs pyenv init on every SSH command; --keep-bashrc keeps it)');
    phase = 'build';
    const perCluster = Math.ceil(jobs / clusterCount);
    const buildStart = performance.now();
    await Promise.all(hosts.map(async (h) => {
      h.clusterId = await api.cluster.createCluster(token, new ms.ClusterSpec({
        name: `bm${h.name.slice(-1)}`, kind: ms.ClusterKind.SLURM, provider: ms.ProviderType.STATIC,
        hosts: [new ms.HostSpec({ address: h.address, roles: ['controller', 'worker'] })],
        clusterOptions: new Map([
          ['slurm_min_job_age', '10'],
          // Room for every live job plus those ended within MinJobAge.
          ['slurm_max_job_count', String(Math.max(10_000, 2 * perCluster + 1000))],
        ]),
      }));
      for (;;) {
        const c = await api.cluster.getCluster(token, h.clusterId);
        if (c.state === ms.ClusterState.READY) break;
        if (c.state === ms.ClusterState.FAILED) throw new Error(`cluster on ${h.name} FAILED: ${c.stateReason}\n${running.problems.slice(-20).join('\n')}`);
        await sleep(1000);
      }
    }));
    log(`clusters READY in ${round((performance.now() - buildStart) / 1000, 1)} s (createCluster -> READY, in parallel)`);

    // Drain every node: jobs are accepted and stay PENDING.
    for (const h of hosts) {
      h.node = (await onHost(h.name, ['sinfo', '-h', '-N', '-o', '%N'])).trim().split('\n')[0];
      await onHost(h.name, ['scontrol', 'update', `NodeName=${h.node}`, 'State=DRAIN', 'Reason=bench-monitor']);
    }

    // The jobs, through submitJob, round robin over the clusters.
    phase = 'submit';
    const submitStart = performance.now();
    const jobIds: string[] = [];
    const clusterOf = new Map<string, Host>();
    let nextJob = 0;
    const submitters = await Promise.all(Array.from({ length: 8 }, () => connectClients({ host: '127.0.0.1', port })));
    try {
      await Promise.all(Array.from({ length: 32 }, async (_, worker) => {
        const client = submitters[worker % submitters.length];
        while (nextJob < jobs) {
          const i = nextJob;
          nextJob += 1;
          const h = hosts[i % hosts.length];
          const handle = await client.job.submitJob(token, new ms.JobSpec({
            jobName: `bm-${i}`, parallelism: base.ApplicationParallelismType.SERIAL, command: ['/bin/sleep', '600'], clusterId: h.clusterId,
          }));
          jobIds.push(handle.jobId);
          clusterOf.set(handle.jobId, h);
        }
      }));
    } finally {
      for (const s of submitters) s.close();
    }
    const acceptedS = (performance.now() - submitStart) / 1000;
    log(`submitted ${jobs} jobs in ${round(acceptedS, 1)} s (${round(jobs / acceptedS)}/s)`);
    phase = 'dispatch';
    const countQueued = async () => Number((await db.query<{ n: string }>(
      "SELECT count(*) AS n FROM jobs WHERE state = 'QUEUED' AND native_job_id IS NOT NULL")).rows[0].n);
    let lastReport = performance.now();
    for (;;) {
      const queued = await countQueued();
      if (queued === jobs) break;
      const failed = Number((await db.query<{ n: string }>("SELECT count(*) AS n FROM jobs WHERE state IN ('FAILED', 'CANCELED')")).rows[0].n);
      if (failed > 0) throw new Error(`${failed} jobs ended before they were all dispatched: ${running.problems.slice(-5).join('\n')}`);
      if (performance.now() - lastReport > 30_000) {
        log(`  dispatched ${queued}/${jobs} after ${round((performance.now() - submitStart) / 1000)} s`);
        lastReport = performance.now();
      }
      await sleep(1000);
    }
    const dispatchedS = (performance.now() - submitStart) / 1000;
    log(`all ${jobs} jobs QUEUED in Slurm ${round(dispatchedS, 1)} s after the first submit`);
    const pendingInSlurm = await Promise.all(hosts.map(async (h) => (await onHost(h.name, ['squeue', '-h', '-t', 'PD', '-o', '%i'])).trim().split('\n').filter(Boolean).length));
    log(`PENDING in Slurm: ${pendingInSlurm.join(' + ')} = ${pendingInSlurm.reduce((a, b) => a + b, 0)}`);

    const rssOf = (phases: string[]) => Math.max(...rss.filter((r) => phases.includes(r.phase)).map((r) => r.mb));
    if (fresh) {
      phase = 'restart';
      await sleep(Math.max(3000, 3 * intervalMs));
      const first = rssMb(running.pid);
      await running.stop();
      const restartAt = Date.now();
      service = new Service(serviceEnv, nodeFlags);
      await service.started();
      running = service;
      for (;;) {
        const seen = new Set(running.ticks.map((t) => t.clusterId));
        if (hosts.every((h) => seen.has(h.clusterId ?? ''))) break;
        if (Date.now() - restartAt > 120_000) throw new Error('the fresh service did not take over monitoring within 2 min');
        await sleep(200);
      }
      log(`restarted the service: monitoring in a fresh process from here (the first one, after submit and dispatch, had RSS ${round(first)} MB, max ${round(rssOf(['submit', 'dispatch']))} MB); `
        + `its first ticks ${round((Date.now() - restartAt) / 1000, 1)} s after the restart`);
    }

    // Steady state: ticks and scheduler queries over a window with no changes.
    phase = 'steady';
    await sleep(Math.max(3000, 3 * intervalMs)); // let the dispatch backlog's last ticks pass
    const before = await Promise.all(hosts.map((h) => rpcCounts(h.name)));
    const windowStart = Date.now();
    await sleep(windowS * 1000);
    const after = await Promise.all(hosts.map((h) => rpcCounts(h.name)));
    const windowEnd = Date.now();
    const steadyTicks = running.ticks.filter((t) => t.at >= windowStart && t.at <= windowEnd);
    const perTick: number[] = [];
    const otherPerTick: number[] = [];
    hosts.forEach((h, i) => {
      const ticks = steadyTicks.filter((t) => t.clusterId === h.clusterId).length;
      const delta = (name: string) => (after[i].get(name) ?? 0) - (before[i].get(name) ?? 0);
      const jobInfo = delta('REQUEST_JOB_INFO');
      // sdiag's own request shows up as REQUEST_STATS_INFO: not the service's. squeue itself asks
      // for the partitions along with the jobs: one REQUEST_PARTITION_INFO per squeue is that query.
      const partitions = delta('REQUEST_PARTITION_INFO');
      const others = [...after[i].keys()].filter((name) => !['REQUEST_JOB_INFO', 'REQUEST_STATS_INFO', 'REQUEST_PARTITION_INFO'].includes(name))
        .map((name) => [name, delta(name)] as const).filter(([, d]) => d > 0);
      perTick.push(ticks > 0 ? jobInfo / ticks : Number.NaN);
      otherPerTick.push(ticks > 0 ? (others.reduce((sum, [, d]) => sum + d, 0) + Math.max(0, partitions - jobInfo)) / ticks : Number.NaN);
      log(`cluster ${h.name}: ${ticks} ticks in ${windowS} s, slurmctld REQUEST_JOB_INFO ${jobInfo} (${round(jobInfo / ticks, 2)} per tick)`
        + ` and REQUEST_PARTITION_INFO ${partitions} (squeue's own)`
        + `${others.length > 0 ? `, other RPCs ${others.map(([n, d]) => `${n} ${d}`).join(', ')}` : ', no other RPCs'}`);
    });
    const steadyMs = steadyTicks.map((t) => t.ms);
    const livePerTick = steadyTicks.map((t) => t.live);
    log(`tick duration (steady, ${steadyTicks.length} ticks, ${round(percentile(livePerTick, 50))} live jobs per cluster): `
      + `p50 ${percentile(steadyMs, 50)} ms, p95 ${percentile(steadyMs, 95)} ms, max ${Math.max(...steadyMs)} ms; `
      + `p50 of its parts: read live jobs ${percentile(steadyTicks.map((t) => t.readMs), 50)} ms, `
      + `scheduler poll (squeue + completion log) ${percentile(steadyTicks.map((t) => t.pollMs), 50)} ms, record ${percentile(steadyTicks.map((t) => t.recordMs), 50)} ms`);

    // Where a poll's time goes: the same two reads run on the controller directly (no SSH), each
    // against the helper's own cost of entering the host.
    const timed = async (argv: string[]) => {
      const t = performance.now();
      await onHost(hosts[0].name, argv);
      return performance.now() - t;
    };
    const enter = Math.min(await timed(['true']), await timed(['true']));
    const squeueDirect = Math.min(await timed(['squeue', '--noheader', '--all', '--format=%i|%T|%r|%S|%j']), await timed(['squeue', '--noheader', '--all', '--format=%i|%T|%r|%S|%j']));
    const logDirect = Math.min(await timed(['tail', '-c', '+1', '--', '/var/log/slurm/jobcomp.log']), await timed(['tail', '-c', '+1', '--', '/var/log/slurm/jobcomp.log']));
    log(`on the controller itself: squeue ${round(squeueDirect - enter)} ms, whole completion log ${round(logDirect - enter)} ms (beyond ${round(enter)} ms to enter the host)`);

    // Changes: cancelled in Slurm in waves at random moments; each job's lag is from the start of
    // its scancel to the first getJobs reply that shows it CANCELED.
    phase = 'changes';
    const changeStart = Date.now();
    const chosen = Array.from({ length: changes }, (_, k) => jobIds[Math.floor((k * jobIds.length) / Math.max(1, changes))]);
    const natives = new Map((await db.query<{ id: string; native_job_id: string }>(
      'SELECT id, native_job_id FROM jobs WHERE id = ANY($1)', [chosen])).rows.map((r) => [r.id, r.native_job_id]));
    const waves = Math.min(changes, 10);
    const lags: number[] = [];
    const scancelMs: number[] = [];
    const watch = new Map<string, number>(); // job -> its scancel's start
    let watching = true;
    const poller = (async () => {
      while (watching || watch.size > 0) {
        const ids = [...watch.keys()];
        for (let i = 0; i < ids.length; i += 100) {
          const models = await api.job.getJobs(token, ids.slice(i, i + 100));
          const seen = Date.now();
          for (const model of models) {
            const last = model.jobStatuses?.at(-1)?.jobState;
            const started = watch.get(model.jobId ?? '');
            if (started !== undefined && last === base.JobState.CANCELED) {
              lags.push(seen - started);
              watch.delete(model.jobId ?? '');
            }
          }
        }
        if (Date.now() - changeStart > 300_000) throw new Error(`${watch.size} cancelled jobs not CANCELED in getJob after 5 min`);
        await sleep(50);
      }
    })();
    // Held until awaited below, so a failure of the poller is not an unhandled rejection meanwhile.
    const polled = poller.then(() => undefined, (error: unknown) => error);
    for (let w = 0; w < waves; w += 1) {
      const wave = chosen.filter((_, k) => k % waves === w);
      await Promise.all(hosts.map(async (h) => {
        const ids = wave.filter((id) => clusterOf.get(id) === h).map((id) => natives.get(id) as string);
        if (ids.length === 0) return;
        const started = Date.now();
        for (const id of wave.filter((j) => clusterOf.get(j) === h)) watch.set(id, started);
        await onHost(h.name, ['scancel', ...ids]);
        scancelMs.push(Date.now() - started);
      }));
      await sleep(500 + Math.random() * 1000);
    }
    watching = false;
    const pollError = await polled;
    if (pollError !== undefined) throw pollError;
    const changeTicks = running.ticks.filter((t) => t.at >= changeStart && t.changed > 0);
    log(`scancel calls: p50 ${percentile(scancelMs, 50)} ms, max ${Math.max(...scancelMs)} ms (lag counts from their start)`);
    log(`ticks that recorded changes: ${changeTicks.length}, changes per tick max ${Math.max(0, ...changeTicks.map((t) => t.changed))}, `
      + `their duration p50 ${percentile(changeTicks.map((t) => t.ms), 50)} ms, max ${Math.max(0, ...changeTicks.map((t) => t.ms))} ms `
      + `(record: output tails + one write, p50 ${percentile(changeTicks.map((t) => t.recordMs), 50)} ms, of it tails ${percentile(changeTicks.map((t) => t.tailsMs), 50)} ms)`);
    const lagP95 = percentile(lags, 95);
    log(`lag scheduler -> getJob (${lags.length} jobs in ${waves} waves): p50 ${percentile(lags, 50)} ms, p95 ${lagP95} ms, max ${Math.max(...lags)} ms`);

    // Every remaining job ends at once: one tick records thousands of changes.
    phase = 'mass-end';
    const massStart = Date.now();
    const account = gatewayAccount(GATEWAY).name;
    await Promise.all(hosts.map((h) => onHost(h.name, ['scancel', '--user', account])));
    for (;;) {
      const live = Number((await db.query<{ n: string }>("SELECT count(*) AS n FROM jobs WHERE state IN ('QUEUED', 'ACTIVE', 'SUSPENDED', 'UNKNOWN')")).rows[0].n);
      if (live === 0) break;
      if (Date.now() - massStart > 600_000) throw new Error(`${live} jobs still live 10 min after cancelling them all`);
      await sleep(200);
    }
    const massTicks = running.ticks.filter((t) => t.at >= massStart && t.changed > 0);
    log(`mass end: ${jobs - changes} jobs cancelled at once recorded in ${round((Date.now() - massStart) / 1000, 1)} s; `
      + `largest tick ${Math.max(0, ...massTicks.map((t) => t.changed))} changes in ${Math.max(0, ...massTicks.map((t) => t.ms))} ms `
      + `(record ${Math.max(0, ...massTicks.map((t) => t.recordMs))} ms, of it output tails ${Math.max(0, ...massTicks.map((t) => t.tailsMs))} ms)`);

    const steadyRss = rss.filter((r) => r.phase === 'steady').map((r) => r.mb);
    const changeRss = rss.filter((r) => r.phase === 'changes' || r.phase === 'mass-end').map((r) => r.mb);
    const maxRss = Math.max(...rss.map((r) => r.mb));
    const measuredRss = Math.max(...steadyRss, ...changeRss);
    log(`service RSS${fresh ? ' (fresh process)' : ''}: steady ${round(Math.max(...steadyRss))} MB, during changes ${round(Math.max(...changeRss))} MB, max over the run ${round(maxRss)} MB`
      + ` (max by phase: ${[...new Set(rss.map((r) => r.phase))].map((p) => `${p} ${round(Math.max(...rss.filter((r) => r.phase === p).map((r) => r.mb)))}`).join(', ')})`);
    const problems = running.problems.filter((p) => !/"msg":"(background job failed; it will be retried)"/.test(p));
    if (problems.length > 0) log(`service warnings/errors: ${problems.length}; first: ${problems[0]}`);
    if (traceGc) {
      const heaps = running.heapAfterFullGc;
      log(`V8 heap after full GC (monitoring process): last ${heaps.at(-1) ?? 'none'} MB, max ${heaps.length > 0 ? Math.max(...heaps) : 'none'} MB over ${heaps.length} full GCs; last GC: ${running.lastGc}`);
    }

    const met = (ok: boolean) => (ok ? 'met' : 'NOT met');
    const queriesOk = perTick.every((q) => q <= 1.0001) && otherPerTick.every((q) => q === 0);
    log('targets:');
    log(`  live jobs >= 10000: ${met(jobs >= 10_000)} (${jobs})`);
    log(`  one batched scheduler query per cluster per tick: ${met(queriesOk)} (${perTick.map((q) => round(q, 2)).join(', ')} squeue per tick; plus one completion-log read)`);
    log(`  lag p95 <= ${LAG_TARGET_MS} ms: ${met(lagP95 <= LAG_TARGET_MS)} (${lagP95} ms)`);
    log(`  RSS <= ${RSS_TARGET_MB} MB: ${met(measuredRss <= RSS_TARGET_MB)} (${round(measuredRss)} MB while monitoring; ${round(maxRss)} MB over the whole run${fresh ? ', both processes' : ''})`);
  } finally {
    phase = 'teardown';
    await tearDownOnce();
    log('torn down: jobs cancelled, clusters deleted, hosts down, database dropped');
  }
}

main().then(() => process.exit(0), (error: unknown) => {
  console.error(error instanceof Error ? error.stack ?? error.message : String(error));
  process.exit(1);
});
