// Scaling a STATIC cluster through the Thrift API against the service as a process: this machine
// (controller and worker) plus a "remote" worker reached over ssh (a network namespace with its
// own sshd, scripts/test-ssh-host) that the cluster starts without, gains with scaleCluster(2) and
// gives back with scaleCluster(1) while a job runs on it. Everything is real: Postgres,
// graphile-worker, ansible-runner over ssh with the gateway's key, munge, slurmctld, slurmd.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import Int64 from 'node-int64';
import { connectClients, type ServiceClients } from '../../src/client/connect';
import { base, ms } from '../../src/rpc/wire';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { freePort, startServiceProcess, type ServiceProcess } from '../support/serviceProcess';
import { authz, TEST_SECRET } from '../support/tokens';
import { until } from '../support/until';
import { slurmDaemonsHere } from '../support/slurmDaemons';

jest.setTimeout(20 * 60_000);

const ROOT = path.resolve(__dirname, '../..');
const HELPER = path.join(ROOT, 'scripts/test-ssh-host');
const HOST = 'ms-scale-h1';
const ADDRESS = '10.213.0.11';
const BRIDGE = '10.213.0.1';
const H1_NODE = '10-213-0-11'; // slurmNodeName of ADDRESS

const { JobState } = base;
const END = new Set([JobState.COMPLETE, JobState.FAILED, JobState.CANCELED]);


function daemons(): string[] {
  return slurmDaemonsHere();
}

