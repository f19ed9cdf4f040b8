// The zookeeper role, deployed for real on this machine through AnsibleRunnerBridge and our own
// playbooks (mesos_marathon.yml with tags common,zookeeper; mesos_marathon_teardown.yml): a
// one-member ensemble on 127.0.0.1 at a free port, with every file it writes (configuration, data,
// log, pid file, ownership marker) under a temp dir, so it meets nothing else on the machine.
// Proven with Debian's own ZooKeeper client, then idempotence, then teardown.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { AnsibleRunnerBridge } from '../../src/ansible/bridge';
import type { AnsibleInventory, PlaybookResult, PlaybookRun } from '../../src/ansible/runner';
import { PLAYBOOK_DIR } from '../../src/app';
import { createLogger } from '../../src/log';
import { freePort } from '../../src/net/freePort';

jest.setTimeout(5 * 60_000);

const ZK_CLI = '/usr/share/zookeeper/bin/zkCli.sh';

const dir = mkdtempSync(path.join(tmpdir(), 'ms-zk-role-'));
// The server runs as the zookeeper account, which must reach its data and log dirs in here.
chmodSync(dir, 0o755);
const dataDir = mkdtempSync(path.join(tmpdir(), 'ms-zk-runs-'));
const bridge = new AnsibleRunnerBridge({ dataDir, playbookDir: PLAYBOOK_DIR, log: createLogger('warn') });

const INVENTORY: AnsibleInventory = {
  hosts: [{ name: '127.0.0.1', connection: 'local', vars: { ms_node_addr: '127.0.0.1' } }],
  groups: { zookeeper: ['127.0.0.1'], mesos_masters: ['127.0.0.1'], mesos_agents: ['127.0.0.1'] },
};
const clusterId = `c-zk-${randomBytes(4).toString('hex')}`;
const pidFile = path.join(dir, 'run', 'zookeeper.pid');
let ports = { client: 0, peer: 0, election: 0 };

/**
 * Every path the two playbooks would write or remove on this host, moved under the temp dir (the
 * teardown also walks the Mesos, Marathon and Metronome parts, which were never deployed here).
 */
function extraVars(): Record<string, unknown> {
  return {
    ms_cluster_id: clusterId,
    common_owner_marker: path.join(dir, 'etc', 'owner'),
    common_conf_dir: path.join(dir, 'etc'),
    common_runtime_dir: path.join(dir, 'run'),
    app_root: path.join(dir, 'apps'),
    zookeeper_conf_dir: path.join(dir, 'zk-conf'),
    zookeeper_data_dir: path.join(dir, 'zk-data'),
    zookeeper_log_dir: path.join(dir, 'zk-log'),
    zookeeper_client_port: ports.client,
    zookeeper_peer_port: ports.peer,
    zookeeper_election_port: ports.election,
    mesos_master_env_file: path.join(dir, 'mesos-master.env'),
    mesos_master_work_dir: path.join(dir, 'mesos-master'),
    mesos_agent_env_file: path.join(dir, 'mesos-agent.env'),
    mesos_agent_work_dir: path.join(dir, 'mesos-agent'),
    marathon_env_file: path.join(dir, 'marathon.env'),
    metronome_env_file: path.join(dir, 'metronome.env'),
  };
}

function run(playbook: string, tags?: string[]): Promise<PlaybookResult> {
  const request: PlaybookRun = { playbook, inventory: INVENTORY, extraVars: extraVars(), timeoutMs: 240_000, ...(tags ? { tags } : {}) };
  return bridge.run(request);
}

/** The server's pid, from the pid file the role wrote, if that process still lives. */
function serverPid(): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 && existsSync(`/proc/${pid}`) ? pid : undefined;
}

/** What ZooKeeper answers a four-letter word on 127.0.0.1:port, or the connection error. */
function fourLetterWord(port: number, word: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let answer = '';
    socket.setTimeout(5000, () => socket.destroy(new Error('timeout')));
    socket.on('connect', () => socket.write(word));
    socket.on('data', (chunk) => { answer += chunk.toString('utf8'); });
    socket.on('end', () => resolve(answer));
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(`error: ${err.code ?? err.message}`));
  });
}

function zkCli(...args: string[]) {
  // zkCli.sh reads its class path from /etc/zookeeper/conf/environment, which only this machine's
  // own install of the package provides (scripts/bootstrap installs it).
  if (!existsSync('/etc/zookeeper/conf/environment')) {
    throw new Error(`${ZK_CLI} needs /etc/zookeeper/conf/environment: install Debian's zookeeper package on this machine (scripts/bootstrap)`);
  }
  const result = spawnSync(ZK_CLI, ['-server', `127.0.0.1:${ports.client}`, ...args], { encoding: 'utf8', timeout: 60_000 });
  if (result.error) throw new Error(`${ZK_CLI} could not run (${result.error.message}): install Debian's zookeeper package`);
  return result;
}

