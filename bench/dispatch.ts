// bench/dispatch: jobs through submitJob -> Slurm against a raw `sbatch` loop of the same jobs, in
// one run on one local Slurm cluster built by the service itself; then the time from a job's end in
// Slurm to its final state in getJob. Prints what it measured; asserts nothing.
//
//   npm run build && node dist/bench/dispatch.js [--jobs 200] [--latency-jobs 30]
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

async function main(): Promise<void> {
  const jobs = arg('jobs', 200);
  const latencyJobs = arg('latency-jobs', 30);
  const dataDir = mkdtempSync(path.join(tmpdir(), 'ms-bench-dispatch-'));
  const secret = 'bench-secret-0123456789abcdef-0123456789';
  const config = loadConfig({
    ...(process.env.DATABASE_URL ? { DATABASE_URL: process.env.DATABASE_URL } : {}),
    DATA_DIR: dataDir, THRIFT_PORT: '0', AUTH_HS256_SECRET: secret, LOG_LEVEL: 'warn', LOCAL_CLUSTER_GATEWAYS: 'bench',
  });
  const app = await startApp(config, createLogger('warn'));
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

    const rawDir = mkdtempSync(path.join(tmpdir(), 'ms-bench-raw-'));
    const rawStart = performance.now();
    for (let i = 0; i < jobs; i += 1) {
      execFileSync('sbatch', ['--parsable', `--job-name=raw-${i}`, `--chdir=${rawDir}`, `--output=${rawDir}/raw-${i}.out`, '--ntasks=1', '--wrap', '/bin/true']);
    }
    const rawSeconds = (performance.now() - rawStart) / 1000;
    execFileSync('scancel', ['--name', Array.from({ length: jobs }, (_, i) => `raw-${i}`).join(',')]);

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
    for (const h of handles) await clients.job.cancelJob(token, h.jobId);
    execFileSync('scontrol', ['update', `nodename=${execFileSync('hostname').toString().trim()}`, 'state=resume']);

    const rawRate = jobs / rawSeconds;
    const ourRate = jobs / ourSeconds;
    console.log(`\n${jobs} jobs, each one task of /bin/true`);
    console.log(`  raw sbatch loop (sequential):            ${rawRate.toFixed(1)} jobs/s (${rawSeconds.toFixed(2)} s)`);
    console.log(`  submitJob -> in Slurm (all QUEUED):      ${ourRate.toFixed(1)} jobs/s (${ourSeconds.toFixed(2)} s; all accepted after ${acceptedSeconds.toFixed(2)} s)`);
    console.log(`  ratio to raw: ${(ourRate / rawRate).toFixed(2)}x (target >= 0.9x)`);

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
