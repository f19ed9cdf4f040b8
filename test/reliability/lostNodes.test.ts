// Lost nodes: a STATIC Slurm cluster of two test hosts of this file's own (scripts/test-ssh-host on
// bridge msbr12, 10.221.0.0/24: ms-lost-h1 controller and worker, ms-lost-h2 worker), built through
// the service as a process, then its worker lost three ways while the node health watch
// (src/workflows/nodeHealth.ts) reads Slurm's node states every 2 s:
//   (a) slurmd on the worker SIGKILLed while a long job runs there: the node shows lost with Slurm's
//       reason in getCluster, the cluster goes DEGRADED naming it, the job ends with Slurm's verdict
//       (requeued: QUEUED, or NODE_FAIL: FAILED), the job on the controller is untouched (no
//       UNKNOWN); slurmd started again: the cluster READY, the mark gone;
//   (b) the worker's network cut (its veth on the bridge down): DEGRADED, then DOWN in Slurm; link
//       up: READY;
//   (c) a reboot without its daemons (munged and slurmd both killed): DEGRADED, then DOWN in Slurm;
//       both started: READY.
// SlurmdTimeout is 10 s (clusterOptions slurm_slurmd_timeout), ReturnToService 2 (our default: a
// node DOWN for not responding returns when its slurmd registers). Timings are printed, never
// asserted: fault -> DEGRADED, fault -> the job's verdict, repair -> READY.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { connectClients, type ServiceClients } from '../../src/client/connect';
import { base, ms } from '../../src/rpc/wire';
import { clusterStory } from '../support/clusterStory';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { freePort, startServiceProcess, type ServiceProcess } from '../support/serviceProcess';
import { authz, TEST_SECRET } from '../support/tokens';
import { until } from '../support/until';

jest.setTimeout(15 * 60_000);

const ROOT = path.resolve(__dirname, '../..');
const HELPER = path.join(ROOT, 'scripts/test-ssh-host');
// Our own bridge and network, so nothing here meets another file's test hosts.
const HELPER_ENV = { ...process.env, MS_TEST_BRIDGE: 'msbr12', MS_TEST_NET: '10.221.0' };
const CONTROLLER = { name: 'ms-lost-h1', address: '10.221.0.71' };
const WORKER = { name: 'ms-lost-h2', address: '10.221.0.72' };
/** The worker's Slurm node name, as our inventory makes it (src/kinds/slurm/nodeName.ts). */
const WORKER_NODE = WORKER.address.replace(/\./g, '-');
const GATEWAY = 'gw-lost';
const { JobState } = base;

const print = (line: string): void => {
  process.stdout.write(`${line}\n`);
};
const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/** Runs a command inside a test host's namespaces. */
function inHost(host: string, argv: string[]): { status: number | null; stdout: string; stderr: string } {
  // stdio of a daemon started here must not hold our pipes open: it daemonizes and closes them.
  const result = spawnSync(HELPER, ['exec', host, ...argv], { env: HELPER_ENV, encoding: 'utf8', timeout: 60_000 });
  return { status: result.status, stdout: result.stdout ?? '', stderr: result.stderr ?? '' };
}

/**
 * The pid a daemon of the host wrote into its pid file (the host's own /run), checked to be that
 * daemon: the process table is this machine's, shared with every other test host.
 */
function daemonPid(host: string, pidFile: string, comm: string): number {
  const read = inHost(host, ['cat', pidFile]);
  const pid = Number(read.stdout.trim());
  if (read.status !== 0 || !Number.isInteger(pid) || pid <= 1) throw new Error(`no ${comm} pid in ${pidFile} on ${host}: ${read.stderr.trim()}`);
  const actual = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  if (actual !== comm) throw new Error(`pid ${pid} of ${pidFile} on ${host} is ${actual}, not ${comm}`);
  return pid;
}

function killDaemon(host: string, pidFile: string, comm: string): void {
  process.kill(daemonPid(host, pidFile, comm), 'SIGKILL');
}

const SLURMD_PID = `/run/slurmd-${WORKER_NODE}.pid`;
const MUNGED_PID = '/run/munge/munged.pid';

function startSlurmd(): void {
  const started = inHost(WORKER.name, ['/usr/sbin/slurmd', '-N', WORKER_NODE]);
  if (started.status !== 0) throw new Error(`slurmd did not start on ${WORKER.name}: ${started.stderr.trim()}`);
}

