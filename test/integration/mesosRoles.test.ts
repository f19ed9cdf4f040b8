// The Mesos playbooks against this machine. Mesos, Marathon and Metronome cannot be installed here
// (retired, no package archive), so:
// - check mode with --diff renders every configuration file for a 3-master (each also a ZooKeeper
//   member) and 2-agent cluster whose hosts are local-connection aliases with their own addresses,
//   and the files are read back from ansible-runner's job events (res.diff[].after); nothing may be
//   written on the machine;
// - a real run without a package source deploys ZooKeeper (under a temp dir, at a free port), then
//   fails at the mesos_master role's first task, naming mesos_package_source; the teardown undoes it.
// ansible-runner is driven directly for check mode (the service's bridge has no check mode).
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { AnsibleRunnerBridge } from '../../src/ansible/bridge';
import type { AnsibleHost, AnsibleInventory } from '../../src/ansible/runner';
import { inventoryJson } from '../../src/ansible/runDir';
import { unsafeExtraVarsYaml } from '../../src/ansible/unsafeVars';
import { PLAYBOOK_DIR } from '../../src/app';
import { createLogger } from '../../src/log';
import { freePort } from '../../src/net/freePort';

jest.setTimeout(5 * 60_000);

const dir = mkdtempSync(path.join(tmpdir(), 'ms-mesos-roles-'));
// The ZooKeeper of the real run runs as the zookeeper account, which must reach its dirs in here.
chmodSync(dir, 0o755);
const clusterId = `c-mesos-${randomBytes(4).toString('hex')}`;
const jobUser = `ms-mrtest-${randomBytes(4).toString('hex')}`;

interface JobEvent {
  event: string;
  event_data?: { task?: string; task_uuid?: string; host?: string; role?: string; res?: { diff?: { after?: string }[] | { after?: string }; msg?: string } };
}

interface CheckRun {
  rc: number;
  status: string;
  events: JobEvent[];
  /** What each template/copy task would have written, by task name and host. */
  rendered: (task: string, host: string) => string | undefined;
  stdout: string;
}

/** Runs a playbook with ansible-runner in check mode with --diff; its private data dir stays under `dir`. */
async function checkRun(inventory: AnsibleInventory, extraVars: Record<string, unknown>, options: string[] = []): Promise<CheckRun> {
  const runDir = mkdtempSync(path.join(dir, 'runner-'));
  mkdirSync(path.join(runDir, 'inventory'));
  mkdirSync(path.join(runDir, 'env'));
  writeFileSync(path.join(runDir, 'inventory', 'hosts.json'), JSON.stringify(inventoryJson(inventory)));
  writeFileSync(path.join(runDir, 'env', 'extravars'), unsafeExtraVarsYaml(extraVars));
  writeFileSync(path.join(runDir, 'env', 'cmdline'), ['--check', '--diff', ...options].join(' '));
  const ident = 'check';
  const stdout = await new Promise<string>((resolve, reject) => {
    const child = spawn('ansible-runner', ['run', runDir, '-p', 'mesos_marathon.yml', '--project-dir', PLAYBOOK_DIR, '-i', ident], {
      cwd: runDir,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', LANG: 'C.UTF-8', ANSIBLE_NOCOLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString('utf8'); });
    child.stderr.on('data', (chunk: Buffer) => { out += chunk.toString('utf8'); });
    child.on('error', (err) => reject(new Error(`ansible-runner could not run (${err.message}): install python3-ansible-runner`)));
    child.on('close', () => resolve(out));
  });
  const artifacts = path.join(runDir, 'artifacts', ident);
  const eventDir = path.join(artifacts, 'job_events');
  const events = (existsSync(eventDir) ? readdirSync(eventDir) : [])
    .map((f) => JSON.parse(readFileSync(path.join(eventDir, f), 'utf8')) as JobEvent & { counter: number })
    .sort((a, b) => a.counter - b.counter);
  // A skipped task's events carry its name untemplated ("... for {{ mesos_master_pkg_label }}"):
  // name every event of a task as its task-start event does, templated.
  const names = new Map(events.filter((e) => e.event === 'playbook_on_task_start' && e.event_data?.task_uuid)
    .map((e) => [e.event_data?.task_uuid, e.event_data?.task]));
  for (const e of events) {
    const name = e.event_data?.task_uuid ? names.get(e.event_data.task_uuid) : undefined;
    if (e.event_data && name) e.event_data.task = name;
  }
  const read = (name: string) => (existsSync(path.join(artifacts, name)) ? readFileSync(path.join(artifacts, name), 'utf8').trim() : '');
  const rendered = (task: string, host: string): string | undefined => {
    const ok = events.find((e) => e.event === 'runner_on_ok' && e.event_data?.task === task && e.event_data.host === host);
    const diff = ok?.event_data?.res?.diff;
    return (Array.isArray(diff) ? diff[0] : diff)?.after;
  };
  return { rc: Number(read('rc')), status: read('status'), events, rendered, stdout };
}

/** NAME -> value of an environment file's NAME="value" lines. */
function envLines(text: string | undefined): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const line of (text ?? '').split('\n')) {
    const m = /^([A-Z_][A-Z0-9_]*)="(.*)"$/.exec(line);
    if (m) vars[m[1]] = m[2];
  }
  return vars;
}

