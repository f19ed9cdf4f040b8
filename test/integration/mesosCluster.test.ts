// A MESOS_MARATHON cluster created through the Thrift API against the service as a process, on a
// test host that is not this machine (scripts/test-ssh-host: its own network namespace, host name,
// private /etc/zookeeper and sshd), reached only over SSH. Mesos, Marathon and Metronome have no
// package archive any more, so without an operator's package source the create must end FAILED at
// the configure step, naming the missing source, after ZooKeeper (which Debian still ships) was
// really deployed there by our role. Never READY. Deleting the cluster undoes what was deployed.
// Jobs the kind can never run are refused at submit, naming the field, whatever the cluster's state.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import Int64 from 'node-int64';
import { connectClients, type ServiceClients } from '../../src/client/connect';
import { PROBE_SCRIPT } from '../../src/kinds/mesos_marathon/probe';
import { base, ms } from '../../src/rpc/wire';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { endServiceRun } from '../support/instanceHosts';
import { freePort, startServiceProcess, type ServiceProcess } from '../support/serviceProcess';
import { authz, TEST_SECRET } from '../support/tokens';
import { until } from '../support/until';

jest.setTimeout(15 * 60_000);

const ROOT = path.resolve(__dirname, '../..');
const HELPER = path.join(ROOT, 'scripts/test-ssh-host');
const HELPER_ENV = { ...process.env, MS_TEST_BRIDGE: 'msbr2', MS_TEST_NET: '10.218.0' };
const HOST = { name: 'ms-mz-h1', address: '10.218.0.31' };

/** What ZooKeeper on the test host answers `ruok`, asked from inside the host (not over SSH). */
function ruok(): string {
  const result = spawnSync(HELPER, ['exec', HOST.name, 'python3', '-c', PROBE_SCRIPT, 'ruok', HOST.address, '2181'], { encoding: 'utf8', env: HELPER_ENV });
  return `${result.stdout.trim()}${result.status === 0 ? '' : ` (exit ${result.status}: ${result.stderr.trim()})`}`;
}

describe('a MESOS_MARATHON cluster on a host reached over SSH, on a machine without Mesos packages', () => {
  let database: TestDatabase;
  let service: ServiceProcess | undefined;
  let clients: ServiceClients | undefined;
  let token: base.AuthzToken;
  let clusterId = '';
  let hostUp = false;

  const api = (): ServiceClients => {
    if (!clients) throw new Error('service not started');
    return clients;
  };
  const story = async () => (await api().cluster.getClusterEvents(token, clusterId, new Int64(0)))
    .filter((e) => e.kind !== 'task_start').map((e) => `${e.kind} ${e.host ?? ''} ${e.task ?? ''}: ${e.message}`);

  beforeAll(async () => {
    database = await createTestDatabase({ migrate: false });
    const dataDir = mkdtempSync(path.join(tmpdir(), 'ms-mesos-'));
    const port = await freePort();
    token = await authz('gw-mesos', 'operator');
    service = await startServiceProcess({
      DATABASE_URL: database.url, DATA_DIR: dataDir, THRIFT_PORT: String(port), AUTH_HS256_SECRET: TEST_SECRET,
      MONITOR_INTERVAL_MS: '500', LOG_LEVEL: 'info',
    });
    clients = await connectClients({ host: '127.0.0.1', port });
    const authorized = path.join(dataDir, 'authorized_keys');
    writeFileSync(authorized, `${(await api().cluster.getGatewaySSHPublicKey(token)).trim()}\n`, { mode: 0o600 });
    execFileSync(HELPER, ['up', HOST.name, HOST.address, authorized], { env: HELPER_ENV });
    hostUp = true;
  });

  afterAll(async () => {
    try {
      await endServiceRun(clients, token, clusterId, service);
    } finally {
      if (hostUp) spawnSync(HELPER, ['down', HOST.name], { env: HELPER_ENV });
      await database?.drop();
    }
  });

  it('deploys ZooKeeper for real, then ends FAILED at configure naming the missing Mesos package source; never READY', async () => {
    clusterId = await api().cluster.createCluster(token, new ms.ClusterSpec({
      name: 'mesos', kind: ms.ClusterKind.MESOS_MARATHON, provider: ms.ProviderType.STATIC,
      hosts: [new ms.HostSpec({ address: HOST.address, roles: ['controller', 'worker'] })],
    }));
    const seen = new Set<ms.ClusterState>();
    const failed = await until('the cluster to end its create', 600_000, async () => {
      const c = await api().cluster.getCluster(token, clusterId);
      seen.add(c.state);
      if (c.state === ms.ClusterState.READY) throw new Error('a Mesos cluster without Mesos packages became READY');
      return c.state === ms.ClusterState.FAILED ? c : undefined;
    }, 1000);
    expect(seen.has(ms.ClusterState.READY)).toBe(false);
    const configure = failed.failures.filter((f) => f.step === 'configure');
    expect(configure.length).toBeGreaterThan(0);
    expect(configure.map((f) => f.message).join('\n')).toContain('mesos_package_source');
    expect(failed.stateReason).toContain('mesos_package_source');
    // ZooKeeper was deployed and proven by the role before Mesos was reached, and serves.
    const events = await story();
    expect(events.join('\n')).toMatch(/ZooKeeper/i);
    expect(ruok()).toBe('imok');
  });

  it('refuses at submit what the kind can never run, naming the field, whatever the cluster state', async () => {
    const submit = (extra: Partial<ms.IJobSpecArgs>) => api().job.submitJob(token, new ms.JobSpec({
      jobName: 'j', parallelism: base.ApplicationParallelismType.SERIAL, command: ['/bin/true'], clusterId, ...extra,
    }));
    const mpi = await submit({ parallelism: base.ApplicationParallelismType.MPI, totalCPUCount: 2 }).catch((e: unknown) => e);
    expect(mpi).toBeInstanceOf(base.InvalidRequestException);
    expect((mpi as Error).message).toContain('spec.parallelism');
    expect((mpi as Error).message).toContain('MESOS_MARATHON) runs SERIAL jobs only, not MPI');
    // A job it could run still finds the cluster FAILED.
    const service = await submit({ jobType: ms.JobType.SERVICE }).catch((e: unknown) => e);
    expect((service as Error).message).toContain('spec.clusterId');
    expect((service as Error).message).toContain('FAILED');
    // Nothing was recorded for either.
    expect(await api().job.listJobs(token, clusterId)).toEqual([]);
  });

  it('undoes what it deployed when deleted: ZooKeeper stopped on the host', async () => {
    await api().cluster.deleteCluster(token, clusterId);
    await until('TERMINATED', 300_000, async () => {
      const c = await api().cluster.getCluster(token, clusterId);
      return c.state === ms.ClusterState.TERMINATED ? c : undefined;
    }, 1000);
    expect(ruok()).not.toBe('imok');
  });
});