function setWorkerLink(state: 'up' | 'down'): void {
  execFileSync('ip', ['link', 'set', 'dev', `msv-${WORKER.name}`, state]);
}

describe('lost nodes: a worker of a STATIC Slurm cluster lost (slurmd killed, network cut, rebooted) and back', () => {
  let database: TestDatabase | undefined;
  let dataDir: string | undefined;
  let service: ServiceProcess | undefined;
  let clients: ServiceClients | undefined;
  let token: base.AuthzToken;
  let clusterId = '';
  const up: string[] = [];
  let linkDown = false;
  const timings: string[] = [];
  const started = Date.now();

  const api = (): ServiceClients => {
    if (!clients) throw new Error('service not started');
    return clients;
  };
  const cluster = (): Promise<ms.Cluster> => api().cluster.getCluster(token, clusterId);
  const story = (): Promise<string> => clusterStory(api(), token, clusterId).catch((error: unknown) => `(no story: ${String(error)})`);

  /** Waits for the cluster's state; FAILED ends the wait with the cluster's story. */
  async function clusterIn(state: ms.ClusterState, timeoutMs: number): Promise<ms.Cluster> {
    try {
      return await until(ms.ClusterState[state], timeoutMs, async () => {
        const c = await cluster();
        if (c.state === ms.ClusterState.FAILED) throw new Error(`cluster FAILED: ${c.stateReason}`);
        return c.state === state ? c : undefined;
      }, 250);
    } catch (error) {
      throw new Error(`${(error as Error).message}\n${await story()}`);
    }
  }

  /**
   * Waits until Slurm has set the lost worker DOWN (after SlurmdTimeout), so that what follows is a
   * DOWN node's return (ReturnToService), not a ping that merely came late.
   */
  async function slurmSaysDown(label: string, faultAt: number): Promise<void> {
    const down = await until('Slurm to set the worker DOWN', 120_000, async () => {
      const worker = (await cluster()).nodes.find((n) => n.address === WORKER.address);
      return worker?.lostReason?.includes('DOWN') ? worker.lostReason : undefined;
    }, 250);
    print(`lostNodes| ${label} fault -> Slurm DOWN in ${seconds(Date.now() - faultAt)}: ${down}`);
  }

  /** The fault, then DEGRADED with the worker marked lost, then the repair, then READY with no mark. */
  async function loseAndRecover(label: string, fault: () => void, repair: () => void, duringLoss?: (faultAt: number) => Promise<void>): Promise<void> {
    const faultAt = Date.now();
    fault();
    const degraded = await clusterIn(ms.ClusterState.DEGRADED, 120_000);
    const degradedMs = Date.now() - faultAt;
    print(`lostNodes| ${label}: fault -> DEGRADED in ${seconds(degradedMs)}: ${degraded.stateReason}`);
    expect(degraded.stateReason).toContain(WORKER.address);
    expect(degraded.stateReason).toMatch(/node\(s\) lost in Slurm: .*Slurm: [A-Z_+]+/);
    const worker = degraded.nodes.find((n) => n.address === WORKER.address);
    const controller = degraded.nodes.find((n) => n.address === CONTROLLER.address);
    // Still ours and configured: only not answering (a machine gone would be FAILED).
    expect(worker && ms.NodeState[worker.state]).toBe('CONFIGURED');
    expect(worker?.lostReason).toMatch(/^Slurm: /);
    expect(worker?.lostSince?.toNumber()).toBeGreaterThan(0);
    expect(controller?.lostReason).toBeUndefined();
    if (duringLoss) await duringLoss(faultAt);
    const repairAt = Date.now();
    repair();
    const ready = await clusterIn(ms.ClusterState.READY, 180_000);
    const readyMs = Date.now() - repairAt;
    print(`lostNodes| ${label}: repair -> READY in ${seconds(readyMs)}: ${ready.stateReason}`);
    timings.push(`${label}: fault -> DEGRADED ${seconds(degradedMs)}, repair -> READY ${seconds(readyMs)}`);
    expect(ready.stateReason).toContain(WORKER.address);
    expect(ready.nodes.map((n) => [n.address, ms.NodeState[n.state], n.lostReason])).toEqual([
      [CONTROLLER.address, 'CONFIGURED', undefined], [WORKER.address, 'CONFIGURED', undefined],
    ]);
  }

  beforeAll(async () => {
    database = await createTestDatabase({ migrate: false });
    dataDir = mkdtempSync(path.join(tmpdir(), 'ms-lost-'));
    const port = await freePort();
    token = await authz(GATEWAY, 'operator');
    service = await startServiceProcess({
      DATABASE_URL: database.url, DATA_DIR: dataDir, THRIFT_PORT: String(port), AUTH_HS256_SECRET: TEST_SECRET,
      MONITOR_INTERVAL_MS: '1000', NODE_HEALTH_INTERVAL_MS: '2000', LOG_LEVEL: 'info',
    });
    clients = await connectClients({ host: '127.0.0.1', port });
    const authorized = path.join(dataDir, 'authorized_keys');
    writeFileSync(authorized, `${(await api().cluster.getGatewaySSHPublicKey(token)).trim()}\n`, { mode: 0o600 });
    for (const host of [CONTROLLER, WORKER]) {
      execFileSync(HELPER, ['up', host.name, host.address, authorized], { env: HELPER_ENV });
      up.push(host.name);
    }
  });

  afterAll(async () => {
    // No delete: taking a test host down stops every daemon it runs (slurmctld, slurmd, munged).
    try {
      if (linkDown) spawnSync('ip', ['link', 'set', 'dev', `msv-${WORKER.name}`, 'up']);
      clients?.close();
      service?.child.kill('SIGTERM');
      if (service) await service.exited;
    } finally {
      for (const host of up.reverse()) {
        const down = spawnSync(HELPER, ['down', host], { env: HELPER_ENV, encoding: 'utf8' });
        if (down.status !== 0) print(`lostNodes| test-ssh-host down ${host} failed: ${down.stderr.trim()}`);
      }
      await database?.drop();
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
      print(`lostNodes| timings: ${timings.join('; ')}; whole file ${seconds(Date.now() - started)}`);
    }
  });

  it('builds a STATIC Slurm cluster (controller+worker, worker) to READY with SlurmdTimeout=10', async () => {
    const buildAt = Date.now();
    clusterId = await api().cluster.createCluster(token, new ms.ClusterSpec({
      name: 'lost', kind: ms.ClusterKind.SLURM, provider: ms.ProviderType.STATIC,
      hosts: [
        new ms.HostSpec({ address: CONTROLLER.address, roles: ['controller', 'worker'] }),
        new ms.HostSpec({ address: WORKER.address, roles: ['worker'] }),
      ],
      clusterOptions: new Map([
        ['slurm_slurmd_timeout', '10'], ['slurm_return_to_service', '2'], ['slurm_min_job_age', '10'],
        ['openmpi_tcp_networks', '10.221.0.0/24'],
      ]),
    }));
    const ready = await clusterIn(ms.ClusterState.READY, 600_000);
    timings.push(`build ${seconds(Date.now() - buildAt)}`);
    print(`lostNodes| built READY in ${seconds(Date.now() - buildAt)}`);
    expect(ready.nodes.map((n) => [n.address, ms.NodeState[n.state], n.lostReason])).toEqual([
      [CONTROLLER.address, 'CONFIGURED', undefined], [WORKER.address, 'CONFIGURED', undefined],
    ]);
  });

  it('(a) slurmd killed under a running job: DEGRADED, the job gets Slurm\'s verdict; slurmd back: READY', async () => {
    expect(clusterId).not.toBe('');
    // Two jobs that each fill a node (every CPU Slurm counts on the worker), so one runs on the
    // worker and one on the controller.
    const counted = inHost(CONTROLLER.name, ['sinfo', '--noheader', '--Node', `--nodes=${WORKER_NODE}`, '--format=%c']).stdout.trim().split('\n')[0];
    const perNode = Number(counted);
    if (!Number.isInteger(perNode) || perNode < 1) throw new Error(`sinfo gave no CPU count for ${WORKER_NODE}: ${JSON.stringify(counted)}`);
    const submit = (name: string): Promise<ms.JobHandle> => api().job.submitJob(token, new ms.JobSpec({
      jobName: name, parallelism: base.ApplicationParallelismType.OPENMP, command: ['/bin/sleep', '600'], clusterId, totalCPUCount: perNode,
    }));
    const jobs = [(await submit('long-1')).jobId, (await submit('long-2')).jobId];
    const stateOf = async (jobId: string): Promise<base.JobStatus | undefined> => (await api().job.getJob(token, jobId)).jobStatuses?.at(-1);
    await until('both jobs ACTIVE', 120_000, async () => {
      const states = await Promise.all(jobs.map(stateOf));
      return states.every((s) => s?.jobState === JobState.ACTIVE) ? true : undefined;
    });
    // Slurm's own view: which of them runs on the worker.
    const squeue = inHost(CONTROLLER.name, ['squeue', '--noheader', '--format=%j|%N|%T']).stdout;
    print(`lostNodes| (a) squeue before the fault:\n${squeue.trim()}`);
    const onWorker = jobs.find((id) => squeue.split('\n').some((line) => line.startsWith(`ms-${id}|`) && line.includes(WORKER_NODE)));
    const onController = jobs.find((id) => id !== onWorker);
    if (!onWorker || !onController) throw new Error(`no job of ours runs on ${WORKER_NODE} alone:\n${squeue}`);

    await loseAndRecover('(a) slurmd killed', () => killDaemon(WORKER.name, SLURMD_PID, 'slurmd'), startSlurmd, async (faultAt) => {
      // Slurm's verdict on the worker's job once the node is DOWN: requeued (QUEUED) or NODE_FAIL (FAILED).
      const verdict = await until('the worker job\'s verdict', 180_000, async () => {
        const s = await stateOf(onWorker);
        return s && s.jobState !== JobState.ACTIVE ? s : undefined;
      });
      print(`lostNodes| (a) fault -> job verdict in ${seconds(Date.now() - faultAt)}: ${JobState[verdict.jobState]} (${verdict.reason})`);
      timings.push(`(a) fault -> job verdict ${seconds(Date.now() - faultAt)} (${JobState[verdict.jobState]})`);
      expect([JobState.QUEUED, JobState.FAILED]).toContain(verdict.jobState);
      expect(verdict.reason).toMatch(verdict.jobState === JobState.FAILED ? /NODE_FAIL/ : /^Slurm: (PENDING|REQUEUED).*requeued after NODE_FAIL/);
      // The controller's job runs on: nothing forgotten, nothing UNKNOWN.
      expect((await stateOf(onController))?.jobState).toBe(JobState.ACTIVE);
    });
    const histories = await Promise.all(jobs.map(async (id) => ((await api().job.getJob(token, id)).jobStatuses ?? []).map((s) => JobState[s.jobState])));
    print(`lostNodes| (a) histories: ${histories.map((h) => h.join(' > ')).join(' | ')}`);
    for (const history of histories) expect(history).not.toContain('UNKNOWN');
    for (const id of jobs) await api().job.cancelJob(token, id).catch(() => undefined);
    await until('both jobs ended', 120_000, async () => {
      const states = await Promise.all(jobs.map(stateOf));
      return states.every((s) => s && [JobState.CANCELED, JobState.FAILED, JobState.COMPLETE].includes(s.jobState)) ? true : undefined;
    });
  });

  it('(b) the worker\'s network cut: DEGRADED; restored: READY', async () => {
    expect(clusterId).not.toBe('');
    await loseAndRecover('(b) network cut', () => {
      linkDown = true;
      setWorkerLink('down');
    }, () => {
      setWorkerLink('up');
      linkDown = false;
    }, (faultAt) => slurmSaysDown('(b)', faultAt));
  });

  it('(c) the worker rebooted without its daemons (munged and slurmd gone): DEGRADED; daemons started: READY', async () => {
    expect(clusterId).not.toBe('');
    await loseAndRecover('(c) reboot, daemons gone', () => {
      killDaemon(WORKER.name, SLURMD_PID, 'slurmd');
      killDaemon(WORKER.name, MUNGED_PID, 'munged');
    }, () => {
      const munged = inHost(WORKER.name, ['runuser', '-u', 'munge', '--', '/usr/sbin/munged']);
      if (munged.status !== 0) throw new Error(`munged did not start on ${WORKER.name}: ${munged.stderr.trim()}`);
      startSlurmd();
    }, (faultAt) => slurmSaysDown('(c)', faultAt));
    const events = await story();
    const health = events.split('\n').filter((line) => line.startsWith('health '));
    print(`lostNodes| health events:\n${health.join('\n')}`);
    // Each loss and each return is in the cluster's event log.
    expect(health.filter((line) => /: node \S+ lost: Slurm: /.test(line))).toHaveLength(3);
    expect(health.filter((line) => line.includes('answers again'))).toHaveLength(3);
  });
});
