// A STATIC cluster on two hosts that are not this machine, through the Thrift API against the
// service as a process: the controller on one test host, a worker on the other, both reached only
// over SSH (scripts/test-ssh-host: each host has its own network namespace, host name, sshd, Slurm
// and munge configuration, /run, and daemons). The service builds it with Ansible over SSH, then
// dispatches, monitors, cancels and reads final states over its own SSH connection to the
// controller. A 2-node MPI job prints two different host names. Deleting the cluster stops every
// daemon it started on both hosts.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import Int64 from 'node-int64';
import { connectClients, type ServiceClients } from '../../src/client/connect';
import { base, ms } from '../../src/rpc/wire';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { buildMpiProgram } from '../support/mpiProgram';
import { endServiceRun } from '../support/instanceHosts';
import { freePort, startServiceProcess, type ServiceProcess } from '../support/serviceProcess';
import { authz, TEST_SECRET } from '../support/tokens';
import { until } from '../support/until';

jest.setTimeout(20 * 60_000);

const ROOT = path.resolve(__dirname, '../..');
const HELPER = path.join(ROOT, 'scripts/test-ssh-host');
const HOSTS = [{ name: 'ms-rc-h1', address: '10.213.0.21' }, { name: 'ms-rc-h2', address: '10.213.0.22' }];

const { JobState } = base;
const END = new Set([JobState.COMPLETE, JobState.FAILED, JobState.CANCELED]);


