// End to end through the real Thrift interface against the service as a process: a Slurm cluster
// built on this machine by our playbooks through ansible-runner, serial and MPI jobs run on it to
// their end, the service killed while jobs run, and the cluster deleted. Everything is real:
// Postgres, graphile-worker, ansible-runner, munge, slurmctld, slurmd, Open MPI.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import * as path from 'node:path';
import Int64 from 'node-int64';
import { AnsibleRunnerBridge } from '../../src/ansible/bridge';
import { PLAYBOOK_DIR } from '../../src/app';
import { connectClients, type ServiceClients } from '../../src/client/connect';
import { DEFAULT_JOB_ROOT } from '../../src/config';
import { gatewayAccount } from '../../src/domain/gatewayAccount';
import { createLogger } from '../../src/log';
import { base, ms } from '../../src/rpc/wire';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { freePort, startServiceProcess, type ServiceProcess } from '../support/serviceProcess';
import { buildMpiProgram } from '../support/mpiProgram';
import { authz, TEST_SECRET } from '../support/tokens';
import { sleep, until } from '../support/until';
import { slurmDaemonsHere } from '../support/slurmDaemons';

jest.setTimeout(15 * 60_000);

const { JobState } = base;
const END = new Set([JobState.COMPLETE, JobState.FAILED, JobState.CANCELED]);


function daemons(): string[] {
  return slurmDaemonsHere();
}

