// An HPC system we do not own (scripts/test-hpc-site: a Slurm site on two namespace machines, a login
// node and a second compute node, with a non-root community account), registered and used through
// the Thrift API against the service as a process, which reaches the site only over SSH as that
// account. Direct mode: serial, 2-node MPI, a failing exit code, a cancel, the SSH connection cut
// mid-monitor, the service SIGKILLed between sbatch and recording the id. Pilot mode: a 2-node pilot
// where two jobs start at once, one that reaches its wall time with a job inside, a release.
// Placement across the HPC system and a live pilot: serial, MPI, too large, a busy pilot.
// Unregistering cancels our jobs there and touches nothing else.
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import Int64 from 'node-int64';
import * as path from 'node:path';
import { connectClients, type ServiceClients } from '../../src/client/connect';
import { base, ms } from '../../src/rpc/wire';
import { createTestDatabase, type TestDatabase } from '../support/database';
import {
  asSiteUser, hpcSiteDown, hpcSiteUp, killSiteSessions, LOGIN_ADDRESS, LOGIN_HOST, rekeySiteHost, SCRATCH, SITE_BRIDGE, SITE_HOME, SITE_NET,
  SITE_UID, SITE_USER, siteSqueue,
} from '../support/hpcSite';
import { freePort, startServiceProcess, type ServiceProcess } from '../support/serviceProcess';
import { authz, TEST_SECRET } from '../support/tokens';
import { sleep, until } from '../support/until';

jest.setTimeout(15 * 60_000);

const { JobState } = base;
const END = new Set([JobState.COMPLETE, JobState.FAILED, JobState.CANCELED]);
/** Where the site's sbatch wrapper (installed by this test, as a site's own tools would be) lives. */
const SITE_BIN = path.join(SITE_HOME, 'bin');
/** While this file exists, the wrapper holds sbatch's answer back (a slow site). */
const SLOW_FLAG = path.join(SITE_HOME, 'slow-sbatch');
const SBATCH_CALLS = path.join(SITE_HOME, 'sbatch-calls.log');
/** A machine of our own beside the site, where the service builds a Slurm cluster of its own. */
const OWN_HOST = { name: 'hpc-own', address: `${SITE_NET}.20` };
const HOST_HELPER = path.resolve(__dirname, '../../scripts/test-ssh-host');
const ownHost = (action: string[]) => spawnSync(HOST_HELPER, action, {
  encoding: 'utf8', env: { ...process.env, MS_TEST_BRIDGE: SITE_BRIDGE, MS_TEST_NET: SITE_NET },
});