function localHost(name: string, addr: string): AnsibleHost {
  return { name, connection: 'local', vars: { ms_node_addr: addr } };
}

/** What exists at each path, so a run that should write nothing can be checked against it. */
function snapshot(paths: string[]): Record<string, string> {
  return Object.fromEntries(paths.map((p) => {
    if (!existsSync(p)) return [p, 'absent'];
    const s = statSync(p);
    return [p, `${s.isDirectory() ? 'dir' : 'file'} ${s.mtimeMs} ${s.size}`];
  }));
}

function accountExists(name: string): boolean {
  return spawnSync('getent', ['passwd', name]).status === 0;
}

/** What ZooKeeper answers "ruok" on 127.0.0.1:port, or the connection error. */
function ruok(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let answer = '';
    socket.setTimeout(5000, () => socket.destroy(new Error('timeout')));
    socket.on('connect', () => socket.write('ruok'));
    socket.on('data', (chunk) => { answer += chunk.toString('utf8'); });
    socket.on('end', () => resolve(answer));
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(`error: ${err.code ?? err.message}`));
  });
}

const ZK_URL = 'zk://10.0.0.1:2181,10.0.0.2:2181,10.0.0.3:2181';
const MASTERS = ['m1', 'm2', 'm3'];
const AGENTS = ['a1', 'a2'];
const ADDR: Record<string, string> = { m1: '10.0.0.1', m2: '10.0.0.2', m3: '10.0.0.3', a1: '10.0.0.4', a2: '10.0.0.5' };

