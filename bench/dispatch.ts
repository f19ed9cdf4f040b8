// bench/dispatch: jobs through submitJob -> Slurm against a raw sequential `sbatch` loop of the same
// number of jobs (as root, and as the gateway's account with one runuser per job), in one run on one
// local Slurm cluster built by the service itself; then the time from a job's end in Slurm to its
// final state in getJob. Prints what it measured; asserts nothing.
//
//   npm run build && node dist/bench/dispatch.js [--jobs 500] [--latency-jobs 30]
// Needs root and this machine free of other Slurm clusters (it builds and deletes its own).
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import * as path from 'node:path';
import { startApp } from '../src/app';
import { mintHs256Token } from '../src/auth/mintToken';
import { connectClients } from '../src/client/connect';
import { loadConfig } from '../src/config';
import { createLogger } from '../src/log';
import { gatewayAccount } from '../src/domain/gatewayAccount';
import { base, ms } from '../src/rpc/wire';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

const sleep = (t: number) => new Promise((resolve) => setTimeout(resolve, t));

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** scancel by native id, a few hundred per call (a long --name list was not canceled whole). */
function cancelAll(nativeIds: readonly string[]): void {
  for (let i = 0; i < nativeIds.length; i += 200) execFileSync('scancel', nativeIds.slice(i, i + 200).map((id) => id.split(';')[0]));
}