describe('a Slurm cluster on this machine, through the Thrift API', () => {
  let database: TestDatabase;
  let dataDir: string;
  let port: number;
  let service: ServiceProcess;
  let clients: ServiceClients;
  let token: base.AuthzToken;
  let clusterId: string;
  let mpiProgram: string;
  /** The gateway's account on the cluster: its jobs run as it, in its root. */
  const account = gatewayAccount('gw-slurm');
  const gatewayRoot = path.join(DEFAULT_JOB_ROOT, account.name);

  const start = async (): Promise<void> => {
    service = await startServiceProcess({
      DATABASE_URL: database.url, DATA_DIR: dataDir, THRIFT_PORT: String(port), AUTH_HS256_SECRET: TEST_SECRET,
      LOCAL_CLUSTER_GATEWAYS: 'gw-slurm',
      MONITOR_INTERVAL_MS: '500', LOG_LEVEL: 'info',
    });
    clients = await connectClients({ host: '127.0.0.1', port });
  };
  const stop = async (signal: NodeJS.Signals): Promise<number | string> => {
    clients.close();
    service.child.kill(signal);
    return service.exited;
  };
  const job = (jobId: string) => clients.job.getJob(token, jobId);
  const ended = (jobId: string, timeoutMs = 120_000) => until(`job ${jobId} to end`, timeoutMs, async () => {
    const model = await job(jobId);
    const last = model.jobStatuses?.at(-1)?.jobState;
    return last !== undefined && END.has(last) ? model : undefined;
  });
  const cluster = (id = clusterId) => clients.cluster.getCluster(token, id);
  const clusterIn = (id: string, states: ms.ClusterState[], timeoutMs: number) =>
    until(`cluster ${id} to reach ${states.map((s) => ms.ClusterState[s]).join('/')}`, timeoutMs, async () => {
      const c = await cluster(id);
      return states.includes(c.state) ? c : undefined;
    });
  const submit = (name: string, command: string[], extra: Partial<ms.IJobSpecArgs> = {}) =>
    clients.job.submitJob(token, new ms.JobSpec({ jobName: name, parallelism: base.ApplicationParallelismType.SERIAL, command, ...extra }));
  const states = (model: base.JobModel) => (model.jobStatuses ?? []).map((s) => JobState[s.jobState]);

  beforeAll(async () => {
    const busy = daemons();
    if (busy.length > 0) throw new Error(`Slurm daemons already run on this machine (${busy.join(', ')}): this test builds its own cluster`);
    database = await createTestDatabase({ migrate: false });
    dataDir = mkdtempSync(path.join(tmpdir(), 'ms-slurm-e2e-'));
    port = await freePort();
    token = await authz('gw-slurm', 'operator');
    mpiProgram = buildMpiProgram();
    await start();
  });

  afterAll(async () => {
    if (clients && service.child.exitCode === null) {
      // Leave the machine as we found it even when a test failed half-way.
      const live = (await clients.cluster.listClusters(token)).filter((c) => c.state !== ms.ClusterState.TERMINATED);
      for (const c of live) await clients.cluster.deleteCluster(token, c.clusterId).catch(() => undefined);
      for (const c of live) await clusterIn(c.clusterId, [ms.ClusterState.TERMINATED, ms.ClusterState.FAILED], 180_000).catch(() => undefined);
      await stop('SIGTERM');
    }
    await database?.drop();
  });

  it('reports a playbook failure as FAILED, naming the task and the host', async () => {
    const badId = await clients.cluster.createCluster(token, new ms.ClusterSpec({
      name: 'broken', kind: ms.ClusterKind.SLURM, provider: ms.ProviderType.STATIC,
      hosts: [new ms.HostSpec({ address: 'localhost' })],
      clusterOptions: new Map([['slurm_proctrack_type', 'proctrack/bogus']]),
    }));
    const failed = await clusterIn(badId, [ms.ClusterState.FAILED, ms.ClusterState.READY], 300_000);
    expect(ms.ClusterState[failed.state]).toBe('FAILED');
    expect(failed.failures.length).toBeGreaterThan(0);
    expect(failed.failures[0]).toMatchObject({ step: 'configure', host: 'localhost', task: expect.any(String) });
    expect(failed.failures[0].message.length).toBeGreaterThan(0);
    expect(failed.stateReason).toContain(failed.failures[0].task as string);
    // It is torn down like any other, so the machine is free for the next cluster.
    await clients.cluster.deleteCluster(token, badId);
    await clusterIn(badId, [ms.ClusterState.TERMINATED], 300_000);
    expect(daemons()).toEqual([]);
  });

  it('builds a cluster to READY with live events, and the same clientToken returns it', async () => {
    const spec = new ms.ClusterSpec({
      name: 'local', kind: ms.ClusterKind.SLURM, provider: ms.ProviderType.STATIC, clientToken: 'e2e-local',
      hosts: [new ms.HostSpec({ address: 'localhost' })],
      // Slurm forgets ended jobs 10 s after they end: the kill test outlasts that.
      clusterOptions: new Map([['slurm_min_job_age', '10']]),
    });
    clusterId = await clients.cluster.createCluster(token, spec);
    expect(await clients.cluster.createCluster(token, spec)).toBe(clusterId);
    let seenWhileBuilding = 0;
    let afterSeq = new Int64(0);
    const ready = await until('READY', 300_000, async () => {
      const events = await clients.cluster.getClusterEvents(token, clusterId, afterSeq);
      if (events.length > 0) afterSeq = events[events.length - 1].seq;
      const c = await cluster();
      if (c.state === ms.ClusterState.CONFIGURING) seenWhileBuilding += events.filter((e) => e.kind === 'task').length;
      if (c.state === ms.ClusterState.FAILED) throw new Error(`cluster FAILED: ${c.stateReason}`);
      return c.state === ms.ClusterState.READY ? c : undefined;
    });
    expect(seenWhileBuilding).toBeGreaterThan(0);
    expect(ready.nodes.map((n) => ms.NodeState[n.state])).toEqual(['CONFIGURED']);
    const events = await clients.cluster.getClusterEvents(token, clusterId, new Int64(0));
    const tasks = events.filter((e) => e.kind === 'task');
    expect(tasks.every((e) => e.host === 'localhost' && e.task)).toBe(true);
    expect(events.some((e) => e.kind === 'verify')).toBe(true);
    expect(events.filter((e) => e.kind === 'state').map((e) => e.message.split(':')[0]))
      .toEqual(['REQUESTED', 'PROVISIONING', 'CONFIGURING', 'READY']);
    expect(spawnSync('sinfo', ['-h', '-o', '%T']).stdout.toString().trim()).toBe('idle');
  });

  it('changes nothing when the playbook runs again on the built cluster', async () => {
    const bridge = new AnsibleRunnerBridge({ dataDir, playbookDir: PLAYBOOK_DIR, log: createLogger('silent') });
    // The same inventory and variables the service used to build it.
    const changedTasks: string[] = [];
    const result = await bridge.run({
      onEvent: (event) => {
        if (event.kind === 'task_changed') changedTasks.push(`${event.host}: ${event.task}`);
      },
      playbook: 'slurm.yml',
      inventory: {
        hosts: [{ name: 'localhost', connection: 'local', vars: { slurm_node_name: hostname() } }],
        groups: { slurm_controller: ['localhost'], slurm_workers: ['localhost'] },
      },
      extraVars: {
        ms_cluster_id: clusterId, slurm_cluster_name: 'local', slurm_min_job_age: 10,
        ms_job_user: account.name, ms_job_uid: account.uid, ms_job_root: DEFAULT_JOB_ROOT,
      },
      timeoutMs: 300_000,
    });
    expect(result.status).toBe('successful');
    expect(changedTasks).toEqual([]);
    expect(result.changed).toBe(0);
  });

  it('runs a serial job to COMPLETE with its stdout, chosen by the meta-scheduler', async () => {
    rmSync('/tmp/ms-injected', { force: true });
    const handle = await submit('hello', ['/bin/echo', 'hello from', 'slurm; $(touch /tmp/ms-pwned)']);
    expect(handle.clusterId).toBe(clusterId);
    const model = await ended(handle.jobId);
    expect(states(model)).toEqual(['SUBMITTED', 'QUEUED', 'ACTIVE', 'COMPLETE']);
    expect(model.exitCode).toBe(0);
    expect(model.stdOut).toBe('hello from slurm; $(touch /tmp/ms-pwned)\n');
    expect(model.jobStatuses?.[0].reason).toContain('meta-scheduler chose cluster local');
    expect(spawnSync('test', ['-e', '/tmp/ms-pwned']).status).not.toBe(0);
  });

  it("runs jobs as the gateway's own account, in its root, unable to read the service's secrets", async () => {
    const secrets = path.join(dataDir, 'secrets.key');
    expect(existsSync(secrets)).toBe(true);
    const handle = await submit('who', ['/bin/sh', '-c', `id -u; id -un; pwd; cat ${secrets} >/dev/null 2>&1 || echo no-secrets; ls ${dataDir} >/dev/null 2>&1 || echo no-data-dir`],
      { workingDir: 'runs/who' });
    const model = await ended(handle.jobId);
    expect(model.stdOut).toBe(`${account.uid}\n${account.name}\n${gatewayRoot}/runs/who\nno-secrets\nno-data-dir\n`);
    expect(model.workingDir).toBe(`${gatewayRoot}/runs/who`);
    expect(statSync(gatewayRoot)).toMatchObject({ uid: account.uid, mode: expect.any(Number) });
    expect(statSync(gatewayRoot).mode & 0o777).toBe(0o700);
    // A directory outside the gateway's root is refused at once, naming the field.
    for (const workingDir of ['/tmp/elsewhere', '../other-gateway', `${DEFAULT_JOB_ROOT}/${account.name}-x/y`]) {
      await expect(submit('outside', ['/bin/true'], { workingDir })).rejects.toMatchObject({ message: expect.stringContaining('spec.workingDir') });
    }
  });

  it('runs a 2-rank MPI program that communicates', async () => {
    const handle = await submit('reduce', [mpiProgram], { parallelism: base.ApplicationParallelismType.MPI, totalCPUCount: 2 });
    const model = await ended(handle.jobId);
    expect(states(model)).toEqual(['SUBMITTED', 'QUEUED', 'ACTIVE', 'COMPLETE']);
    expect(model.stdOut).toContain('ranks=2 sum=1');
  });

  it('installs an application from a checked archive on every node, and a job uses it', async () => {
    // A tiny archive served by the test, as a gateway's software repository would serve it.
    const appDir = path.join(dataDir, 'hello-src');
    mkdirSync(path.join(appDir, 'bin'), { recursive: true });
    writeFileSync(path.join(appDir, 'bin/hello-app'), '#!/bin/sh\necho "$HELLO_GREETING from hello-app"\n', { mode: 0o644 });
    const archive = path.join(dataDir, 'hello.tar.gz');
    execFileSync('tar', ['-czf', archive, '-C', appDir, 'bin']);
    const bytes = readFileSync(archive);
    const server = createServer((req, res) => {
      if (req.url === '/hello.tar.gz') res.end(bytes);
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hello.tar.gz`;
    try {
      await expect(clients.cluster.installApplication(token, clusterId, new ms.ApplicationSpec({ name: 'hello', archiveUrl: url })))
        .rejects.toMatchObject({ message: expect.stringContaining('app.archiveSha256') });
      const applicationId = await clients.cluster.installApplication(token, clusterId, new ms.ApplicationSpec({
        name: 'hello', version: '1.0', archiveUrl: url, archiveSha256: createHash('sha256').update(bytes).digest('hex'),
        installCommands: [
          ['chmod', '755', 'bin/hello-app'],
          ['sh', '-c', 'id -un > installed-by; printf "%s\\n" "$1" >> installed-by', 'sh', "{{ lookup('pipe', 'touch /tmp/ms-injected') }}"],
        ],
        environment: new Map([['HELLO_GREETING', 'installed hello']]),
      }));
      const installed = await until('application INSTALLED', 180_000, async () => {
        const app = (await cluster()).applications?.find((a) => a.applicationId === applicationId);
        if (app?.state === ms.ApplicationState.FAILED) throw new Error(`install FAILED: ${app.stateReason}`);
        return app?.state === ms.ApplicationState.INSTALLED ? app : undefined;
      });
      expect(installed.prefix).toBe('/opt/metascheduler/apps/hello@1.0');
      // The caller's install commands ran as the gateway's account, and template syntax in them
      // was data: nothing ran on the service host.
      expect(readFileSync('/opt/metascheduler/apps/hello@1.0/installed-by', 'utf8')).toBe(`${account.name}\n{{ lookup('pipe', 'touch /tmp/ms-injected') }}\n`);
      expect(existsSync('/tmp/ms-injected')).toBe(false);
      // One application per directory: the same name and version again is refused, naming it.
      await expect(clients.cluster.installApplication(token, clusterId, new ms.ApplicationSpec({ name: 'hello', version: '1.0', debPackages: ['coreutils'] })))
        .rejects.toMatchObject({ message: expect.stringContaining('app.version') });
      const model = await ended((await submit('uses-app', ['/bin/sh', '-c', '"$APP_PREFIX/bin/hello-app"'], { applicationId })).jobId);
      expect(states(model)).toEqual(['SUBMITTED', 'QUEUED', 'ACTIVE', 'COMPLETE']);
      expect(model.stdOut).toBe('installed hello from hello-app\n');
    } finally {
      server.close();
    }
  });

  it('ends a job exiting 3 FAILED with exitCode 3', async () => {
    const model = await ended((await submit('three', ['/bin/sh', '-c', 'exit 3'])).jobId);
    expect(states(model)).toEqual(['SUBMITTED', 'QUEUED', 'ACTIVE', 'FAILED']);
    expect(model.exitCode).toBe(3);
  });

  it('cancels a sleeping job: CANCELED', async () => {
    const handle = await submit('sleeper', ['/bin/sleep', '300']);
    await until('sleeper ACTIVE', 60_000, async () => ((await job(handle.jobId)).jobStatuses?.at(-1)?.jobState === JobState.ACTIVE ? true : undefined));
    await clients.job.cancelJob(token, handle.jobId);
    const model = await ended(handle.jobId);
    expect(states(model)).toEqual(['SUBMITTED', 'QUEUED', 'ACTIVE', 'CANCELED']);
  });

  it('refuses a job no cluster could ever run, naming the field', async () => {
    await expect(submit('huge', ['/bin/true'], { parallelism: base.ApplicationParallelismType.MPI, totalCPUCount: 512 }))
      .rejects.toMatchObject({ message: expect.stringContaining('spec.totalCPUCount') });
  });

  it('reports the true final state of jobs that ended while the service was down past MinJobAge', async () => {
    const handles = await Promise.all([1, 2, 3].map((i) => submit(`while-down-${i}`, ['/bin/sh', '-c', `sleep 3; echo done ${i}; exit ${i - 1}`])));
    await until('jobs dispatched', 60_000, async () => {
      const models = await Promise.all(handles.map((h) => job(h.jobId)));
      return models.every((m) => (m.jobStatuses?.length ?? 0) >= 2) ? true : undefined;
    });
    expect(await stop('SIGKILL')).toBe('SIGKILL');
    // The jobs end, then Slurm forgets them (MinJobAge 10 s) while nobody watches.
    await until('Slurm to forget the jobs', 90_000, async () => {
      const names = spawnSync('squeue', ['-h', '-a', '-o', '%j']).stdout.toString();
      return handles.every((h) => !names.includes(h.jobId)) ? true : undefined;
    });
    await sleep(12_000);
    await start();
    const models = await Promise.all(handles.map((h) => ended(h.jobId)));
    expect(models.map((m) => [states(m).at(-1), m.exitCode])).toEqual([['COMPLETE', 0], ['FAILED', 1], ['FAILED', 2]]);
    models.forEach((m, i) => expect(m.stdOut).toBe(`done ${i + 1}\n`));
    // No job ran twice: Slurm's own completion log has each of them once.
    const log = spawnSync('cat', ['/var/log/slurm/jobcomp.log']).stdout.toString();
    for (const h of handles) expect(log.split(`Name=ms-${h.jobId} `).length - 1).toBe(1);
  });

  it('deletes the cluster: TERMINATED, and the daemons it started are gone', async () => {
    await clients.cluster.deleteCluster(token, clusterId);
    const c = await clusterIn(clusterId, [ms.ClusterState.TERMINATED, ms.ClusterState.FAILED], 300_000);
    expect(ms.ClusterState[c.state]).toBe('TERMINATED');
    expect(c.nodes.map((n) => ms.NodeState[n.state])).toEqual(['RELEASED']);
    expect(daemons()).toEqual([]);
    // what it installed is gone too
    expect(spawnSync('test', ['-e', '/opt/metascheduler/apps/hello@1.0']).status).not.toBe(0);
  });
});