/** The ownership marker and runtime state go under the temp dir: other test files run Slurm clusters here. */
const isolated = (sub: string) => ({
  common_owner_marker: path.join(dir, sub, 'etc', 'owner'),
  common_conf_dir: path.join(dir, sub, 'etc'),
  common_runtime_dir: path.join(dir, sub, 'run'),
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('mesos_marathon.yml in check mode, 3 masters (ZooKeeper members) and 2 agents', () => {
  let run: CheckRun;
  // Everything the roles write on a host with their defaults; check mode must leave it all as it was.
  const watched = [
    '/etc/default/mesos-master', '/etc/default/mesos-agent', '/etc/default/marathon', '/etc/default/metronome',
    '/etc/zookeeper/metascheduler', '/var/lib/zookeeper/metascheduler', '/var/lib/mesos', '/var/log/mesos',
    '/var/log/marathon', '/var/log/metronome', '/opt/marathon', '/opt/metronome',
    '/etc/apt/sources.list.d/metascheduler-mesos.list', '/etc/apt/sources.list.d/metascheduler-marathon.list',
    '/etc/apt/sources.list.d/metascheduler-metronome.list', '/etc/systemd/system/metascheduler-zookeeper.service',
    path.join(dir, 'check'),
  ];
  let before: Record<string, string>;
  const accountsBefore = { job: accountExists(jobUser), marathon: accountExists('marathon'), metronome: accountExists('metronome') };

  beforeAll(async () => {
    before = snapshot(watched);
    run = await checkRun({
      hosts: [...MASTERS, ...AGENTS].map((h) => localHost(h, ADDR[h])),
      groups: { zookeeper: MASTERS, mesos_masters: MASTERS, mesos_agents: AGENTS },
    }, {
      ms_cluster_id: clusterId, ms_job_user: jobUser, ms_job_uid: 2_000_000 + (randomBytes(3).readUIntBE(0, 3) % 90_000_000),
      ...isolated('check'),
      mesos_cluster_name: 'check-cluster',
      mesos_package_source: 'deb [trusted=yes] https://packages.invalid/mesos bookworm main',
      marathon_package_source: 'https://packages.invalid/marathon-1.11.24.tgz',
      metronome_package_source: 'https://packages.invalid/metronome_0.6.71_amd64.deb',
      mesos_agent_resources: 'cpus:3;mem:2048',
      mesos_agent_attributes: { rack: 'r1' },
    });
  });

  it('goes through every host', () => {
    if (run.status !== 'successful') throw new Error(`check run ${run.status} (rc ${run.rc}):\n${run.stdout.slice(-4000)}`);
    expect(run.rc).toBe(0);
    const failed = run.events.filter((e) => e.event === 'runner_on_failed' || e.event === 'runner_on_unreachable');
    expect(failed).toEqual([]);
  });

  it('renders each master flag file with the quorum, the ZooKeeper URL and its own address', () => {
    for (const host of MASTERS) {
      const env = envLines(run.rendered("Render the master's environment file", host));
      expect(env).toMatchObject({
        MESOS_QUORUM: '2', MESOS_ZK: `${ZK_URL}/mesos`, MESOS_IP: ADDR[host], MESOS_HOSTNAME: ADDR[host],
        MESOS_PORT: '5050', MESOS_CLUSTER: 'check-cluster', MESOS_WORK_DIR: '/var/lib/mesos/master',
      });
    }
    for (const host of AGENTS) expect(run.rendered("Render the master's environment file", host)).toBeUndefined();
  });

  it('renders each agent flag file with the masters, its resources and the cluster attribute', () => {
    for (const host of AGENTS) {
      const env = envLines(run.rendered("Render the agent's environment file", host));
      expect(env).toMatchObject({
        MESOS_MASTER: `${ZK_URL}/mesos`, MESOS_RESOURCES: 'cpus:3;mem:2048', MESOS_ATTRIBUTES: `ms_cluster:${clusterId};rack:r1`,
        MESOS_IP: ADDR[host], MESOS_HOSTNAME: ADDR[host], MESOS_PORT: '5051', MESOS_CONTAINERIZERS: 'mesos',
        MESOS_SWITCH_USER: 'true', MESOS_WORK_DIR: '/var/lib/mesos/agent',
      });
    }
    for (const host of MASTERS) expect(run.rendered("Render the agent's environment file", host)).toBeUndefined();
  });

  it('renders Marathon and Metronome on every master with the Mesos and their own ZooKeeper URLs', () => {
    for (const host of MASTERS) {
      expect(envLines(run.rendered("Render Marathon's environment file", host))).toMatchObject({
        MARATHON_MASTER: `${ZK_URL}/mesos`, MARATHON_ZK: `${ZK_URL}/marathon`, MARATHON_HTTP_PORT: '8080',
        MARATHON_HOSTNAME: ADDR[host], MARATHON_MESOS_USER: jobUser, LIBPROCESS_IP: ADDR[host],
      });
      expect(envLines(run.rendered("Render Metronome's environment file", host))).toMatchObject({
        METRONOME_ZK_URL: `${ZK_URL}/metronome`, METRONOME_MESOS_MASTER_URL: `${ZK_URL}/mesos`,
        METRONOME_PLAY_SERVER_HTTP_PORT: '9000', METRONOME_MESOS_USER: jobUser, LIBPROCESS_IP: ADDR[host],
      });
    }
    for (const host of AGENTS) expect(run.rendered("Render Marathon's environment file", host)).toBeUndefined();
  });

  it('renders zoo.cfg listing the whole ensemble, and each member its own myid', () => {
    MASTERS.forEach((host, i) => {
      const zooCfg = run.rendered('Render zoo.cfg', host) ?? '';
      expect(zooCfg).toContain('clientPort=2181\n');
      expect(zooCfg).toContain(`clientPortAddress=${ADDR[host]}\n`);
      expect(zooCfg).toContain('server.1=10.0.0.1:2888:3888\nserver.2=10.0.0.2:2888:3888\nserver.3=10.0.0.3:2888:3888\n');
      expect(zooCfg).toMatch(/^4lw\.commands\.whitelist=.*\bruok\b.*\bsrvr\b/m);
      expect(run.rendered("Write this member's id (myid)", host)).toBe(`${i + 1}\n`);
    });
    for (const host of AGENTS) expect(run.rendered('Render zoo.cfg', host)).toBeUndefined();
  });

  it('skips, rather than fakes, the installs that need the source check mode did not add', () => {
    const hostsWith = (event: string, task: string) => [...new Set(run.events
      .filter((e) => e.event === event && e.event_data?.task === task).map((e) => e.event_data?.host))].sort();
    for (const task of ['Install from the apt source for Mesos', 'Unpack the release tarball for Marathon', 'Install the .deb for Metronome']) {
      expect(hostsWith('runner_on_ok', task)).toEqual([]);
      expect(hostsWith('runner_on_skipped', task)).toEqual([...AGENTS, ...MASTERS].sort());
    }
    // ...while what needs no download was looked at: the apt source line each Mesos host would get.
    for (const host of [...MASTERS, ...AGENTS]) {
      expect(run.rendered('Write the apt source for Mesos', host)).toBe('deb [trusted=yes] https://packages.invalid/mesos bookworm main\n');
    }
  });

  it('wrote nothing on the machine', () => {
    expect(snapshot(watched)).toEqual(before);
    expect(existsSync(path.join(dir, 'check'))).toBe(false);
    expect({ job: accountExists(jobUser), marathon: accountExists('marathon'), metronome: accountExists('metronome') }).toEqual(accountsBefore);
    expect(accountsBefore.job).toBe(false);
    expect(existsSync(path.join('/var/lib/metascheduler/jobs', jobUser))).toBe(false);
  });
});

describe('the Mesos quorum', () => {
  it.each([
    [1, '1'],
    [5, '3'],
  ])('is a majority of %i masters', async (count, quorum) => {
    const masters = Array.from({ length: count }, (_, i) => `q${i + 1}`);
    const addr = (h: string) => `10.0.1.${masters.indexOf(h) + 1}`;
    const last = masters[masters.length - 1];
    // Only the last master is in the play (--limit), so one host does the work; the groups still
    // hold all of them, which is what the quorum and the ZooKeeper URL are made from.
    const run = await checkRun({
      hosts: masters.map((h) => localHost(h, addr(h))),
      groups: { zookeeper: masters, mesos_masters: masters, mesos_agents: [masters[0]] },
    }, {
      ms_cluster_id: clusterId, ...isolated(`quorum-${count}`),
      mesos_package_source: 'https://packages.invalid/mesos_1.11.0-1_amd64.deb',
    }, ['--tags', 'mesos_master', '--limit', last]);
    if (run.status !== 'successful') throw new Error(`check run ${run.status} (rc ${run.rc}):\n${run.stdout.slice(-4000)}`);
    const env = envLines(run.rendered("Render the master's environment file", last));
    expect(env.MESOS_QUORUM).toBe(quorum);
    expect(env.MESOS_ZK).toBe(`zk://${masters.map((h) => `${addr(h)}:2181`).join(',')}/mesos`);
  });
});

describe('mesos_marathon.yml for real on this machine, without a package source', () => {
  const zkDir = path.join(dir, 'real');
  // Under the file's temp dir, so it goes with it even when this block is filtered out.
  const runsDir = path.join(dir, 'runs');
  const bridge = new AnsibleRunnerBridge({ dataDir: runsDir, playbookDir: PLAYBOOK_DIR, log: createLogger('warn') });
  const inventory: AnsibleInventory = {
    hosts: [localHost('127.0.0.1', '127.0.0.1')],
    groups: { zookeeper: ['127.0.0.1'], mesos_masters: ['127.0.0.1'], mesos_agents: ['127.0.0.1'] },
  };
  let port = 0;
  const pidFile = path.join(zkDir, 'run', 'zookeeper.pid');
  const vars = () => ({
    ms_cluster_id: clusterId,
    ...isolated('real'),
    app_root: path.join(zkDir, 'apps'),
    zookeeper_conf_dir: path.join(zkDir, 'zk-conf'),
    zookeeper_data_dir: path.join(zkDir, 'zk-data'),
    zookeeper_log_dir: path.join(zkDir, 'zk-log'),
    zookeeper_client_port: port,
    mesos_master_env_file: path.join(zkDir, 'mesos-master.env'),
    mesos_master_work_dir: path.join(zkDir, 'mesos-master'),
    mesos_agent_env_file: path.join(zkDir, 'mesos-agent.env'),
    mesos_agent_work_dir: path.join(zkDir, 'mesos-agent'),
    marathon_env_file: path.join(zkDir, 'marathon.env'),
    metronome_env_file: path.join(zkDir, 'metronome.env'),
  });

  beforeAll(async () => {
    port = await freePort();
  });

  afterAll(() => {
    // No server of ours outlives the file: only the pid our pid file names, while its command line is ours.
    const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) : 0;
    if (pid > 0 && existsSync(`/proc/${pid}/cmdline`) && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(zkDir)) process.kill(pid, 'SIGKILL');
  });

  it('deploys ZooKeeper, then stops at the mesos_master role, naming mesos_package_source', async () => {
    // Tags keep the gateway account (a real Unix user) off this machine; the order is the playbook's.
    const result = await bridge.run({ playbook: 'mesos_marathon.yml', inventory, extraVars: vars(), tags: ['common', 'zookeeper', 'mesos_master'], timeoutMs: 240_000 });
    expect(result.status).toBe('failed');
    expect(result.failures).toHaveLength(1);
    expect(result.failures[0]).toMatchObject({ host: '127.0.0.1', task: "Require an operator's package source for Mesos", unreachable: false });
    expect(result.failures[0].message).toMatch(/^Mesos has no public package archive any more .*set mesos_package_source to an apt source line/);

    // The failure came from the mesos_master role, as its first task: nothing of it was written.
    const [ident] = readdirSync(path.join(runsDir, 'ansible'));
    const eventDir = path.join(runsDir, 'ansible', ident, 'artifacts', ident, 'job_events');
    const events = readdirSync(eventDir).map((f) => JSON.parse(readFileSync(path.join(eventDir, f), 'utf8')) as JobEvent & { counter: number })
      .sort((a, b) => a.counter - b.counter);
    const failed = events.filter((e) => e.event === 'runner_on_failed');
    expect(failed.map((e) => e.event_data?.role)).toEqual(['mesos_master']);
    const roles = [...new Set(events.filter((e) => e.event === 'runner_on_ok').map((e) => e.event_data?.role).filter(Boolean))];
    expect(roles).toEqual(['common', 'zookeeper']);
    expect(existsSync(path.join(zkDir, 'mesos-master.env'))).toBe(false);
    expect(existsSync('/etc/apt/sources.list.d/metascheduler-mesos.list')).toBe(false);

    // ZooKeeper, before it, was really deployed and serves.
    expect(await ruok(port)).toBe('imok');
  });

  it('is undone by the teardown playbook', async () => {
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    const torn = await bridge.run({ playbook: 'mesos_marathon_teardown.yml', inventory, extraVars: vars(), timeoutMs: 240_000 });
    expect(torn.failures).toEqual([]);
    expect(torn.status).toBe('successful');
    expect(existsSync(`/proc/${pid}`)).toBe(false);
    expect(await ruok(port)).toBe('error: ECONNREFUSED');
    expect(existsSync(path.join(zkDir, 'zk-conf'))).toBe(false);
    expect(existsSync(path.join(zkDir, 'etc', 'owner'))).toBe(false);
  });
});
