// The Ansible path over SSH: our playbook's common and munge roles run through the bridge on a
// host reached with ssh — an sshd of the test's own in a network namespace (scripts/test-ssh-host),
// authenticated with a key pair made the way the service makes gateway keys.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { AnsibleRunnerBridge } from '../../src/ansible/bridge';
import type { AnsibleEvent, AnsibleInventory } from '../../src/ansible/runner';
import { createLogger } from '../../src/log';
import { generateSshKeyPair } from '../../src/secrets/sshKeys';
import { PLAYBOOK_DIR } from '../../src/app';
import { ROOT } from '../support/serviceProcess';
import { slurmDaemonsHere } from '../support/slurmDaemons';

jest.setTimeout(10 * 60_000);

const HOST = 'ms-ssh-h1';
const ADDRESS = '10.213.0.11';
const HELPER = path.join(ROOT, 'scripts/test-ssh-host');
const CLUSTER_ID = 'ssh-roles-test';

describe('Ansible over SSH', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ms-ssh-'));
  const logLines: string[] = [];
  const bridge = new AnsibleRunnerBridge({
    dataDir: dir, playbookDir: PLAYBOOK_DIR, log: createLogger('info', { write: (line: string) => void logLines.push(line) }),
  });
  const keys = generateSshKeyPair('airavata-metascheduler@ssh-test');
  const inventory: AnsibleInventory = {
    hosts: [{ name: ADDRESS, connection: 'ssh', address: ADDRESS, sshUser: 'root', sshPort: 22, vars: { slurm_node_name: 'h1' } }],
    groups: { slurm_controller: [ADDRESS], slurm_workers: [ADDRESS] },
  };

  beforeAll(() => {
    const busy = slurmDaemonsHere();
    if (busy.length > 0) throw new Error(`Slurm daemons already run here (${busy.join(', ')}); this test shares the machine's files`);
    const authorized = path.join(dir, 'authorized_keys');
    writeFileSync(authorized, `${keys.publicKey}\n`, { mode: 0o600 });
    execFileSync(HELPER, ['up', HOST, ADDRESS, authorized]);
  });

  afterAll(() => {
    spawnSync(HELPER, ['down', HOST]);
  });

  it('runs the common and munge roles on the ssh host, with the key kept out of argv and logs', async () => {
    const events: AnsibleEvent[] = [];
    const result = await bridge.run({
      playbook: 'slurm.yml', inventory, tags: ['common', 'munge'], sshPrivateKey: keys.privateKeyPem,
      extraVars: { ms_cluster_id: CLUSTER_ID }, timeoutMs: 300_000,
      onEvent: (event) => { events.push(event); },
    });
    try {
      expect(result.failures).toEqual([]);
      expect(result.status).toBe('successful');
      const tasks = events.filter((e) => e.kind === 'task_ok' || e.kind === 'task_changed');
      expect(tasks.length).toBeGreaterThan(0);
      expect(tasks.every((e) => e.host === ADDRESS)).toBe(true);
      expect(tasks.some((e) => /munge/i.test(e.task ?? ''))).toBe(true);
      // The namespace's sshd logged our key's login: this really went over ssh.
      const sshdLog = spawnSync('sh', ['-c', `cat /run/ms-test-ssh/${HOST}/*.log 2>/dev/null || true`]).stdout.toString();
      if (sshdLog) expect(sshdLog).toContain('Accepted publickey');
      const keyBody = keys.privateKeyPem.split('\n')[1];
      expect(logLines.join('\n')).not.toContain(keyBody);
      // The host's own munged (its /run is its own) answers inside the host
      expect(spawnSync(HELPER, ['exec', HOST, 'munge', '-n']).status).toBe(0);
    } finally {
      const down = await bridge.run({
        playbook: 'slurm_teardown.yml', inventory, sshPrivateKey: keys.privateKeyPem,
        extraVars: { ms_cluster_id: CLUSTER_ID }, timeoutMs: 300_000,
      });
      expect(down.status).toBe('successful');
    }
  });

  it("checks the host against the pinned key it is given: the host's own key passes, another is refused", async () => {
    const scanned = spawnSync('ssh-keyscan', ['-t', 'ed25519', ADDRESS], { encoding: 'utf8' }).stdout.trim();
    expect(scanned).toMatch(/^10\.213\.0\.11 ssh-ed25519 \S+$/);
    const run = (knownHosts: string[]) => bridge.run({
      playbook: 'slurm.yml', tags: ['common'], sshPrivateKey: keys.privateKeyPem, timeoutMs: 120_000, inventory, knownHosts,
      extraVars: { ms_cluster_id: CLUSTER_ID },
    });
    const good = await run([scanned]);
    expect(good.failures).toEqual([]);
    // Another host's key (a fresh one) pinned for this address: OpenSSH refuses to talk to it.
    const other = generateSshKeyPair('not-this-host').publicKey.split(' ').slice(0, 2).join(' ');
    const bad = await run([`${ADDRESS} ${other}`]);
    expect(bad.status).toBe('failed');
    expect(bad.failures[0]).toMatchObject({ host: ADDRESS, unreachable: true, message: expect.stringMatching(/host key/i) });
  });

  it('names an ssh host that does not answer as unreachable', async () => {
    const result = await bridge.run({
      playbook: 'slurm.yml', tags: ['common'], sshPrivateKey: keys.privateKeyPem, timeoutMs: 120_000,
      inventory: {
        // loopback, a port nobody listens on: refused at once, and no traffic leaves the machine
        hosts: [{ name: '127.0.0.1', connection: 'ssh', address: '127.0.0.1', sshUser: 'root', sshPort: 1 }],
        groups: { slurm_controller: ['127.0.0.1'], slurm_workers: ['127.0.0.1'] },
      },
      extraVars: { ms_cluster_id: CLUSTER_ID },
    });
    expect(result.status).toBe('failed');
    expect(result.failures[0]).toMatchObject({ host: '127.0.0.1', unreachable: true });
  });
});