/** sinfo's nodes and their states (without state flags). */
function sinfo(): Map<string, string> {
  const out = spawnSync('sinfo', ['-h', '-N', '-o', '%N|%t'], { encoding: 'utf8' });
  return new Map(out.stdout.trim().split('\n').filter(Boolean).map((line) => {
    const [name, state] = line.split('|');
    return [name, state.replace(/[*~#!%$@^-]+$/, '')];
  }));
}

const timings: string[] = [];
async function timed<T>(label: string, work: () => Promise<T>): Promise<T> {
  const started = Date.now();
  try {
    return await work();
  } finally {
    timings.push(`${label}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
}

describe('scaling a STATIC cluster across ssh hosts, through the Thrift API', () => {
  let database: TestDatabase;
  let dataDir: string;
  let service: ServiceProcess | undefined;
  let clients: ServiceClients | undefined;
  let token: base.AuthzToken;
  let clusterId: string;
  let hostUp = false;
  let server: Server | undefined;
  let appUrl: string;
  let appSha: string;

  const api = (): ServiceClients => {
    if (!clients) throw new Error('service not started');
    return clients;
  };
  const cluster = () => api().cluster.getCluster(token, clusterId);
  const clusterIn = (states: ms.ClusterState[], timeoutMs: number) =>
    until(`cluster to reach ${states.map((s) => ms.ClusterState[s]).join('/')}`, timeoutMs, async () => {
      const c = await cluster();
      return states.includes(c.state) ? c : undefined;
    }, 1000);
  const ready = async (timeoutMs: number): Promise<ms.Cluster> => {
    const c = await clusterIn([ms.ClusterState.READY, ms.ClusterState.FAILED], timeoutMs);
    if (c.state !== ms.ClusterState.READY) {
      throw new Error(`cluster ${ms.ClusterState[c.state]}: ${c.stateReason ?? ''} ${JSON.stringify(c.failures)}`);
    }
    return c;
  };
  const job = (jobId: string) => api().job.getJob(token, jobId);
  const lastState = async (jobId: string) => (await job(jobId)).jobStatuses?.at(-1)?.jobState;
  const ended = (jobId: string, timeoutMs = 180_000) => until(`job ${jobId} to end`, timeoutMs, async () => {
    const model = await job(jobId);
    const last = model.jobStatuses?.at(-1)?.jobState;
    return last !== undefined && END.has(last) ? model : undefined;
  });
  const states = (model: base.JobModel) => (model.jobStatuses ?? []).map((s) => JobState[s.jobState]);
  const nodeStates = (c: ms.Cluster) => Object.fromEntries(c.nodes.map((n) => [n.address, ms.NodeState[n.state]]));
  const allEvents = async (): Promise<ms.ClusterEvent[]> => {
    const out: ms.ClusterEvent[] = [];
    let after = new Int64(0);
    for (;;) {
      const page = await api().cluster.getClusterEvents(token, clusterId, after);
      out.push(...page);
      if (page.length < 1000) return out;
      after = page[page.length - 1].seq;
    }
  };
  const twoNodeJob = (name: string, command: string[]) => api().job.submitJob(token, new ms.JobSpec({
    jobName: name, parallelism: base.ApplicationParallelismType.MPI, command, totalCPUCount: 2, nodeCount: 2,
    clusterId,
  }));

  beforeAll(async () => {
    // This machine has one Slurm: wait for another run to finish with it (never touch its daemons).
    // Free means no daemon and no cluster's ownership marker, three polls in a row (a suite of
    // several files stops its daemons between files).
    let clear = 0;
    await timed('wait for a free Slurm', () => until('no slurmctld/slurmd on this machine', 15 * 60_000, async () => {
      clear = daemons().length === 0 && !existsSync('/etc/slurm/.metascheduler-owner') ? clear + 1 : 0;
      return clear >= 3 ? true : undefined;
    }, 10_000));
    database = await createTestDatabase({ migrate: false });
    dataDir = mkdtempSync(path.join(tmpdir(), 'ms-scale-'));
    const port = await freePort();
    token = await authz('gw-scale', 'operator');
    service = await startServiceProcess({
      DATABASE_URL: database.url, DATA_DIR: dataDir, THRIFT_PORT: String(port), AUTH_HS256_SECRET: TEST_SECRET,
      LOCAL_CLUSTER_GATEWAYS: 'gw-scale',
      MONITOR_INTERVAL_MS: '500', LOG_LEVEL: 'info',
    });
    clients = await connectClients({ host: '127.0.0.1', port });
    // The gateway's key is the one the service's Ansible uses: the ssh host accepts only it.
    const publicKey = await clients.cluster.getGatewaySSHPublicKey(token);
    const authorized = path.join(dataDir, 'authorized_keys');
    writeFileSync(authorized, `${publicKey.trim()}\n`, { mode: 0o600 });
    execFileSync(HELPER, ['up', HOST, ADDRESS, authorized]);
    hostUp = true;
    // An application archive served on the bridge, which both hosts reach.
    const appDir = path.join(dataDir, 'hello-src');
    mkdirSync(path.join(appDir, 'bin'), { recursive: true });
    writeFileSync(path.join(appDir, 'bin/hello-app'), '#!/bin/sh\necho "hello-app on $SLURMD_NODENAME"\n', { mode: 0o755 });
    const archive = path.join(dataDir, 'hello.tar.gz');
    execFileSync('tar', ['-czf', archive, '-C', appDir, 'bin']);
    const bytes = readFileSync(archive);
    appSha = createHash('sha256').update(bytes).digest('hex');
    const http = createServer((req, res) => {
      if (req.url === '/hello.tar.gz') res.end(bytes);
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => http.listen(0, BRIDGE, resolve));
    server = http;
    appUrl = `http://${BRIDGE}:${(http.address() as AddressInfo).port}/hello.tar.gz`;
  });

  afterAll(async () => {
    try {
      if (clients && clusterId) {
        const c = await cluster().catch(() => undefined);
        if (c && c.state !== ms.ClusterState.TERMINATED) {
          await clients.cluster.deleteCluster(token, clusterId).catch(() => undefined);
          await clusterIn([ms.ClusterState.TERMINATED, ms.ClusterState.FAILED], 600_000).catch(() => undefined);
        }
      }
    } finally {
      clients?.close();
      if (service && service.child.exitCode === null) {
        service.child.kill('SIGTERM');
        await service.exited;
      }
      server?.close();
      if (hostUp) spawnSync(HELPER, ['down', HOST]);
      await database?.drop();
      // eslint-disable-next-line no-console
      console.log(`scaling timings:\n  ${timings.join('\n  ')}`);
    }
  });

  it('builds the cluster with workerCount 1: only this machine serves', async () => {
    clusterId = await api().cluster.createCluster(token, new ms.ClusterSpec({
      name: 'scale', kind: ms.ClusterKind.SLURM, provider: ms.ProviderType.STATIC, workerCount: 1,
      hosts: [
        new ms.HostSpec({ address: 'localhost', roles: ['controller', 'worker'] }),
        new ms.HostSpec({ address: ADDRESS, sshUser: 'root', roles: ['worker'] }),
      ],
      // Open MPI inside the namespaces: only the bridge network joins the two hosts.
      clusterOptions: new Map([['slurm_controller_addr', BRIDGE], ['slurm_min_job_age', '10'], ['openmpi_tcp_networks', '10.213.0.0/24']]),
    }));
    const c = await timed('create (workerCount 1) to READY', () => ready(600_000));
    expect(nodeStates(c)).toEqual({ localhost: 'CONFIGURED', [ADDRESS]: 'RELEASED' });
    expect([...sinfo().values()]).toEqual(['idle']);
    // No task ran on the host that does not serve yet.
    expect((await allEvents()).filter((e) => e.host === ADDRESS)).toEqual([]);
  });

  it('installs an application on the serving node', async () => {
    const applicationId = await api().cluster.installApplication(token, clusterId, new ms.ApplicationSpec({
      name: 'hello', version: '1.0', archiveUrl: appUrl, archiveSha256: appSha,
    }));
    await timed('install application', () => until('application INSTALLED', 300_000, async () => {
      const app = (await cluster()).applications?.find((a) => a.applicationId === applicationId);
      if (app?.state === ms.ApplicationState.FAILED) throw new Error(`install FAILED: ${app.stateReason}`);
      return app?.state === ms.ApplicationState.INSTALLED ? app : undefined;
    }));
  });

  it('refuses worker counts outside the pool, naming workerCount', async () => {
    for (const count of [0, 3]) {
      await expect(api().cluster.scaleCluster(token, clusterId, count)).rejects.toMatchObject({
        message: expect.stringContaining('workerCount'),
      });
    }
    expect(ms.ClusterState[(await cluster()).state]).toBe('READY');
  });

  it('scales out to 2: the ssh host joins, gets the application, and a 2-node job runs on both', async () => {
    const before = (await allEvents()).at(-1)?.seq.toNumber() ?? 0;
    await api().cluster.scaleCluster(token, clusterId, 2);
    expect(ms.ClusterState[(await cluster()).state]).toBe('SCALING');
    // A second scale while one is under way is refused, naming the cluster.
    await expect(api().cluster.scaleCluster(token, clusterId, 1)).rejects.toMatchObject({
      message: expect.stringContaining('clusterId'),
    });
    const c = await timed('scale out 1 -> 2 to READY', () => ready(600_000));
    expect(nodeStates(c)).toEqual({ localhost: 'CONFIGURED', [ADDRESS]: 'CONFIGURED' });
    const nodes = sinfo();
    expect(nodes.size).toBe(2);
    expect(nodes.get(H1_NODE)).toBe('idle');
    expect([...nodes.values()]).toEqual(['idle', 'idle']);
    // The application role ran on the new host after the scale began.
    const events = (await allEvents()).filter((e) => e.seq.toNumber() > before);
    const appStart = events.find((e) => e.kind === 'step' && /install hello: app\.yml started/.test(e.message));
    expect(appStart).toBeDefined();
    const appTasks = events.filter((e) => e.seq.toNumber() > (appStart?.seq.toNumber() ?? 0)
      && e.kind === 'task' && e.host === ADDRESS && /application/i.test(e.task ?? ''));
    expect(appTasks.length).toBeGreaterThan(0);
    expect(appTasks.every((e) => !e.message.startsWith('failed'))).toBe(true);

    // Slurm gives the MPI job both nodes (every rank prints the job's node list). Which host each
    // rank lands on is Open MPI's choice by host name, and the namespaces share this machine's
    // host name, so tasks on both hosts are shown with srun itself.
    const model = await timed('2-node job', async () => ended((await twoNodeJob('both', ['/bin/sh', '-c', 'echo "$SLURM_JOB_NODELIST"'])).jobId));
    expect(states(model)).toEqual(['SUBMITTED', 'QUEUED', 'ACTIVE', 'COMPLETE']);
    const lists = (model.stdOut ?? '').trim().split('\n');
    expect(lists).toHaveLength(2);
    for (const list of lists) expect(list).toContain(H1_NODE);
    expect(lists[0]).not.toBe(H1_NODE);
    const tasks = spawnSync('srun', ['-N2', '-n2', '-t', '1', '/bin/sh', '-c', 'hostname -I'], { encoding: 'utf8', timeout: 60_000 });
    expect(tasks.status).toBe(0);
    const addresses = tasks.stdout.trim().split('\n').map((line) => line.trim().split(/\s+/));
    expect(addresses.filter((a) => a.includes(ADDRESS))).toHaveLength(1);
    expect(addresses.filter((a) => a.includes(BRIDGE))).toHaveLength(1);
  });

  it('scales in to 1 while a job runs on the ssh host: the job completes, then the host is released', async () => {
    const handle = await twoNodeJob('long', ['/bin/sleep', '20']);
    await until('job ACTIVE', 60_000, async () => ((await lastState(handle.jobId)) === JobState.ACTIVE ? true : undefined));
    await api().cluster.scaleCluster(token, clusterId, 1);
    const c = await timed('scale in 2 -> 1 to READY (with a 20 s job draining)', () => ready(600_000));
    const model = await ended(handle.jobId);
    expect(states(model)).toEqual(['SUBMITTED', 'QUEUED', 'ACTIVE', 'COMPLETE']);
    // Ended before the node left: the drain waited for it.
    const completedAt = model.jobStatuses?.at(-1)?.timeOfStateChange?.toNumber() ?? 0;
    const events = await allEvents();
    const released = events.find((e) => e.kind === 'step' && /scale: release: slurm_teardown\.yml started/.test(e.message));
    expect(released).toBeDefined();
    expect(completedAt).toBeLessThanOrEqual(released?.time.toNumber() ?? 0);
    expect(nodeStates(c)).toEqual({ localhost: 'CONFIGURED', [ADDRESS]: 'RELEASED' });
    const nodes = sinfo();
    expect(nodes.size).toBe(1);
    expect(nodes.has(H1_NODE)).toBe(false);
    // h1's slurmd is gone; this machine's still runs.
    expect(spawnSync('pgrep', ['-f', `slurmd -N ${H1_NODE}`]).status).not.toBe(0);
    expect(daemons()).toEqual(['slurmctld', 'slurmd']);
  });

  it('deletes the cluster: TERMINATED, no Slurm daemon left', async () => {
    await api().cluster.deleteCluster(token, clusterId);
    const c = await timed('delete to TERMINATED', () => clusterIn([ms.ClusterState.TERMINATED, ms.ClusterState.FAILED], 300_000));
    expect(ms.ClusterState[c.state]).toBe('TERMINATED');
    expect(daemons()).toEqual([]);
  });
});
