// The SSH command runner against real sshds: two test hosts made by scripts/test-ssh-host (their
// own network, name and private directories) on a bridge of this file's own (msbr1, 10.214.0.0/24)
// so it can run beside tests that use the default one. Gateway keys are made the way the service
// makes them and authorized for root. Also checks what the script promises about separation.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { CommandError, type CommandRunner } from '../../src/exec/commandRunner';
import { HostKeyPins } from '../../src/exec/hostKeys';
import { HostKeyChangedError, SshCommandError } from '../../src/exec/sshErrors';
import { SshRunnerPool, type SshRunnerPoolOptions, type SshTarget } from '../../src/exec/sshRunnerPool';
import { generateSshKeyPair, type SshKeyPair } from '../../src/secrets/sshKeys';
import { HostKeyStore } from '../../src/store/hostKeyStore';
import { createTestDatabase, type TestDatabase } from '../support/database';

jest.setTimeout(120_000);

const ROOT = path.resolve(__dirname, '../..');
const HELPER = path.join(ROOT, 'scripts/test-ssh-host');
const BRIDGE = 'msbr1';
const HELPER_ENV = { ...process.env, MS_TEST_BRIDGE: BRIDGE, MS_TEST_NET: '10.214.0' };
const STATE_ROOT = `/run/ms-test-ssh-${BRIDGE}`;
const A = { name: 'msr-a', address: '10.214.0.21' };
const B = { name: 'msr-b', address: '10.214.0.22' };
const GW_A = 'gw-ssh-a';
const GW_B = 'gw-ssh-b';
const GW_STRANGER = 'gw-ssh-stranger';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function helper(...args: string[]): string {
  return execFileSync(HELPER, args, { env: HELPER_ENV, encoding: 'utf8' });
}