/** Runs a command inside a test host (not over SSH: the test's own look at the host). */
function onHost(host: string, argv: string[]): { status: number | null; stdout: string } {
  const result = spawnSync(HELPER, ['exec', host, ...argv], { encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout };
}

/** The daemons a host's own pid files name that are alive. */
function hostDaemons(host: string): string {
  return onHost(host, ['sh', '-c',
    'for f in /run/slurmctld.pid /run/slurmd-*.pid /run/munge/munged.pid; do '
    + '[ -f "$f" ] && p=$(cat "$f") && [ -d "/proc/$p" ] && echo "$f"; done; true']).stdout.trim();
}

describe('a STATIC cluster whose controller and worker are other hosts, reached over SSH', () => {
  let database: TestDatabase;
  let service: ServiceProcess | undefined;
  let clients: ServiceClients | undefined;
  let token: base.AuthzToken;
  let clusterId: string;
  const up: string[] = [];

  const api = (): ServiceClients => {
    if (!clients) throw new Error('service not started');
    return clients;
  };
  const cluster = () => api().cluster.getCluster(token, clusterId);
  const job = (jobId: string) => api().job.getJob(token, jobId);
  const ended = (jobId: string, timeoutMs = 180_000) => until(`job ${jobId} to end`, timeoutMs, async () => {
    const model = await job(jobId);
    const last = model.jobStatuses?.at(-1)?.jobState;
    return last !== undefined && END.has(last) ? model : undefined;
  });
  const states = (model: base.JobModel) => (model.jobStatuses ?? []).map((s) => JobState[s.jobState]);
  const submit = (name: string, command: string[], extra: Partial<ms.IJobSpecArgs> = {}) =>
    api().job.submitJob(token, new ms.JobSpec({ jobName: name, parallelism: base.ApplicationParallelismType.SERIAL, command, clusterId, ...extra }));

  beforeAll(async () => {
    database = await createTestDatabase({ migrate: false });
    const dataDir = mkdtempSync(path.join(tmpdir(), 'ms-remote-'));
    const port = await freePort();
    token = await authz('gw-remote', 'operator');
    // No LOCAL_CLUSTER_GATEWAYS: nothing of this cluster is on this machine.
    service = await startServiceProcess({
      DATABASE_URL: database.url, DATA_DIR: dataDir, THRIFT_PORT: String(port), AUTH_HS256_SECRET: TEST_SECRET,
      MONITOR_INTERVAL_MS: '500', LOG_LEVEL: 'info',
    });
    clients = await connectClients({ host: '127.0.0.1', port });
    const authorized = path.join(dataDir, 'authorized_keys');
    writeFileSync(authorized, `${(await api().cluster.getGatewaySSHPublicKey(token)).trim()}\n`, { mode: 0o600 });
    for (const host of HOSTS) {
      execFileSync(HELPER, ['up', host.name, host.address, authorized]);
      up.push(host.name);
    }
  });

  afterAll(async () => {
    try {
      await endServiceRun(clients, token, clusterId, service);
    } finally {
      for (const host of up) spawnSync(HELPER, ['down', host]);
      await database?.drop();
    }
  });

  it('builds to READY with slurmctld on one host and slurmd on both, nothing on this machine', async () => {
    clusterId = await api().cluster.createCluster(token, new ms.ClusterSpec({
      name: 'remote', kind: ms.ClusterKind.SLURM, provider: ms.ProviderType.STATIC,
      hosts: [
        new ms.HostSpec({ address: HOSTS[0].address, roles: ['controller', 'worker'] }),
        new ms.HostSpec({ address: HOSTS[1].address, roles: ['worker'] }),
      ],
      // Open MPI between the hosts over the test network only; Slurm forgets ended jobs after 10 s.
      clusterOptions: new Map([['openmpi_tcp_networks', '10.213.0.0/24'], ['slurm_min_job_age', '10']]),
    }));
    const ready = await until('READY', 600_000, async () => {
      const c = await cluster();
      if (c.state === ms.ClusterState.FAILED) {
        const events = await api().cluster.getClusterEvents(token, clusterId, new Int64(0));
        const story = events.filter((e) => e.kind !== 'task_start').map((e) => `${e.kind} ${e.host ?? ''} ${e.task ?? ''}: ${e.message}`).join('\n');
        throw new Error(`cluster FAILED: ${c.stateReason}\n${story}\n--- service log (warnings) ---\n${service?.output().split('\n').filter((l) => /"level":(40|50)/.test(l)).join('\n')}`);
      }
      return c.state === ms.ClusterState.READY ? c : undefined;
    }, 1000);
    expect(ready.nodes.map((n) => [n.address, ms.NodeState[n.state]])).toEqual(HOSTS.map((h) => [h.address, 'CONFIGURED']));
    // Each host answers with its own name and runs its own daemons, behind its own pid files.
    expect(onHost(HOSTS[0].name, ['hostname']).stdout.trim()).toBe(HOSTS[0].name);
    expect(hostDaemons(HOSTS[0].name).split('\n').sort()).toEqual(['/run/munge/munged.pid', '/run/slurmctld.pid', '/run/slurmd-10-213-0-21.pid']);
    expect(hostDaemons(HOSTS[1].name).split('\n').sort()).toEqual(['/run/munge/munged.pid', '/run/slurmd-10-213-0-22.pid']);
    const sinfo = onHost(HOSTS[0].name, ['sinfo', '-h', '-N', '-o', '%N %t']).stdout.trim().split('\n').sort();
    expect(sinfo).toEqual(['10-213-0-21 idle', '10-213-0-22 idle']);
    // This machine's own Slurm configuration was not touched.
    expect(spawnSync('test', ['-e', '/etc/slurm/.metascheduler-owner']).status).not.toBe(0);
  });

  it('runs a serial job over the SSH connection to the controller: COMPLETE with its output', async () => {
    const model = await ended((await submit('where', ['/bin/sh', '-c', 'echo "ran on $(hostname) as $(id -un)"'])).jobId);
    expect(states(model)).toEqual(['SUBMITTED', 'QUEUED', 'ACTIVE', 'COMPLETE']);
    expect(model.stdOut).toMatch(/^ran on ms-rc-h[12] as ms-gw-remote-[0-9a-f]{8}\n$/);
  });

  it('runs a 2-node MPI job whose ranks print two different host names', async () => {
    const program = buildMpiProgram();
    const model = await ended((await submit('mpi', [program], {
      parallelism: base.ApplicationParallelismType.MPI, totalCPUCount: 2, nodeCount: 2,
    })).jobId);
    expect({ states: states(model), stderr: model.stdErr }).toMatchObject({ states: ['SUBMITTED', 'QUEUED', 'ACTIVE', 'COMPLETE'] });
    expect(model.stdOut).toContain('ranks=2 sum=1');
    const ranks = [...(model.stdOut ?? '').matchAll(/^rank (\d) on (\S+)$/gm)].map((m) => m[2]);
    expect(new Set(ranks)).toEqual(new Set(HOSTS.map((h) => h.name)));
  });

  it('cancels a running job: CANCELED', async () => {
    const handle = await submit('sleeper', ['/bin/sleep', '300']);
    await until('sleeper ACTIVE', 120_000, async () => ((await job(handle.jobId)).jobStatuses?.at(-1)?.jobState === JobState.ACTIVE ? true : undefined));
    await api().job.cancelJob(token, handle.jobId);
    const model = await ended(handle.jobId);
    expect(states(model)).toEqual(['SUBMITTED', 'QUEUED', 'ACTIVE', 'CANCELED']);
  });

  it('deletes the cluster: TERMINATED, and every daemon it started on both hosts is stopped', async () => {
    await api().cluster.deleteCluster(token, clusterId);
    const c = await until('TERMINATED', 300_000, async () => {
      const now = await cluster();
      if (now.state === ms.ClusterState.FAILED) throw new Error(`teardown FAILED: ${now.stateReason}`);
      return now.state === ms.ClusterState.TERMINATED ? now : undefined;
    }, 1000);
    expect(c.nodes.map((n) => ms.NodeState[n.state])).toEqual(['RELEASED', 'RELEASED']);
    for (const host of HOSTS) {
      expect(hostDaemons(host.name)).toBe('');
      expect(onHost(host.name, ['test', '-e', '/etc/slurm/.metascheduler-owner']).status).not.toBe(0);
    }
  });
});