function uidOf(user: string): number {
  const entry = spawnSync('getent', ['passwd', user], { encoding: 'utf8' });
  if (entry.status !== 0) throw new Error(`no ${user} account: the role should have installed Debian's zookeeper package`);
  return Number(entry.stdout.split(':')[2]);
}

beforeAll(async () => {
  ports = { client: await freePort(), peer: await freePort(), election: await freePort() };
});

afterAll(() => {
  // Whatever happened above, no server of ours outlives the file: only the pid our pid file names,
  // and only while its command line is ours.
  const pid = serverPid();
  if (pid !== undefined && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir)) process.kill(pid, 'SIGKILL');
  rmSync(dir, { recursive: true, force: true });
  rmSync(dataDir, { recursive: true, force: true });
});

describe('the zookeeper role on this machine', () => {
  let firstPid: number | undefined;

  it('deploys a one-member ensemble that a real ZooKeeper client can write to and read from', async () => {
    const result = await run('mesos_marathon.yml', ['common', 'zookeeper']);
    expect(result.failures).toEqual([]);
    expect(result.status).toBe('successful');
    expect(result.changed).toBeGreaterThan(0);

    const zooCfg = readFileSync(path.join(dir, 'zk-conf', 'zoo.cfg'), 'utf8');
    expect(zooCfg).toContain(`clientPort=${ports.client}\n`);
    expect(zooCfg).toContain('clientPortAddress=127.0.0.1\n');
    expect(zooCfg).toContain(`dataDir=${path.join(dir, 'zk-data')}\n`);
    expect(zooCfg).toMatch(/^4lw\.commands\.whitelist=.*\bruok\b.*$/m);
    expect(zooCfg).toMatch(/^4lw\.commands\.whitelist=.*\bsrvr\b.*$/m);
    expect(zooCfg).toContain(`server.1=127.0.0.1:${ports.peer}:${ports.election}\n`);
    expect(readFileSync(path.join(dir, 'zk-data', 'myid'), 'utf8')).toBe('1\n');
    expect(readFileSync(path.join(dir, 'etc', 'owner'), 'utf8')).toBe(`${clusterId}\n`);

    expect(await fourLetterWord(ports.client, 'ruok')).toBe('imok');
    expect(await fourLetterWord(ports.client, 'srvr')).toMatch(/Mode: standalone/);

    const znode = `/ms-test-${randomBytes(6).toString('hex')}`;
    const value = `value-${randomBytes(6).toString('hex')}`;
    const created = zkCli('create', znode, value);
    expect(`${created.stdout}${created.stderr}`).toContain(`Created ${znode}`);
    const read = zkCli('get', znode);
    expect(read.stdout.split('\n').map((l) => l.trim())).toContain(value);

    // Started as the zookeeper account, never root, by our command line.
    firstPid = serverPid();
    expect(firstPid).toBeDefined();
    const status = readFileSync(`/proc/${firstPid}/status`, 'utf8');
    const uids = /^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(status)?.slice(1).map(Number);
    expect(uids).toEqual([uidOf('zookeeper'), uidOf('zookeeper'), uidOf('zookeeper'), uidOf('zookeeper')]);
    expect(uids?.[0]).not.toBe(0);
    const cmdline = readFileSync(`/proc/${firstPid}/cmdline`, 'utf8').split('\0');
    expect(cmdline).toContain('org.apache.zookeeper.server.quorum.QuorumPeerMain');
    expect(cmdline).toContain(path.join(dir, 'zk-conf', 'zoo.cfg'));
  });

  it('changes nothing when run again, and keeps the same server', async () => {
    const again = await run('mesos_marathon.yml', ['common', 'zookeeper']);
    expect(again.failures).toEqual([]);
    expect(again.status).toBe('successful');
    expect(again.changed).toBe(0);
    expect(serverPid()).toBe(firstPid);
  });

  it('is stopped and removed by the teardown playbook', async () => {
    expect(firstPid).toBeDefined();
    const torn = await run('mesos_marathon_teardown.yml');
    expect(torn.failures).toEqual([]);
    expect(torn.status).toBe('successful');
    expect(existsSync(`/proc/${firstPid}`)).toBe(false);
    expect(await fourLetterWord(ports.client, 'ruok')).toBe('error: ECONNREFUSED');
    for (const gone of ['zk-conf', 'zk-data', 'run', path.join('etc', 'owner')]) expect(existsSync(path.join(dir, gone))).toBe(false);
    // The log stays, as the Slurm logs do.
    expect(existsSync(path.join(dir, 'zk-log', 'metascheduler-zookeeper.log'))).toBe(true);
  });
});