describe('an HPC system reached over SSH as its community account', () => {
  let database: TestDatabase;
  let service: ServiceProcess | undefined;
  let clients: ServiceClients | undefined;
  let token: base.AuthzToken;
  let env: Record<string, string>;
  let clusterId = '';
  let ownClusterId = '';
  let authorized = '';

  const api = (): ServiceClients => {
    if (!clients) throw new Error('service not started');
    return clients;
  };
  const start = async (): Promise<void> => {
    service = await startServiceProcess(env);
    clients = await connectClients({ host: '127.0.0.1', port: Number(env.THRIFT_PORT) });
  };
  const job = (jobId: string) => api().job.getJob(token, jobId);
  const lastState = async (jobId: string) => (await job(jobId)).jobStatuses?.at(-1)?.jobState;
  const ended = (jobId: string, timeoutMs = 180_000) => until(`job ${jobId} to end`, timeoutMs, async () => {
    const model = await job(jobId);
    const last = model.jobStatuses?.at(-1)?.jobState;
    return last !== undefined && END.has(last) ? model : undefined;
  });
  const inState = (jobId: string, state: base.JobState, timeoutMs = 120_000) => until(`job ${jobId} ${JobState[state]}`, timeoutMs, async () => {
    const model = await job(jobId);
    return model.jobStatuses?.some((s) => s.jobState === state) ? model : undefined;
  });
  const states = (model: base.JobModel) => (model.jobStatuses ?? []).map((s) => JobState[s.jobState]);
  const spec = (name: string, command: string[], extra: Partial<ms.IJobSpecArgs> = {}) =>
    new ms.JobSpec({ jobName: name, parallelism: base.ApplicationParallelismType.SERIAL, command, ...extra });
  const submit = (name: string, command: string[], extra: Partial<ms.IJobSpecArgs> = {}) =>
    api().job.submitJob(token, spec(name, command, { clusterId, ...extra }));
  const clusterIn = (id: string, wanted: ms.ClusterState[], timeoutMs = 120_000) => until(`cluster ${id} in ${wanted.map((s) => ms.ClusterState[s])}`, timeoutMs, async () => {
    const c = await api().cluster.getCluster(token, id);
    return wanted.includes(c.state) ? c : undefined;
  });
  const register = (name: string, options: Record<string, string>) => api().cluster.createCluster(token, new ms.ClusterSpec({
    name, kind: ms.ClusterKind.SLURM, provider: ms.ProviderType.HPC_PILOT,
    hosts: [new ms.HostSpec({ address: LOGIN_ADDRESS, sshUser: SITE_USER })],
    providerOptions: new Map(Object.entries(options)),
  }));
  const allocation = (id: string) => api().provisioning.getAllocation(token, id);
  const allocationIn = (id: string, wanted: string[], timeoutMs = 120_000) => until(`allocation ${id} in ${wanted}`, timeoutMs, async () => {
    const a = await allocation(id);
    return wanted.includes(a.state) ? a : undefined;
  });
  const pilot = (nodes: number, wallMinutes: number) => api().provisioning.provisionResources(token, new ms.ResourceRequest({
    provider: ms.ProviderType.HPC_PILOT, count: nodes,
    providerOptions: new Map([['clusterId', clusterId], ['partition', 'compute'], ['wallTimeMinutes', String(wallMinutes)]]),
  }));
  /** A file the site account owns (the test's own set-up of the site, as its admins would). */
  const siteFile = (file: string, text: string, mode = 0o644): void => {
    writeFileSync(file, text, { mode });
    chmodSync(file, mode);
    chownSync(file, SITE_UID, SITE_UID);
  };
  const sbatchCalls = (jobId: string): number => (existsSync(SBATCH_CALLS) ? readFileSync(SBATCH_CALLS, 'utf8') : '')
    .split('\n').filter((line) => line.includes(`ms-${jobId}`)).length;

  beforeAll(async () => {
    database = await createTestDatabase({ migrate: false });
    const dataDir = mkdtempSync(path.join(tmpdir(), 'ms-hpc-'));
    env = {
      DATABASE_URL: database.url, DATA_DIR: dataDir, THRIFT_PORT: String(await freePort()), AUTH_HS256_SECRET: TEST_SECRET,
      MONITOR_INTERVAL_MS: '500', LOG_LEVEL: 'info', HPC_MISSING_GRACE_MS: '5000',
    };
    token = await authz('gw-hpc', 'operator');
    await start();
    // The gateway's public key goes into the community account's authorized_keys, as an operator does.
    authorized = path.join(dataDir, 'authorized_keys');
    writeFileSync(authorized, `${(await api().cluster.getGatewaySSHPublicKey(token)).trim()}\n`, { mode: 0o600 });
    hpcSiteUp(authorized);
    // The site's own sbatch, as the account finds it first on its PATH: it logs each call, and is
    // slow to answer while the flag file exists (see the SIGKILL test).
    mkdirSync(SITE_BIN, { recursive: true });
    chownSync(SITE_BIN, SITE_UID, SITE_UID);
    siteFile(path.join(SITE_BIN, 'sbatch'), [
      '#!/bin/bash',
      `printf '%s\\n' "$*" >> ${SBATCH_CALLS}`,
      'out=$(/usr/bin/sbatch "$@" 2>&1); rc=$?',
      `if [ -e ${SLOW_FLAG} ]; then sleep 25; fi`,
      'printf "%s\\n" "$out"; exit $rc', '',
    ].join('\n'), 0o755);
    siteFile(path.join(SITE_HOME, '.bashrc'), `export PATH="${SITE_BIN}:$PATH"\n`);
  });

  afterAll(async () => {
    try {
      clients?.close();
      service?.child.kill('SIGTERM');
      if (service) await service.exited;
    } finally {
      ownHost(['down', OWN_HOST.name]);
      hpcSiteDown();
      await database?.drop();
    }
  });

  it('refuses to register a system whose partition the site does not have: FAILED, naming it', async () => {
    const id = await register('no-such-partition', { partitions: 'compute,gpu', scratchDir: SCRATCH });
    const c = await clusterIn(id, [ms.ClusterState.FAILED, ms.ClusterState.READY]);
    expect(ms.ClusterState[c.state]).toBe('FAILED');
    expect(c.stateReason).toMatch(/partition gpu is not in sinfo's list/);
    await api().cluster.deleteCluster(token, id);
    await clusterIn(id, [ms.ClusterState.TERMINATED]);
  });

  it('registers the system: READY only after proof over SSH, its partitions recorded', async () => {
    await expect(register('bad', { partitions: 'compute', scratchDir: 'relative/dir', colour: 'red' }))
      .rejects.toMatchObject({ message: expect.stringMatching(/scratchDir[\s\S]*colour|colour[\s\S]*scratchDir/) });
    clusterId = await register('expanse-like', { partitions: 'compute,debug', scratchDir: SCRATCH, 'env.SITE_GREETING': 'hello from the site' });
    const c = await clusterIn(clusterId, [ms.ClusterState.READY, ms.ClusterState.FAILED]);
    expect(c.stateReason).toMatch(/proven over SSH/);
    expect(ms.ClusterState[c.state]).toBe('READY');
    expect(c.accounting).toBe(false);
    const partitions = (c.partitions ?? []).map((p) => ({ name: p.name, nodes: p.nodes, maxTimeMinutes: p.maxTimeMinutes }));
    expect(partitions).toEqual([{ name: 'compute', nodes: 2, maxTimeMinutes: 60 }, { name: 'debug', nodes: 1, maxTimeMinutes: 10 }]);
    for (const p of c.partitions ?? []) {
      expect(p.cpusPerNode).toBeGreaterThan(0);
      expect(p.memoryMbPerNode).toBeGreaterThan(0);
    }
    // The service configured nothing there: no playbook ran.
    const events = await api().cluster.getClusterEvents(token, clusterId, new Int64(0));
    expect(events.some((e) => /playbook|\.yml/.test(e.message))).toBe(false);
  });

  it('runs a serial job as the account, in its scratch, with the site environment', async () => {
    const handle = await submit('serial', ['/bin/sh', '-c', 'hostname; id -un; echo "$SITE_GREETING"; pwd']);
    const model = await ended(handle.jobId);
    expect(states(model)).toEqual(['SUBMITTED', 'QUEUED', 'ACTIVE', 'COMPLETE']);
    expect(model.exitCode).toBe(0);
    const [host, user, greeting, dir] = (model.stdOut ?? '').trim().split('\n');
    expect(['hpc-login', 'hpc-node2']).toContain(host);
    expect(user).toBe(SITE_USER);
    expect(greeting).toBe('hello from the site');
    expect(dir).toBe(`${SCRATCH}/airavata-ms/${handle.jobId}`);
  });

  it('runs a 2-node MPI job across both machines', async () => {
    const handle = await submit('mpi', ['hostname'], { parallelism: base.ApplicationParallelismType.MPI, nodeCount: 2, totalCPUCount: 2 });
    const model = await ended(handle.jobId);
    expect(states(model).at(-1)).toBe('COMPLETE');
    expect((model.stdOut ?? '').trim().split('\n').sort()).toEqual(['hpc-login', 'hpc-node2']);
  });

  it('ends a job exiting 3 FAILED with exitCode 3, read from its exit record (the site keeps no accounting)', async () => {
    const model = await ended((await submit('three', ['/bin/sh', '-c', 'exit 3'])).jobId);
    expect(states(model)).toEqual(['SUBMITTED', 'QUEUED', 'ACTIVE', 'FAILED']);
    expect(model.exitCode).toBe(3);
  });

  it('cancels a running job: CANCELED, and the site no longer runs it', async () => {
    const handle = await submit('sleeper', ['/bin/sleep', '300']);
    const active = await inState(handle.jobId, JobState.ACTIVE);
    await api().job.cancelJob(token, handle.jobId);
    const model = await ended(handle.jobId);
    expect(states(model)).toEqual(['SUBMITTED', 'QUEUED', 'ACTIVE', 'CANCELED']);
    await until('the site to stop the job', 60_000, async () => {
      const entry = siteSqueue().find((e) => e.jobId === active.jobId || e.name === `ms-${handle.jobId}`);
      return entry === undefined || !['PENDING', 'RUNNING'].includes(entry.state) ? true : undefined;
    });
  });

  it('recovers when its SSH connection is cut mid-monitor: the job is neither lost nor run twice', async () => {
    const handle = await submit('through-a-cut', ['/bin/sh', '-c', 'echo run >> runs.txt; sleep 8; echo done']);
    await inState(handle.jobId, JobState.ACTIVE);
    expect(killSiteSessions()).toBeGreaterThan(0);
    const model = await ended(handle.jobId);
    expect(states(model)).toEqual(['SUBMITTED', 'QUEUED', 'ACTIVE', 'COMPLETE']);
    expect(model.stdOut).toBe('done\n');
    expect(readFileSync(`${SCRATCH}/airavata-ms/${handle.jobId}/runs.txt`, 'utf8')).toBe('run\n');
    expect(sbatchCalls(handle.jobId)).toBe(1);
  });

  it('adopts the job a SIGKILL left between sbatch and recording its id', async () => {
    siteFile(SLOW_FLAG, '');
    const handle = await submit('killed-mid-dispatch', ['/bin/sh', '-c', 'echo run >> runs.txt']);
    // sbatch has queued it at the site; the service is still waiting for sbatch's answer.
    await until('the site to have the job', 60_000, async () => (siteSqueue().some((e) => e.name === `ms-${handle.jobId}`) ? true : undefined), 200);
    expect(JobState[await lastState(handle.jobId) ?? JobState.UNKNOWN]).toBe('SUBMITTED');
    service?.child.kill('SIGKILL');
    expect(await service?.exited).toBe('SIGKILL');
    clients?.close();
    rmSync(SLOW_FLAG);
    await start();
    const model = await ended(handle.jobId);
    expect(states(model).at(-1)).toBe('COMPLETE');
    expect(model.jobStatuses?.find((s) => s.jobState === JobState.QUEUED)?.reason).toMatch(/found already queued/);
    expect(sbatchCalls(handle.jobId)).toBe(1);
    expect(readFileSync(`${SCRATCH}/airavata-ms/${handle.jobId}/runs.txt`, 'utf8')).toBe('run\n');
  });

  it('builds a Slurm cluster of its own on another machine beside the HPC system (a third kind of target)', async () => {
    const up = ownHost(['up', OWN_HOST.name, OWN_HOST.address, authorized]);
    expect(up.stderr).toBe('');
    ownClusterId = await api().cluster.createCluster(token, new ms.ClusterSpec({
      name: 'own', kind: ms.ClusterKind.SLURM, provider: ms.ProviderType.STATIC,
      hosts: [new ms.HostSpec({ address: OWN_HOST.address, roles: ['controller', 'worker'] })],
      clusterOptions: new Map([['slurm_min_job_age', '10']]),
    }));
    const own = await clusterIn(ownClusterId, [ms.ClusterState.READY, ms.ClusterState.FAILED], 600_000);
    expect([ms.ClusterState[own.state], own.stateReason]).toEqual(['READY', 'every host configured and verified']);
  });

  let pilotId = '';

  it('holds 2 nodes in a pilot; two jobs start inside it at once, without queueing at the site', async () => {
    await expect(pilot(3, 5)).rejects.toMatchObject({ message: expect.stringContaining('request.count') });
    await expect(pilot(2, 500)).rejects.toMatchObject({ message: expect.stringContaining('wallTimeMinutes') });
    pilotId = await pilot(2, 5);
    const active = await allocationIn(pilotId, ['ACTIVE', 'ENDED', 'FAILED']);
    expect(active.state).toBe('ACTIVE');
    expect(active.nodes.map((n) => n.address).sort()).toEqual(['hpc-login', 'hpc-node2']);
    expect(active.endTime).toBeDefined();
    const placeholder = active.nativeJobId;
    // Meta-scheduled (no clusterId): placement puts both into the pilot.
    const handles = await Promise.all(['p1', 'p2'].map((name) => api().job.submitJob(token, spec(name, ['/bin/sh', '-c', 'sleep 6; hostname']))));
    const models = await Promise.all(handles.map((h) => inState(h.jobId, JobState.ACTIVE, 60_000)));
    for (const model of models) {
      expect(model.jobStatuses?.[0]?.reason).toMatch(new RegExp(`pilot ${pilotId}`));
      const submitted = Number(model.jobStatuses?.[0]?.timeOfStateChange);
      const activeAt = Number(model.jobStatuses?.find((s) => s.jobState === JobState.ACTIVE)?.timeOfStateChange);
      // What the issue asks to show: the start latency inside a pilot (no second queue wait).
      console.log(`pilot job ${model.jobId}: SUBMITTED -> ACTIVE in ${activeAt - submitted} ms`);
    }
    // Both ran at the same time, as steps of the placeholder, and no new batch job was queued.
    const done = await Promise.all(handles.map((h) => ended(h.jobId)));
    const spans = done.map((m) => ({
      from: Number(m.jobStatuses?.find((s) => s.jobState === JobState.ACTIVE)?.timeOfStateChange),
      to: Number(m.jobStatuses?.at(-1)?.timeOfStateChange),
    }));
    expect(spans[0].from).toBeLessThan(spans[1].to);
    expect(spans[1].from).toBeLessThan(spans[0].to);
    for (const m of done) {
      expect(states(m).at(-1)).toBe('COMPLETE');
      expect(m.jobId).toBeDefined();
    }
    for (const h of handles) expect(sbatchCalls(h.jobId)).toBe(0);
    expect(placeholder).toMatch(/^\d+$/);
  });

  /** Jobs the busy pilot sent to the site's queue: they run once the pilot lets its nodes go. */
  const queuedBehindPilot: string[] = [];

  it('places by fit across our own cluster, the HPC system and the live pilot; a busy target sends work on', async () => {
    const reasonOf = async (jobId: string) => (await job(jobId)).jobStatuses?.[0]?.reason ?? '';
    const meta = (name: string, command: string[], extra: Partial<ms.IJobSpecArgs> = {}) => api().job.submitJob(token, spec(name, command, extra));
    // 2-node MPI: not in the pilot (single-task steps), not on our one-node cluster: the HPC system.
    const mpi = await meta('mpi-placed', ['hostname'], { parallelism: base.ApplicationParallelismType.MPI, nodeCount: 2, totalCPUCount: 2 });
    expect(mpi.clusterId).toBe(clusterId);
    expect(await reasonOf(mpi.jobId)).toMatch(/MPI/);
    // 1-node MPI: our own cluster has free CPUs, no queue to wait in.
    const mpiOwn = await meta('mpi-own', ['hostname'], { parallelism: base.ApplicationParallelismType.MPI, nodeCount: 1, totalCPUCount: 1 });
    expect(mpiOwn.clusterId).toBe(ownClusterId);
    // Nothing could ever run these: refused, naming the field.
    await expect(meta('huge', ['/bin/true'], { totalCPUCount: 100_000 })).rejects.toMatchObject({ message: expect.stringContaining('spec.totalCPUCount') });
    await expect(meta('too-long', ['/bin/true'], { parallelism: base.ApplicationParallelismType.MPI, nodeCount: 2, totalCPUCount: 2, wallTimeLimit: 600 }))
      .rejects.toMatchObject({ message: expect.stringMatching(/spec\.wallTimeLimit[\s\S]*MaxTime|spec\.nodeCount[\s\S]*spec\.wallTimeLimit/) });
    // 10 hours on one node: beyond every partition's MaxTime, so our own cluster (no such limit).
    const long = await meta('long-own', ['/bin/true'], { wallTimeLimit: 600 });
    expect(long.clusterId).toBe(ownClusterId);
    // Both are short: once they ended, our own cluster's CPUs are all free again.
    for (const h of [mpiOwn, long]) expect(states(await ended(h.jobId)).at(-1)).toBe('COMPLETE');
    // Fill the pilot, one serial job per CPU it holds: each starts inside it.
    const a = await allocation(pilotId);
    const site = await api().cluster.getCluster(token, clusterId);
    const pilotCpus = (site.partitions?.find((p) => p.name === 'compute')?.cpusPerNode ?? 1) * a.nodes.length;
    const inPilot = [];
    for (let i = 0; i < pilotCpus; i += 1) inPilot.push(await meta(`pilot-${i}`, ['/bin/sleep', '25']));
    for (const h of inPilot) expect(await reasonOf(h.jobId)).toMatch(new RegExp(`pilot ${pilotId}`));
    // The pilot is busy: our own cluster next, while it has free CPUs.
    const own = await api().cluster.getCluster(token, ownClusterId);
    expect(own.nodes).toHaveLength(1);
    const onOwn = [];
    for (;;) {
      const h = await meta(`own-${onOwn.length}`, ['/bin/sleep', '25']);
      if (h.clusterId !== ownClusterId) {
        // Both busy: the HPC system's queue, not behind the busy cluster.
        expect(h.clusterId).toBe(clusterId);
        expect(await reasonOf(h.jobId)).toMatch(/HPC system|expanse-like/);
        queuedBehindPilot.push(h.jobId);
        break;
      }
      onOwn.push(h);
      expect(onOwn.length).toBeLessThanOrEqual(64);
    }
    expect(onOwn.length).toBeGreaterThan(0);
    queuedBehindPilot.push(mpi.jobId);
    const finished = await Promise.all([...inPilot, ...onOwn].map((h) => ended(h.jobId)));
    for (const m of finished) expect(states(m).at(-1)).toBe('COMPLETE');
    for (const h of inPilot) expect(sbatchCalls(h.jobId)).toBe(0);
  });

  it('releases a pilot: its placeholder is cancelled, the job still inside ends CANCELED saying why', async () => {
    const inside = await api().job.submitJob(token, spec('in-released', ['/bin/sleep', '300']));
    await inState(inside.jobId, JobState.ACTIVE, 60_000);
    const placeholder = (await allocation(pilotId)).nativeJobId;
    await api().provisioning.releaseResources(token, pilotId);
    const ended_ = await allocationIn(pilotId, ['ENDED', 'FAILED']);
    expect(ended_.state).toBe('ENDED');
    expect(ended_.stateReason).toMatch(/released/);
    const model = await ended(inside.jobId);
    expect(states(model).at(-1)).toBe('CANCELED');
    expect(model.jobStatuses?.at(-1)?.reason).toMatch(new RegExp(`pilot ${pilotId} was released`));
    expect(siteSqueue().some((e) => e.jobId === placeholder && ['PENDING', 'RUNNING'].includes(e.state))).toBe(false);
    // The jobs that went to the site's queue while the pilot held every node run now, each once.
    for (const jobId of queuedBehindPilot) {
      expect(states(await ended(jobId)).at(-1)).toBe('COMPLETE');
      expect(sbatchCalls(jobId)).toBe(1);
    }
  });

  /**
   * Our own cluster's delete, asked for once: the wall-time test asks while the site's clock runs
   * out (a minute of waiting; the teardown on our own machine has nothing to do with the site), and
   * the delete test asks if that did not happen, then checks the result.
   */
  let ownDelete: Promise<void> | undefined;
  const deleteOwn = (): Promise<void> => {
    ownDelete ??= api().cluster.deleteCluster(token, ownClusterId);
    return ownDelete;
  };

  it('reports a job still inside a pilot that reached its wall time', async () => {
    const short = await pilot(1, 1);
    await allocationIn(short, ['ACTIVE']);
    const inside = await api().job.submitJob(token, spec('outlived', ['/bin/sleep', '600']));
    expect((await job(inside.jobId)).jobStatuses?.[0]?.reason).toMatch(new RegExp(`pilot ${short}`));
    // Placed in the pilot: our own cluster's teardown (the next test's) runs while the minute passes.
    await deleteOwn();
    const a = await allocationIn(short, ['ENDED', 'FAILED'], 240_000);
    expect(a.stateReason).toMatch(/wall time/);
    const model = await ended(inside.jobId, 120_000);
    expect(states(model).at(-1)).toBe('FAILED');
    expect(model.jobStatuses?.at(-1)?.reason).toMatch(/pilot .*(wall time|ended)/);
  });

  it('deletes our own cluster', async () => {
    await deleteOwn();
    expect(ms.ClusterState[(await clusterIn(ownClusterId, [ms.ClusterState.TERMINATED, ms.ClusterState.FAILED], 300_000)).state]).toBe('TERMINATED');
  });

  it('unregisters the system: our live jobs there cancelled, nothing else at the site touched', async () => {
    const running = await submit('at-delete', ['/bin/sleep', '300']);
    await inState(running.jobId, JobState.ACTIVE);
    await api().cluster.deleteCluster(token, clusterId);
    const c = await clusterIn(clusterId, [ms.ClusterState.TERMINATED, ms.ClusterState.FAILED]);
    expect(ms.ClusterState[c.state]).toBe('TERMINATED');
    expect(states(await ended(running.jobId))).toContain('CANCELED');
    await sleep(1000);
    // The site still answers and the account's files are where they were.
    expect(asSiteUser(['sinfo', '-h', '-o', '%P']).stdout).toMatch(/compute/);
    expect(existsSync(`${SCRATCH}/airavata-ms`)).toBe(true);
    expect(existsSync(path.join(SITE_BIN, 'sbatch'))).toBe(true);
  });

  it('refuses a login host whose host key changed since it was pinned, naming both keys', async () => {
    rekeySiteHost(LOGIN_HOST);
    // The service's open connection predates the new key; a new one meets it.
    killSiteSessions();
    const id = await register('rekeyed', { partitions: 'compute', scratchDir: SCRATCH });
    const c = await clusterIn(id, [ms.ClusterState.FAILED, ms.ClusterState.READY]);
    expect(ms.ClusterState[c.state]).toBe('FAILED');
    expect(c.stateReason).toMatch(/host key of 10\.213\.9\.10:22 has changed/);
  });
});