async function main(): Promise<void> {
  const jobs = arg('jobs', 500);
  const latencyJobs = arg('latency-jobs', 30);
  const dataDir = mkdtempSync(path.join(tmpdir(), 'ms-bench-dispatch-'));
  const secret = 'bench-secret-0123456789abcdef-0123456789';
  const config = loadConfig({
    ...(process.env.DATABASE_URL ? { DATABASE_URL: process.env.DATABASE_URL } : {}),
    DATA_DIR: dataDir, THRIFT_PORT: '0', AUTH_HS256_SECRET: secret, LOG_LEVEL: 'warn', LOCAL_CLUSTER_GATEWAYS: 'bench',
  });
  // BENCH_LOG_LEVEL=info shows each dispatch batch (its size and time) on stdout.
  const app = await startApp(config, createLogger(process.env.BENCH_LOG_LEVEL === 'info' ? 'info' : 'warn'));
  const clients = await connectClients({ host: '127.0.0.1', port: app.rpc.port });
  const token = new base.AuthzToken({
    accessToken: await mintHs256Token({ secret, gatewayId: 'bench', userName: 'bench', ttlSeconds: 3600 }),
    claimsMap: new Map([['gatewayID', 'bench']]),
  });
  let clusterId = '';
  try {
    console.log(`bench/dispatch on ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown cpu'}), node ${process.version}`);
    const buildStart = performance.now();
    clusterId = await clients.cluster.createCluster(token, new ms.ClusterSpec({
      name: 'bench', kind: ms.ClusterKind.SLURM, provider: ms.ProviderType.STATIC, hosts: [new ms.HostSpec({ address: 'localhost' })],
    }));
    for (;;) {
      const c = await clients.cluster.getCluster(token, clusterId);
      if (c.state === ms.ClusterState.READY) break;
      if (c.state === ms.ClusterState.FAILED) throw new Error(`cluster FAILED: ${c.stateReason}`);
      await sleep(1000);
    }
    console.log(`cluster READY in ${((performance.now() - buildStart) / 1000).toFixed(1)} s (createCluster -> READY, playbook + verify)`);

    // Hold the node so nothing starts while we measure submission (both sides queue alike).
    execFileSync('scontrol', ['update', `nodename=${execFileSync('hostname').toString().trim()}`, 'state=drain', 'reason=bench']);

    // The raw loops run half before ours and half after, so that a machine whose load drifts
    // during the run weighs on both sides alike (on a shared machine single phases moved by 2x).
    const rawDir = mkdtempSync(path.join(tmpdir(), 'ms-bench-raw-'));
    const rawIds: string[] = [];
    let rawSeconds = 0;
    const rawLoop = (from: number, to: number): void => {
      const start = performance.now();
      for (let i = from; i < to; i += 1) {
        rawIds.push(execFileSync('sbatch', ['--parsable', `--job-name=raw-${i}`, `--chdir=${rawDir}`, `--output=${rawDir}/raw-${i}.out`, '--ntasks=1', '--wrap', '/bin/true']).toString().trim());
      }
      rawSeconds += (performance.now() - start) / 1000;
    };
    // The same loop as the gateway's account, one runuser per job: what a dispatch per job costs
    // before anything of ours (claim, script, record) is added.
    const account = gatewayAccount('bench').name;
    const accountDir = path.join(config.jobRoot, account);
    const accountIds: string[] = [];
    let accountSeconds = 0;
    const accountLoop = (from: number, to: number): void => {
      const start = performance.now();
      for (let i = from; i < to; i += 1) {
        accountIds.push(execFileSync('runuser', ['-u', account, '--', 'sbatch', '--parsable', `--job-name=rawacct-${i}`, `--chdir=${accountDir}`,
          `--output=${accountDir}/rawacct.out`, '--ntasks=1', '--wrap', '/bin/true'], { cwd: '/' }).toString().trim());
      }
      accountSeconds += (performance.now() - start) / 1000;
    };
    const half = Math.floor(jobs / 2);
    rawLoop(0, half);
    accountLoop(0, half);
    cancelAll([...rawIds, ...accountIds]);

    const ourStart = performance.now();
    const handles = await Promise.all(Array.from({ length: jobs }, (_, i) => clients.job.submitJob(token, new ms.JobSpec({
      jobName: `ours-${i}`, parallelism: base.ApplicationParallelismType.SERIAL, command: ['/bin/true'],
    }))));
    const acceptedSeconds = (performance.now() - ourStart) / 1000;
    for (;;) {
      const row = await app.db('jobs').whereIn('id', handles.map((h) => h.jobId)).whereNotNull('native_job_id').count<{ count: string }[]>('* as count');
      if (Number(row[0].count) === jobs) break;
      await sleep(50);
    }
    const ourSeconds = (performance.now() - ourStart) / 1000;
    // Slurm's own view: each of our jobs there once (its name carries our id).
    const names = execFileSync('squeue', ['-h', '-a', '-t', 'all', '-o', '%j'], { maxBuffer: 64 * 1024 * 1024 }).toString().split('\n');
    const perJob = new Map(handles.map((h) => [`ms-${h.jobId}`, 0]));
    for (const name of names) if (perJob.has(name)) perJob.set(name, (perJob.get(name) ?? 0) + 1);
    const once = [...perJob.values()].filter((n) => n === 1).length;
    for (const h of handles) await clients.job.cancelJob(token, h.jobId);
    accountLoop(half, jobs);
    rawLoop(half, jobs);
    cancelAll([...rawIds.slice(half), ...accountIds.slice(half)]);
    execFileSync('scontrol', ['update', `nodename=${execFileSync('hostname').toString().trim()}`, 'state=resume']);

    const rawRate = jobs / rawSeconds;
    const accountRate = jobs / accountSeconds;
    const ourRate = jobs / ourSeconds;
    const ratio = ourRate / rawRate;
    console.log(`\n${jobs} jobs, each one task of /bin/true`);
    console.log(`  raw sbatch loop (sequential, as root):       ${rawRate.toFixed(1)} jobs/s (${rawSeconds.toFixed(2)} s)`);
    console.log(`  raw runuser+sbatch loop (as the account):    ${accountRate.toFixed(1)} jobs/s (${accountSeconds.toFixed(2)} s)`);
    console.log(`  submitJob -> in Slurm (all QUEUED):          ${ourRate.toFixed(1)} jobs/s (${ourSeconds.toFixed(2)} s; all accepted after ${acceptedSeconds.toFixed(2)} s)`);
    console.log(`  ratio to the raw loop as root: ${ratio.toFixed(2)}x; as the account: ${(ourRate / accountRate).toFixed(2)}x`);
    console.log(`  target >= 1.5x the raw loop as root: ${ratio >= 1.5 ? 'met' : 'not met'}`);
    console.log(`  in Slurm exactly once (squeue): ${once} of ${jobs} jobs`);

    // Wait for the cancellations to settle before timing ends.
    await sleep(3000);
    const probes = await Promise.all(Array.from({ length: latencyJobs }, (_, i) => clients.job.submitJob(token, new ms.JobSpec({
      jobName: `latency-${i}`, parallelism: base.ApplicationParallelismType.SERIAL,
      // Its last act prints the time it ends, in ms.
      command: ['/bin/sh', '-c', 'sleep 0.2; date +%s%3N'],
    }))));
    const ids = probes.map((p) => p.jobId);
    for (;;) {
      const left = await app.db('jobs').whereIn('id', ids).whereNotIn('state', ['COMPLETE', 'FAILED', 'CANCELED']).count<{ count: string }[]>('* as count');
      if (Number(left[0].count) === 0) break;
      await sleep(100);
    }
    const rows = await app.db('jobs').select('std_out', 'updated_at', 'state').whereIn('id', ids) as { std_out: string | null; updated_at: number; state: string }[];
    const delays = rows.filter((r) => r.state === 'COMPLETE' && r.std_out).map((r) => r.updated_at - Number(r.std_out?.trim())).sort((a, b) => a - b);
    console.log(`\njob end in Slurm -> final state recorded (${delays.length} jobs, monitor every ${config.monitorIntervalMs} ms):`);
    console.log(`  p50 ${percentile(delays, 50)} ms, p95 ${percentile(delays, 95)} ms, max ${delays.at(-1)} ms (target p95 <= 2000 ms)`);
  } finally {
    if (clusterId) {
      await clients.cluster.deleteCluster(token, clusterId).catch(() => undefined);
      for (let i = 0; i < 300; i += 1) {
        const c = await clients.cluster.getCluster(token, clusterId).catch(() => undefined);
        if (!c || c.state === ms.ClusterState.TERMINATED || c.state === ms.ClusterState.FAILED) break;
        await sleep(1000);
      }
    }
    clients.close();
    await app.stop();
  }
}

main().then(() => process.exit(0), (error: unknown) => {
  console.error(error);
  process.exit(1);
});
