// An ansible-runner killed from outside the service (the OOM killer, an operator's kill -9) in the
// middle of a play: the run is reported failed, saying so, and nothing of its play is left running.
// ansible-playbook lives in a session of its own (pexpect), so it survives its runner unless the
// bridge sweeps it: before the fix the play went on changing the hosts after the service had
// already recorded the step as failed (found by test/reliability/dependenciesDown.test.ts).
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { AnsibleRunnerBridge } from '../../src/ansible/bridge';
import { createLogger } from '../../src/log';
import { descendantsOf } from '../reliability/support/processTable';
import { sleep, until } from '../support/until';

jest.setTimeout(300_000);

const PLAYBOOKS = path.resolve(__dirname, '../fixtures/playbooks');
const dataDir = mkdtempSync(path.join(tmpdir(), 'ms-ansible-killed-'));
const outDir = mkdtempSync(path.join(tmpdir(), 'ms-ansible-killed-out-'));
afterAll(() => {
  for (const dir of [dataDir, outDir]) rmSync(dir, { recursive: true, force: true });
});

function pgrep(pattern: string): string[] {
  const r = spawnSync('pgrep', ['-a', '-f', pattern], { encoding: 'utf8' });
  return r.stdout.split('\n').filter((l) => l.trim() !== '');
}

it('an ansible-runner SIGKILLed mid-play: the run fails saying so, and no process of its play is left', async () => {
  const logLines: string[] = [];
  const bridge = new AnsibleRunnerBridge({ dataDir, playbookDir: PLAYBOOKS, log: createLogger('debug', { write: (l: string) => void logLines.push(l) }) });
  const marker = `33${randomBytes(2).readUInt16BE()}.${randomBytes(2).readUInt16BE()}`;
  const running = bridge.run({
    playbook: 'sleep.yml',
    inventory: { hosts: [{ name: 'localhost', connection: 'local' }], groups: {} },
    extraVars: { out_dir: outDir, sleep_seconds: marker },
    timeoutMs: 240_000,
  });
  await until(`sleep ${marker} running`, 120_000, async () => (pgrep(`sleep ${marker}`).length > 0 ? true : undefined), 100);
  const runner = descendantsOf(process.pid).find((p) => p.argv.some((a) => a.endsWith('ansible-runner')) && p.argv.some((a) => a.startsWith(dataDir)));
  if (!runner) throw new Error('no ansible-runner of this run among our descendants');
  process.kill(runner.pid, 'SIGKILL');
  const result = await running;
  expect(result.status).toBe('failed');
  expect(result.failures.map((f) => f.message).join(' ')).toMatch(/SIGKILL/);
  // A moment for the kernel to take SIGKILLed processes out of the table.
  await until('the play gone', 3000, async () => (pgrep(`sleep ${marker}`).length === 0 ? true : undefined), 100).catch(() => undefined);
  await sleep(200);
  expect(pgrep(`sleep ${marker}`)).toEqual([]);
  expect(pgrep(`ansible-playbook.*${path.basename(dataDir)}`)).toEqual([]);
});
