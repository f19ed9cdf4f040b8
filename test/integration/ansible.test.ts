// AnsibleRunnerBridge on the real ansible-runner, against this machine over connection local, with
// test-only plays (test/fixtures/playbooks) that touch nothing but temp dirs.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync as mkdtempRaw, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { AnsibleRunnerBridge } from '../../src/ansible/bridge';
import type { AnsibleEvent, AnsibleInventory, PlaybookRun } from '../../src/ansible/runner';
import { InvalidRequestError } from '../../src/domain/errors';
import { createLogger } from '../../src/log';

// Playbooks start slowly on a loaded machine (the test lanes run side by side on 2 cores).
jest.setTimeout(300_000);

/** Temp dirs of this file, removed after it. */
const tempDirs: string[] = [];
function mkdtempSync(prefix: string): string {
  const dir = mkdtempRaw(prefix);
  tempDirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

const PLAYBOOKS = path.resolve(__dirname, '../fixtures/playbooks');
const dataDir = mkdtempSync(path.join(tmpdir(), 'ms-ansible-'));
const outDir = mkdtempSync(path.join(tmpdir(), 'ms-ansible-out-'));
const logLines: string[] = [];
const log = createLogger('debug', { write: (line: string) => void logLines.push(line) });
const bridge = new AnsibleRunnerBridge({ dataDir, playbookDir: PLAYBOOKS, log });

const LOCAL: AnsibleInventory = {
  hosts: [{ name: 'localhost', connection: 'local' }],
  groups: { slurm_controller: ['localhost'], slurm_workers: ['localhost'] },
};

function runOf(playbook: string, extra: Partial<PlaybookRun> = {}): PlaybookRun {
  return { playbook, inventory: LOCAL, extraVars: { out_dir: outDir, ms_cluster_id: 'c-test' }, timeoutMs: 60_000, ...extra };
}

/** Every run dir's ident, in start order, as the bridge logged it. */
function startedIdents(lines: string[]): string[] {
  return lines.map((l) => JSON.parse(l) as { msg: string; ident?: string })
    .filter((l) => l.msg === 'ansible run started' && l.ident).map((l) => l.ident as string);
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(full));
    else out.push(full);
  }
  return out;
}

function pgrep(pattern: string): string[] {
  const r = spawnSync('pgrep', ['-a', '-f', pattern], { encoding: 'utf8' });
  return r.stdout.split('\n').filter((l) => l.trim() !== '');
}

/** pgrep's matches once they stop changing: a SIGKILLed process needs a moment to leave the table. */
async function pgrepSettled(pattern: string): Promise<string[]> {
  await waitFor(() => pgrep(pattern).length === 0, 2000).catch(() => undefined);
  return pgrep(pattern);
}