/** Runs argv inside the host's namespaces without SSH (what the host itself sees). */
function inHost(host: string, ...argv: string[]): { status: number | null; stdout: string } {
  const result = spawnSync(HELPER, ['exec', host, ...argv], { env: HELPER_ENV, encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout };
}

/** Established TCP connections to the host's sshd, as "peer-address:port" of each client. */
function sshClients(host: string): string[] {
  const out = inHost(host, 'ss', '-Htn', 'state', 'established', '( sport = :22 )').stdout;
  return out.trim().split('\n').filter(Boolean).map((line) => line.trim().split(/\s+/).at(-1) ?? '');
}

/** What OpenSSH itself says the host's key is: ssh-keyscan's key through ssh-keygen -l. */
function openSshFingerprint(address: string): string {
  const out = execFileSync('sh', ['-c', `ssh-keyscan -t ed25519 ${address} 2>/dev/null | ssh-keygen -lf -`], { encoding: 'utf8' });
  const match = /SHA256:\S+/.exec(out);
  if (!match) throw new Error(`no fingerprint in ${JSON.stringify(out)}`);
  return match[0];
}

function sshdPid(host: string): number {
  return Number(readFileSync(`/var/lib/ms-test-ssh/${host}/sshd.pid`, 'utf8').trim());
}

/** Pids of processes whose namespace of that kind has that identity (device:inode). */
function pidsInNamespace(kind: 'net' | 'mnt', id: string): number[] {
  return readdirSync('/proc').filter((entry) => /^\d+$/.test(entry)).filter((pid) => {
    try {
      const st = statSync(`/proc/${pid}/ns/${kind}`);
      return `${st.dev}:${st.ino}` === id;
    } catch {
      return false;
    }
  }).map(Number);
}

function namespaceId(file: string): string {
  const st = statSync(file);
  return `${st.dev}:${st.ino}`;
}

function processesNamed(cmdline: string): number[] {
  const result = spawnSync('pgrep', ['-f', `^${cmdline.replace(/\./g, '\\.')}$`], { encoding: 'utf8' });
  return result.stdout.trim().split('\n').filter(Boolean).map(Number);
}

async function until(what: string, timeoutMs: number, probe: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(() => {
    throw new Error('expected the command to be rejected');
  }, (error: unknown) => error);
}

describe('SshCommandRunner against real sshds in test hosts', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ms-sshr-'));
  const keys: Record<string, SshKeyPair> = {
    [GW_A]: generateSshKeyPair(`airavata-metascheduler@${GW_A}`),
    [GW_B]: generateSshKeyPair(`airavata-metascheduler@${GW_B}`),
    [GW_STRANGER]: generateSshKeyPair(`airavata-metascheduler@${GW_STRANGER}`),
  };
  let database: TestDatabase;
  let pins: HostKeyPins;
  const pools: SshRunnerPool[] = [];
  let pool: SshRunnerPool;

  const target = (gatewayId: string, host: { address: string }, port = 22): SshTarget => ({ gatewayId, host: host.address, port, user: 'root' });
  const newPool = (options: SshRunnerPoolOptions = {}): SshRunnerPool => {
    const made = new SshRunnerPool({ privateKey: async (gatewayId) => keys[gatewayId].privateKeyPem, pins }, { connectTimeoutMs: 10_000, ...options });
    pools.push(made);
    return made;
  };
  const runnerA = (): CommandRunner => pool.runnerFor(target(GW_A, A));

  beforeAll(async () => {
    database = await createTestDatabase();
    pins = new HostKeyPins({ db: database.db, store: new HostKeyStore() });
    // Only the gateways A and B are authorized; the stranger's key is not.
    const authorized = path.join(dir, 'authorized_keys');
    writeFileSync(authorized, `${keys[GW_A].publicKey}\n${keys[GW_B].publicKey}\n`, { mode: 0o600 });
    for (const host of [A, B]) {
      spawnSync(HELPER, ['down', host.name], { env: HELPER_ENV }); // leftovers of an interrupted run
      helper('up', host.name, host.address, authorized);
    }
    pool = newPool();
  });

  afterAll(async () => {
    await Promise.all(pools.map((p) => p.close()));
    for (const host of [A, B]) spawnSync(HELPER, ['down', host.name], { env: HELPER_ENV });
    await database?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('pins the host key at the first successful connection, as OpenSSH fingerprints it', async () => {
    const where = { gatewayId: GW_A, host: A.address, port: 22 };
    expect(await pins.pinned(where)).toBeUndefined();
    expect(await runnerA().run(['true'])).toEqual({ stdout: '', stderr: '', exitCode: 0 });
    expect(await pins.pinned(where)).toEqual({ keyType: 'ssh-ed25519', fingerprint: openSshFingerprint(A.address) });
    // Per gateway: B has not connected, so it has no pin.
    expect(await pins.pinned({ ...where, gatewayId: GW_B })).toBeUndefined();
  });

  it('runs commands: exit codes, stdout and stderr, stdin, signals as 128+N, cwd, env, latin1', async () => {
    const runner = runnerA();
    expect(await runner.run(['sh', '-c', 'echo out; echo err >&2; exit 3'])).toEqual({ stdout: 'out\n', stderr: 'err\n', exitCode: 3 });
    expect(await runner.run(['cat'], { input: 'line one\nline two' })).toMatchObject({ stdout: 'line one\nline two', exitCode: 0 });
    expect((await runner.run(['cat'])).stdout).toBe(''); // no input: EOF at once, no hang
    expect((await runner.run(['sh', '-c', 'kill -TERM $$'])).exitCode).toBe(143);
    expect((await runner.run(['sh', '-c', 'kill -KILL $$'])).exitCode).toBe(137);
    expect((await runner.run(['pwd'], { cwd: '/var/log' })).stdout).toBe('/var/log\n');
    const env = { MS_VALUE: `it's $(id) \`id\` "q"\nnext` };
    expect((await runner.run(['printenv', 'MS_VALUE'], { env })).stdout).toBe(`${env.MS_VALUE}\n`);
    const bytes = await runner.run(['printf', 'ü\\n'], { encoding: 'latin1' });
    expect(bytes.stdout.length).toBe(3);
    expect(Buffer.from(bytes.stdout, 'latin1').toString('utf8')).toBe('ü\n');
    // The remote shell's own answers for what cannot run (not rejections, see sshCommandRunner.ts).
    expect((await runner.run(['/no/such/program'])).exitCode).toBe(127);
    expect((await runner.run(['true'], { cwd: '/no/such/dir' })).exitCode).not.toBe(0);
    await expect(runner.run(['echo', 'a\0b'])).rejects.toMatchObject({ failure: 'spawn' });
    await expect(runner.run(['true'], { env: { 'BAD NAME': 'x' } })).rejects.toMatchObject({ failure: 'spawn' });
  });

  it('hands every argv element to the remote shell quoted: hostile arguments arrive literally', async () => {
    const marker = path.join(tmpdir(), `ms-sshr-pwned-${randomBytes(4).toString('hex')}`);
    const hostile = [
      `it's`, `"double"`, `$(touch ${marker})`, `\`touch ${marker}\``, `; touch ${marker}`, `| touch ${marker}`,
      `&& touch ${marker}`, 'line\nbreak', '  spaced  out  ', '*', '~', '$HOME', '\\', "'", '', '-n', '#comment', '!!',
    ];
    const result = await runnerA().run(['printf', '[%s]\\n', ...hostile]);
    expect(result).toEqual({ stdout: hostile.map((arg) => `[${arg}]\n`).join(''), stderr: '', exitCode: 0 });
    expect(existsSync(marker)).toBe(false); // /tmp is shared with the host: nothing was run
  });

  it('runs concurrent commands as channels of ONE TCP connection, past sshd\'s 10 sessions', async () => {
    const runner = runnerA();
    const logBefore = readFileSync(`/var/lib/ms-test-ssh/${A.name}/sshd.log`, 'utf8').split('Accepted publickey').length;
    // Each command prints when it began and ended (the host's clock, in ms): overlaps show parallelism.
    const runs = Array.from({ length: 16 }, (_, i) => runner.run(['sh', '-c', `date +%s%3N; sleep 1; echo ${i}; date +%s%3N`]));
    await sleep(500);
    const during = sshClients(A.name);
    const results = await Promise.all(runs);
    const lines = results.map((r) => r.stdout.trim().split('\n'));
    expect(lines.map((l) => l[1])).toEqual(Array.from({ length: 16 }, (_, i) => `${i}`));
    expect(results.every((r) => r.exitCode === 0)).toBe(true);
    expect(during).toHaveLength(1);
    // In parallel, not one after another: many commands were running at one moment, never more
    // than sshd's 10 sessions per connection.
    const spans = lines.map((l) => ({ start: Number(l[0]), end: Number(l[2]) }));
    const mostAtOnce = Math.max(...spans.map((s) => spans.filter((o) => o.start <= s.start && s.start < o.end).length));
    expect(mostAtOnce).toBeGreaterThan(1);
    expect(mostAtOnce).toBeLessThanOrEqual(10);
    const logAfter = readFileSync(`/var/lib/ms-test-ssh/${A.name}/sshd.log`, 'utf8').split('Accepted publickey').length;
    expect(logAfter).toBe(logBefore); // no new login at all
  });

  it('fails a command in flight when the connection dies (transient, may have run) and reconnects for the next', async () => {
    const runner = runnerA();
    await runner.run(['true']);
    const [before] = sshClients(A.name);
    expect(before).toBeDefined();
    const inFlight = failure(runner.run(['sleep', '7.31']));
    await sleep(300);
    // Kill the per-connection sshd processes (children of the listener): the TCP connection drops.
    const sessions = spawnSync('pgrep', ['-P', String(sshdPid(A.name))], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean).map(Number);
    expect(sessions.length).toBeGreaterThan(0);
    for (const pid of sessions) process.kill(pid, 'SIGKILL');
    const error = await inFlight;
    expect(error).toBeInstanceOf(SshCommandError);
    expect(error).toMatchObject({ reason: 'network', transient: true, mayHaveRun: true, failure: 'spawn' });

    expect(await runner.run(['hostname'])).toMatchObject({ stdout: `${A.name}\n`, exitCode: 0 });
    const after = sshClients(A.name);
    expect(after).toHaveLength(1);
    expect(after[0]).not.toBe(before); // a new connection (another client port)
  });

  it('on timeout rejects at once and stops the remote command with everything it started', async () => {
    const started = Date.now();
    const run = failure(runnerA().run(['sh', '-c', 'sleep 41.37 & sleep 41.38'], { timeoutMs: 10_000 }));
    await until('the remote sleeps to start', 9_500, () => processesNamed('sleep 41.37').length + processesNamed('sleep 41.38').length === 2);
    const error = await run;
    expect(error).toBeInstanceOf(CommandError);
    expect(error).toMatchObject({ failure: 'timeout' });
    // At the timeout, not after the remote command ended (41 s).
    expect(Date.now() - started).toBeLessThan(35_000);
    // The background one too: the whole remote process group is stopped, as the local runner does.
    await until('the remote sleeps to be stopped', 4_000,
      () => processesNamed('sleep 41.37').length + processesNamed('sleep 41.38').length === 0);
  });

  it('on abort rejects as canceled and stops the remote command', async () => {
    const controller = new AbortController();
    const run = failure(runnerA().run(['sleep', '42.37'], { signal: controller.signal }));
    await until('the remote sleep to start', 3_000, () => processesNamed('sleep 42.37').length > 0);
    controller.abort();
    expect(await run).toMatchObject({ failure: 'canceled' });
    await until('the remote sleep to be stopped', 4_000, () => processesNamed('sleep 42.37').length === 0);
    // The connection is still good for the next command.
    expect((await runnerA().run(['echo', 'still here'])).stdout).toBe('still here\n');
  });

  it('caps the output like the local runner\'s maxBuffer', async () => {
    const small = newPool({ maxBuffer: 1_000 });
    const runner = small.runnerFor(target(GW_A, A));
    expect((await runner.run(['head', '-c', '1000', '/dev/zero'])).stdout.length).toBe(1_000);
    await expect(runner.run(['head', '-c', '100000', '/dev/zero'])).rejects.toMatchObject({ failure: 'maxBuffer' });
    await small.close();
  });

  it('tells a transient network failure from a refused key, and pins nothing without a login', async () => {
    const refused = await failure(pool.runnerFor(target(GW_A, A, 2222)).run(['true']));
    expect(refused).toBeInstanceOf(SshCommandError);
    expect(refused).toMatchObject({ reason: 'network', transient: true, mayHaveRun: false });

    const stranger = await failure(pool.runnerFor(target(GW_STRANGER, B)).run(['true']));
    expect(stranger).toMatchObject({ reason: 'auth', transient: false, mayHaveRun: false });
    expect(await pins.pinned({ gatewayId: GW_STRANGER, host: B.address, port: 22 })).toBeUndefined();
  });

  it('gives each host its own name, /etc/slurm and /run, with the packages\' owners kept', async () => {
    const runnerB = pool.runnerFor(target(GW_B, B));
    expect((await runnerA().run(['hostname'])).stdout).toBe(`${A.name}\n`);
    expect((await runnerB.run(['hostname'])).stdout).toBe(`${B.name}\n`);

    const tag = randomBytes(4).toString('hex');
    const inA = `/etc/slurm/ms-sshr-host-a-${tag}`;
    const onMachine = `/etc/slurm/ms-sshr-machine-${tag}`;
    try {
      expect((await runnerA().run(['sh', '-c', `echo from-a > ${inA}`])).exitCode).toBe(0);
      expect((await runnerA().run(['cat', inA])).stdout).toBe('from-a\n');
      expect(existsSync(inA)).toBe(false); // not on this machine
      expect((await runnerB.run(['test', '-e', inA])).exitCode).toBe(1); // nor on the other host
      writeFileSync(onMachine, 'from-machine\n');
      expect((await runnerA().run(['test', '-e', onMachine])).exitCode).toBe(1);
      expect((await runnerB.run(['test', '-e', onMachine])).exitCode).toBe(1);
    } finally {
      rmSync(onMachine, { force: true });
    }

    // cp -a kept owners (the machine's slurm and munge accounts); /run is the host's own. Owners
    // only: the mode is the machine's at the moment the host was made, and a cluster this machine
    // builds meanwhile (another lane's test) may change the machine's (munge's 0700 -> 0711).
    for (const dir of ['/var/spool/slurmctld', '/var/lib/munge']) {
      if (!existsSync(dir)) continue;
      const machine = execFileSync('stat', ['-c', '%U:%G', dir], { encoding: 'utf8' });
      expect((await runnerA().run(['stat', '-c', '%U:%G', dir])).stdout).toBe(machine);
    }
    expect((await runnerA().run(['stat', '-c', '%U', '/run/munge'])).stdout).toBe('munge\n');
    expect((await runnerA().run(['test', '-e', `${STATE_ROOT}/${A.name}/addr`])).exitCode).toBe(1);
    expect(existsSync(`${STATE_ROOT}/${A.name}/addr`)).toBe(true);
  });

  it('refuses a host whose key changed, naming both keys; another gateway\'s pin is its own', async () => {
    const where = { gatewayId: GW_A, host: A.address, port: 22 };
    const old = await pins.pinned(where);
    expect(old?.fingerprint).toBe(openSshFingerprint(A.address));
    helper('rekey', A.name);
    const fresh = openSshFingerprint(A.address);
    expect(fresh).not.toBe(old?.fingerprint);

    // A new pool makes a new connection (the one open keeps the key it verified).
    const later = newPool();
    const error = await failure(later.runnerFor(target(GW_A, A)).run(['true']));
    expect(error).toBeInstanceOf(HostKeyChangedError);
    expect(error).toBeInstanceOf(CommandError);
    expect(error).toMatchObject({ reason: 'hostKey', transient: false, mayHaveRun: false, host: A.address, port: 22 });
    const message = (error as Error).message;
    expect(message).toContain(`${A.address}:22`);
    expect(message).toContain(old?.fingerprint);
    expect(message).toContain(fresh);
    // Refused again, and never re-pinned.
    await expect(later.runnerFor(target(GW_A, A)).run(['true'])).rejects.toBeInstanceOf(HostKeyChangedError);
    expect(await pins.pinned(where)).toEqual(old);

    // Gateway B meets host A for the first time now: it pins the new key and runs.
    expect((await later.runnerFor(target(GW_B, A)).run(['hostname'])).stdout).toBe(`${A.name}\n`);
    expect(await pins.pinned({ ...where, gatewayId: GW_B })).toEqual({ keyType: 'ssh-ed25519', fingerprint: fresh });
    await later.close();
  });

  it('closes its connections on close() and refuses commands afterwards', async () => {
    const closing = newPool();
    const runner = closing.runnerFor(target(GW_B, B));
    await runner.run(['true']);
    expect(closing.isConnected(target(GW_B, B))).toBe(true);
    const clientsBefore = sshClients(B.name).length;
    await closing.close();
    await until('the connection to be gone on the host', 5_000, () => sshClients(B.name).length === clientsBefore - 1);
    await expect(runner.run(['true'])).rejects.toMatchObject({ reason: 'closed', transient: false });
  });

  it('takes a host down without leaving a process, mount or namespace behind', async () => {
    const ids = [A, B].map((host) => ({
      host,
      holder: Number(readFileSync(`${STATE_ROOT}/${host.name}/holder.pid`, 'utf8')),
      mnt: readFileSync(`${STATE_ROOT}/${host.name}/mntns`, 'utf8').trim(),
      net: namespaceId(`/run/netns/${host.name}`),
    }));
    // Something started over SSH that outlives its session, like a daemon. (Gateway B: A's own
    // pin refuses host A since its rekey.)
    await pool.runnerFor(target(GW_B, A)).run(['sh', '-c', 'sleep 300.5 </dev/null >/dev/null 2>&1 &']);
    await until('the background sleep', 3_000, () => processesNamed('sleep 300.5').length === 1);
    for (const { host, mnt, net, holder } of ids) {
      expect(pidsInNamespace('mnt', mnt)).toContain(holder);
      expect(pidsInNamespace('net', net)).toContain(sshdPid(host.name));
    }
    await Promise.all(pools.map((p) => p.close()));

    for (const host of [A, B]) helper('down', host.name);

    for (const { host, mnt, net } of ids) {
      expect(pidsInNamespace('mnt', mnt)).toEqual([]);
      expect(pidsInNamespace('net', net)).toEqual([]);
      expect(existsSync(`/run/netns/${host.name}`)).toBe(false);
      expect(existsSync(`/var/lib/ms-test-ssh/${host.name}`)).toBe(false);
      expect(existsSync(`${STATE_ROOT}/${host.name}`)).toBe(false);
    }
    expect(processesNamed('sleep 300.5')).toEqual([]);
    // No mount namespace anywhere still holds a mount of these hosts.
    const mounts = readdirSync('/proc').filter((entry) => /^\d+$/.test(entry)).flatMap((pid) => {
      try {
        return readFileSync(`/proc/${pid}/mountinfo`, 'utf8').split('\n');
      } catch {
        return [];
      }
    });
    expect(mounts.filter((line) => /ms-test-ssh\/msr-[ab]\b|netns\/msr-[ab]\b/.test(line))).toEqual([]);
    // The bridge went with its last host.
    expect(spawnSync('ip', ['link', 'show', 'dev', BRIDGE]).status).not.toBe(0);
  });
});