async function waitFor(check: () => boolean, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('AnsibleRunnerBridge', () => {
  it('streams the events of a 2-task play in order, as they happen, and counts what changed', async () => {
    const events: AnsibleEvent[] = [];
    const receivedAt: number[] = [];
    const first = await bridge.run(runOf('two_tasks.yml', {
      // A slow sink slows the reading; it must not reorder or drop anything.
      onEvent: async (e) => { receivedAt.push(Date.now()); events.push(e); await new Promise((r) => setTimeout(r, 30)); },
    }));
    const endedAt = Date.now();
    expect(first).toMatchObject({ status: 'successful', rc: 0, failures: [], changed: 1 });
    expect(first.hostStats).toEqual({ localhost: { ok: 2, changed: 1, failures: 0, unreachable: 0, skipped: 0 } });
    expect(events.map((e) => `${e.kind}:${e.task ?? e.play ?? ''}:${e.host ?? ''}`)).toEqual([
      'play_start:Two tasks:',
      'task_start:Write greeting:', 'task_changed:Write greeting:localhost',
      'task_start:Read greeting:', 'task_ok:Read greeting:localhost',
      'stats::',
    ]);
    expect(events[5].message).toBe('localhost: ok=2 changed=1 failed=0 unreachable=0 skipped=0');
    // Streamed, not replayed after exit: the play's first event came well before the run ended.
    expect(endedAt - receivedAt[0]).toBeGreaterThan(500);

    // Idempotent, and a fresh run dir: nothing of the first run's settings carries over.
    const second = await bridge.run(runOf('two_tasks.yml'));
    expect(second).toMatchObject({ status: 'successful', changed: 0 });
    expect(second.hostStats.localhost).toMatchObject({ ok: 2, changed: 0 });
  });

  it('runs only the tagged tasks, and the tags do not stick to the next run', async () => {
    const tagged: AnsibleEvent[] = [];
    const result = await bridge.run(runOf('two_tasks.yml', { tags: ['read'], onEvent: (e) => void tagged.push(e) }));
    expect(result.status).toBe('successful');
    expect(tagged.filter((e) => e.kind === 'task_start').map((e) => e.task)).toEqual(['Read greeting']);
    const untagged: AnsibleEvent[] = [];
    await bridge.run(runOf('two_tasks.yml', { onEvent: (e) => void untagged.push(e) }));
    expect(untagged.filter((e) => e.kind === 'task_start').map((e) => e.task)).toEqual(['Write greeting', 'Read greeting']);
  });

  it('writes the inventory and env of a run into a fresh 0700 dir', async () => {
    let seen: { inventory: unknown; extravars: unknown; cmdline: string; mode: number } | undefined;
    const before = new Set(readdirSync(path.join(dataDir, 'ansible')));
    await bridge.run(runOf('two_tasks.yml', {
      tags: ['read', 'write'],
      inventory: { ...LOCAL, hosts: [{ name: 'localhost', connection: 'local', vars: { slurm_node_name: 'n1' } }] },
      onEvent: () => {
        if (seen) return;
        const dir = readdirSync(path.join(dataDir, 'ansible')).find((d) => !before.has(d));
        if (!dir) return;
        const runDir = path.join(dataDir, 'ansible', dir);
        seen = {
          inventory: JSON.parse(readFileSync(path.join(runDir, 'inventory/hosts.json'), 'utf8')),
          extravars: readFileSync(path.join(runDir, 'env/extravars'), 'utf8'),
          cmdline: readFileSync(path.join(runDir, 'env/cmdline'), 'utf8'),
          mode: statSync(runDir).mode & 0o777,
        };
      },
    }));
    expect(seen).toEqual({
      inventory: { all: {
        hosts: { localhost: { ansible_connection: 'local', ansible_python_interpreter: '/usr/bin/python3', slurm_node_name: 'n1' } },
        children: { slurm_controller: { hosts: { localhost: {} } }, slurm_workers: { hosts: { localhost: {} } } },
      } },
      // YAML with every string tagged !unsafe: Ansible substitutes them, never evaluates them.
      extravars: `{"out_dir": !unsafe ${JSON.stringify(outDir)}, "ms_cluster_id": !unsafe "c-test"}\n`,
      cmdline: '--tags read,write',
      mode: 0o700,
    });
  });

  it('treats every extra var as data: template syntax from a caller is never evaluated', async () => {
    const probeDir = mkdtempSync(path.join(tmpdir(), 'ms-ansible-probe-'));
    const marker = path.join(probeDir, 'pwned');
    const pipe = `{{ lookup('pipe', 'touch ${marker}') }}`;
    const statement = `{% set x = lookup('pipe', 'touch ${marker}') %}`;
    const hostile = `${pipe} ${statement} {# c #} "quoted" \\ back\nline \u0007 é 😀`;
    const result = await bridge.run(runOf('echo_vars.yml', {
      extraVars: {
        out_dir: probeDir, ms_cluster_id: 'c-test', probe_text: hostile, probe_name: pipe,
        probe_argv: ['printf', '%s|%s', pipe, statement],
      },
    }));
    expect(result.status).toBe('successful');
    expect(existsSync(marker)).toBe(false);
    expect(readFileSync(path.join(probeDir, 'probe.txt'), 'utf8')).toBe(hostile);
    expect(readFileSync(path.join(probeDir, 'argv.txt'), 'utf8')).toBe(`${pipe}|${statement}`);
    expect(readFileSync(path.join(probeDir, 'derived.txt'), 'utf8')).toBe(`${probeDir}/derived-${pipe}`);
  });

  it('refuses inventory values that carry template syntax', async () => {
    await expect(bridge.run(runOf('two_tasks.yml', {
      inventory: { ...LOCAL, hosts: [{ name: 'localhost', connection: 'local', vars: { slurm_node_name: "{{ lookup('pipe', 'id') }}" } }] },
    }))).rejects.toThrow(/inventory\.hosts\[0\]\.slurm_node_name: must not contain template syntax/);
  });

  it('reports a failed task with its own message, its name and its host', async () => {
    const events: AnsibleEvent[] = [];
    const result = await bridge.run(runOf('fail.yml', { onEvent: (e) => void events.push(e) }));
    expect(result.status).toBe('failed');
    expect(result.rc).not.toBe(0);
    expect(result.failures).toEqual([{ host: 'localhost', task: 'Injected failure task', message: 'injected failure', unreachable: false }]);
    expect(events.find((e) => e.kind === 'task_failed')).toMatchObject({ host: 'localhost', task: 'Injected failure task', message: 'injected failure' });
    expect(events.some((e) => e.task === 'Never reached')).toBe(false);
    expect(result.hostStats.localhost).toMatchObject({ ok: 1, failures: 1 });
    expect(logLines.some((l) => l.includes('"level":40') && l.includes('Injected failure task') && l.includes('injected failure'))).toBe(true);
  });

  it("says what a failed command printed, not just its exit code", async () => {
    const result = await bridge.run(runOf('command_fail.yml'));
    expect(result.status).toBe('failed');
    expect(result.failures).toHaveLength(1);
    expect(result.failures[0]).toMatchObject({ host: 'localhost', task: 'Command that exits 3', unreachable: false });
    expect(result.failures[0].message).toBe('non-zero return code (rc 3): boom-err');
  });

  it('says what ansible-playbook printed when the play fails before any task', async () => {
    const result = await bridge.run(runOf('broken.yml'));
    expect(result.status).toBe('failed');
    expect(result.failures).toHaveLength(1);
    expect(result.failures[0].message).toMatch(/^ansible-runner failed \(rc [1-9]\d*\): ERROR! couldn't resolve module\/action 'ansible.builtin.no_such_module_here'/);
  });

  it('names an unreachable host, while the reachable one still succeeds', async () => {
    const inventory: AnsibleInventory = {
      hosts: [{ name: 'localhost', connection: 'local' },
        { name: 'deadhost', connection: 'ssh', address: '127.0.0.1', sshPort: 1, sshUser: 'root' }],
      groups: { slurm_controller: ['localhost'], slurm_workers: ['localhost', 'deadhost'] },
    };
    const events: AnsibleEvent[] = [];
    const result = await bridge.run(runOf('two_tasks.yml', { inventory, onEvent: (e) => void events.push(e) }));
    expect(result.status).toBe('failed');
    expect(result.failures).toHaveLength(1);
    expect(result.failures[0]).toMatchObject({ host: 'deadhost', task: 'Write greeting', unreachable: true });
    expect(result.failures[0].message).toMatch(/^deadhost unreachable: .*port 1: Connection refused/);
    expect(events.filter((e) => e.kind === 'host_unreachable').map((e) => e.host)).toEqual(['deadhost']);
    expect(result.hostStats.deadhost.unreachable).toBe(1);
    expect(result.hostStats.localhost).toMatchObject({ failures: 0, unreachable: 0, ok: 2 });
  });

  describe('stopping', () => {
    async function startSleep(signal: AbortSignal | undefined, bridgeToUse: AnsibleRunnerBridge, timeoutMs = 60_000) {
      const marker = `31${randomBytes(2).readUInt16BE()}.${randomBytes(2).readUInt16BE()}`;
      let sleeping = false;
      const running = bridgeToUse.run(runOf('sleep.yml', {
        extraVars: { sleep_seconds: marker }, signal, timeoutMs,
        onEvent: (e) => { if (e.kind === 'task_start') sleeping = true; },
      }));
      await waitFor(() => sleeping && pgrep(`sleep ${marker}`).length > 0, 120_000);
      return { marker, running };
    }

    it('cancels through the AbortSignal within seconds and leaves no process of the run', async () => {
      const abort = new AbortController();
      const { marker, running } = await startSleep(abort.signal, bridge);
      const runDirs = readdirSync(path.join(dataDir, 'ansible'));
      const newest = runDirs.sort()[runDirs.length - 1];
      expect(pgrep(`ansible-playbook.*${newest}`).length).toBeGreaterThan(0);
      const abortedAt = Date.now();
      abort.abort();
      const result = await running;
      expect(result.status).toBe('canceled');
      // Well before the hours-long sleep would have ended: the abort stopped it.
      expect(Date.now() - abortedAt).toBeLessThan(60_000);
      expect(await pgrepSettled(`sleep ${marker}`)).toEqual([]);
      expect(await pgrepSettled(newest)).toEqual([]); // ansible-runner and ansible-playbook name the run dir
    });

    it('still leaves nothing when ansible-runner is SIGKILLed before it can stop its own children', async () => {
      // killGraceMs 0: SIGKILL right after SIGTERM. ansible-playbook lives in a session of its own
      // (pexpect), so only the session sweep can reach it.
      const hasty = new AnsibleRunnerBridge({ dataDir, playbookDir: PLAYBOOKS, log, killGraceMs: 0 });
      const abort = new AbortController();
      const { marker, running } = await startSleep(abort.signal, hasty);
      abort.abort();
      const result = await running;
      expect(result.status).toBe('canceled');
      expect(await pgrepSettled(`sleep ${marker}`)).toEqual([]);
      expect(await pgrepSettled(`ansible-playbook.*${path.basename(dataDir)}`)).toEqual([]);
    });

    it('times out, says during which task, and leaves no process', async () => {
      // Long enough for a loaded machine to reach the sleep task; far shorter than the sleep.
      const { marker, running } = await startSleep(undefined, bridge, 40_000);
      const result = await running;
      expect(result.status).toBe('timeout');
      expect(result.failures).toEqual([{ task: 'Long sleep', unreachable: false, message: 'timed out after 40000 ms during task Long sleep' }]);
      expect(result.durationMs).toBeGreaterThanOrEqual(40_000);
      expect(result.durationMs).toBeLessThan(120_000);
      expect(await pgrepSettled(`sleep ${marker}`)).toEqual([]);
    });

    it('stops the play and rejects with the error when onEvent throws', async () => {
      const marker = `32${randomBytes(2).readUInt16BE()}.${randomBytes(2).readUInt16BE()}`;
      const running = bridge.run(runOf('sleep.yml', {
        extraVars: { sleep_seconds: marker },
        onEvent: async (e) => {
          if (e.kind !== 'task_start') return;
          await waitFor(() => pgrep(`sleep ${marker}`).length > 0, 20_000);
          throw new Error('event sink is down');
        },
      }));
      await expect(running).rejects.toThrow('event sink is down');
      expect(await pgrepSettled(`sleep ${marker}`)).toEqual([]);
    });

    it('returns canceled at once for an already aborted signal, running nothing', async () => {
      const before = readdirSync(path.join(dataDir, 'ansible')).length;
      const result = await bridge.run(runOf('two_tasks.yml', { signal: AbortSignal.abort() }));
      expect(result.status).toBe('canceled');
      expect(readdirSync(path.join(dataDir, 'ansible')).length).toBe(before);
    });
  });

  it('keeps the ssh key and secret vars out of argv, env, logs, events and every file left behind', async () => {
    const keyDir = mkdtempSync(path.join(tmpdir(), 'ms-ansible-key-'));
    const keygen = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'bridge-test', '-f', path.join(keyDir, 'id')]);
    expect(keygen.status).toBe(0);
    const key = readFileSync(path.join(keyDir, 'id'), 'utf8');
    const keyBody = key.split('\n').filter((l) => l && !l.startsWith('-----'));
    const password = `hunter2-${randomBytes(6).toString('hex')}`;
    // Something the service's own environment might hold: ansible-runner records its env on disk.
    process.env.MS_BRIDGE_TEST_SENTINEL = `sentinel-${randomBytes(6).toString('hex')}`;
    const secretLog: string[] = [];
    const secretBridge = new AnsibleRunnerBridge({
      dataDir, playbookDir: PLAYBOOKS, log: createLogger('debug', { write: (l: string) => void secretLog.push(l) }),
    });
    const events: AnsibleEvent[] = [];
    let keyFileDuringRun: { mode: number; text: string } | undefined;
    let runDir = '';
    try {
      const result = await secretBridge.run(runOf('echo_secret.yml', {
        extraVars: { db_password: password, ms_cluster_id: 'c-test' },
        sshPrivateKey: key,
        onEvent: (e) => {
          events.push(e);
          if (!runDir) runDir = path.join(dataDir, 'ansible', startedIdents(secretLog)[0]);
          const keyFile = path.join(runDir, 'env/ssh_key');
          if (!keyFileDuringRun && existsSync(keyFile)) {
            keyFileDuringRun = { mode: statSync(keyFile).mode & 0o777, text: readFileSync(keyFile, 'utf8') };
          }
        },
      }));
      expect(result.status).toBe('failed');
      expect(result.failures).toEqual([{ host: 'localhost', task: 'Fail with the password', message: 'bad password [redacted]', unreachable: false }]);
    } finally {
      delete process.env.MS_BRIDGE_TEST_SENTINEL;
    }
    expect(keyFileDuringRun).toEqual({ mode: 0o600, text: key });
    expect(existsSync(path.join(runDir, 'env/ssh_key'))).toBe(false);
    const files = filesUnder(runDir);
    expect(files.length).toBeGreaterThan(5); // artifacts are there, and were searched
    expect(files.some((f) => f.endsWith('/command'))).toBe(true); // ansible-runner's argv + env record
    const leaks = files.filter((f) => {
      const text = readFileSync(f, 'utf8');
      return keyBody.some((line) => text.includes(line)) || text.includes(password) || text.includes('sentinel-');
    });
    expect(leaks).toEqual([]);
    const logText = secretLog.join('');
    expect(logText).toContain('ansible run ended');
    expect(logText).toContain('[redacted]'); // the failure message was logged, masked
    for (const line of keyBody) expect(logText).not.toContain(line);
    expect(logText).not.toContain(password);
    expect(JSON.stringify(events)).not.toContain(password);
  });

  it('keeps only keepRuns run dirs, the newest ones', async () => {
    const rotDir = mkdtempSync(path.join(tmpdir(), 'ms-ansible-rot-'));
    const rotLog: string[] = [];
    const rot = new AnsibleRunnerBridge({
      dataDir: rotDir, playbookDir: PLAYBOOKS, keepRuns: 2,
      log: createLogger('info', { write: (l: string) => void rotLog.push(l) }),
    });
    for (let i = 0; i < 4; i++) {
      expect((await rot.run(runOf('two_tasks.yml', { tags: ['read'] }))).status).toBe('successful');
    }
    const idents = startedIdents(rotLog);
    expect(idents).toHaveLength(4);
    expect(readdirSync(path.join(rotDir, 'ansible')).sort()).toEqual(idents.slice(2).sort());
  });

  it('rejects an inventory it cannot write, naming every bad field, before running anything', async () => {
    const bad = runOf('nope.yml', {
      inventory: { hosts: [{ name: 'localhost', connection: 'local' }], groups: { slurm_workers: ['ghost'] } },
      tags: ['ok', 'two words'],
    });
    const err = await bridge.run(bad).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidRequestError);
    expect((err as InvalidRequestError).fieldErrors.map((f) => f.field)).toEqual(['playbook', 'inventory.groups.slurm_workers', 'tags[1]']);
  });
});
