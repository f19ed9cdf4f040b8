// `node dist/bench/ansible.js`: wall time of one small play (5 trivial tasks, localhost, connection
// local) run through AnsibleRunnerBridge, through bare `ansible-runner run`, and through bare
// `ansible-playbook`, same inventory and play. The three are interleaved (order rotated each round)
// so load from other work on the machine falls on all of them alike. It reports and never fails on
// the target: it is a benchmark, not a test.
//
//   node dist/bench/ansible.js [--runs 5] [--warmup 1]
import { execa } from 'execa';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { AnsibleRunnerBridge } from '../src/ansible/bridge';
import { createRunDir, inventoryJson, removeSecretFiles, rotateRunDirs, runsRoot } from '../src/ansible/runDir';
import { SecretSet } from '../src/ansible/secrets';
import type { AnsibleInventory } from '../src/ansible/runner';
import { createLogger } from '../src/log';
import { describeMachine } from './support/machine';

/** Issue 10: the bridge at most 5% over bare ansible-runner, the program it has to run, on the same play. */
const TARGET_OVERHEAD_VS_RUNNER = 0.05;

const PLAY = `- name: Five trivial tasks
  hosts: all
  gather_facts: false
  tasks:
    - name: One
      ansible.builtin.debug:
        msg: one
    - name: Two
      ansible.builtin.command: /bin/true
      changed_when: false
    - name: Three
      ansible.builtin.set_fact:
        three: 3
    - name: Four
      ansible.builtin.stat:
        path: /etc/hostname
    - name: Five
      ansible.builtin.debug:
        var: three
`;

const INVENTORY: AnsibleInventory = {
  hosts: [{ name: 'localhost', connection: 'local' }],
  groups: { slurm_controller: ['localhost'], slurm_workers: ['localhost'] },
};
const EXTRA_VARS = { ms_cluster_id: 'bench' };

type Variant = 'ansible-playbook' | 'ansible-runner' | 'bridge';
const VARIANTS: Variant[] = ['ansible-playbook', 'ansible-runner', 'bridge'];

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** The environment the bridge gives ansible-runner, for the bare runs too. */
function env(): Record<string, string> {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', LANG: 'C.UTF-8', PYTHONUNBUFFERED: '1', ANSIBLE_NOCOLOR: '1' };
}

/**
 * The part of a bridge run that is the bridge's and not ansible-runner's, timed without the
 * subprocess: it is far below the noise of the wall times. The scrub reads a real run's artifacts.
 */
function measureBookkeeping(work: string): number {
  const dataDir = path.join(work, 'bridge');
  const realRun = readdirSync(runsRoot(dataDir)).sort().pop();
  if (!realRun) throw new Error('no bridge run dir to scrub');
  const secrets = new SecretSet(['not-in-any-file-0123456789']);
  const run = { playbook: 'five.yml', inventory: INVENTORY, extraVars: { ...EXTRA_VARS, api_token: 'not-in-any-file-0123456789' }, timeoutMs: 1000 };
  const rounds = 50;
  const t0 = performance.now();
  for (let i = 0; i < rounds; i++) {
    const dir = createRunDir(dataDir, run);
    removeSecretFiles(dir, run);
    secrets.scrubTree(path.join(runsRoot(dataDir), realRun));
    rotateRunDirs(dataDir, 3, new Set([realRun]));
  }
  return (performance.now() - t0) / rounds;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { runs: { type: 'string', default: '5' }, warmup: { type: 'string', default: '1' }, help: { type: 'boolean', default: false } },
  });
  if (values.help) {
    process.stdout.write('usage: node dist/bench/ansible.js [--runs 5] [--warmup 1]\n');
    return;
  }
  const runs = Number(values.runs);
  const warmup = Number(values.warmup);
  if (!Number.isInteger(runs) || runs < 1 || !Number.isInteger(warmup) || warmup < 0) throw new Error('--runs >= 1, --warmup >= 0');

  const work = mkdtempSync(path.join(tmpdir(), 'ms-bench-ansible-'));
  const project = path.join(work, 'project');
  mkdirSync(project);
  writeFileSync(path.join(project, 'five.yml'), PLAY);
  const inventoryFile = path.join(work, 'hosts.json');
  writeFileSync(inventoryFile, JSON.stringify(inventoryJson(INVENTORY)));
  const extraVarsFile = path.join(work, 'extravars.json');
  writeFileSync(extraVarsFile, JSON.stringify(EXTRA_VARS));
  const bridge = new AnsibleRunnerBridge({
    dataDir: path.join(work, 'bridge'), playbookDir: project, keepRuns: 3,
    log: createLogger('info', { write: () => undefined }),
  });
  let runnerRound = 0;

  const once: Record<Variant, () => Promise<void>> = {
    'ansible-playbook': async () => {
      await execa('ansible-playbook', ['-i', inventoryFile, '-e', `@${extraVarsFile}`, 'five.yml'],
        { cwd: project, env: env(), extendEnv: false, stdin: 'ignore', stdout: 'ignore', stderr: 'ignore' });
    },
    'ansible-runner': async () => {
      // What the bridge asks of ansible-runner, minus the bridge: a fresh private data dir, --json.
      const pdd = path.join(work, 'runner', String(runnerRound++));
      mkdirSync(path.join(pdd, 'inventory'), { recursive: true });
      mkdirSync(path.join(pdd, 'env'));
      writeFileSync(path.join(pdd, 'inventory', 'hosts.json'), JSON.stringify(inventoryJson(INVENTORY)));
      writeFileSync(path.join(pdd, 'env', 'extravars'), JSON.stringify(EXTRA_VARS));
      await execa('ansible-runner', ['run', pdd, '-p', 'five.yml', '--project-dir', project, '-i', 'bench', '--json'],
        { cwd: pdd, env: env(), extendEnv: false, stdin: 'ignore', stdout: 'ignore', stderr: 'ignore' });
      rmSync(pdd, { recursive: true, force: true });
    },
    bridge: async () => {
      let events = 0;
      const r = await bridge.run({ playbook: 'five.yml', inventory: INVENTORY, extraVars: EXTRA_VARS, timeoutMs: 120_000, onEvent: () => { events++; } });
      if (r.status !== 'successful' || events < 12) throw new Error(`bridge run ${r.status}, ${events} events: ${JSON.stringify(r.failures)}`);
    },
  };

  const machine = describeMachine();
  const loadBefore = loadavg()[0];
  process.stdout.write(`bench/ansible: ${runs} runs each (+${warmup} warm-up), ${machine.cores} cores, ${machine.cpuModel}, ${machine.node}\n`);
  const times: Record<Variant, number[]> = { 'ansible-playbook': [], 'ansible-runner': [], bridge: [] };
  let bookkeeping = 0;
  try {
    for (let round = 0; round < warmup + runs; round++) {
      const order = VARIANTS.map((_, i) => VARIANTS[(i + round) % VARIANTS.length]);
      for (const variant of order) {
        const t0 = performance.now();
        await once[variant]();
        const ms = performance.now() - t0;
        if (round >= warmup) times[variant].push(ms);
      }
    }
    bookkeeping = measureBookkeeping(work);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }

  const stat = (v: Variant) => ({ mean: mean(times[v]), median: median(times[v]) });
  const bare = stat('ansible-playbook');
  const runner = stat('ansible-runner');
  const bridged = stat('bridge');
  const pct = (a: number, b: number): string => {
    const change = (a / b - 1) * 100;
    return `${change >= 0 ? '+' : ''}${change.toFixed(1)}%`;
  };
  const lines = [
    '| variant | mean (s) | median (s) | vs ansible-playbook (median) |',
    '| --- | --- | --- | --- |',
    ...VARIANTS.map((v) => `| ${v} | ${(stat(v).mean / 1000).toFixed(2)} | ${(stat(v).median / 1000).toFixed(2)} | ${v === 'ansible-playbook' ? '—' : pct(stat(v).median, bare.median)} |`),
    '',
    `overhead of the bridge over bare ansible-runner: ${pct(bridged.median, runner.median)} (median), ${pct(bridged.mean, runner.mean)} (mean); ` +
      `target <= ${TARGET_OVERHEAD_VS_RUNNER * 100}%: ${bridged.median / runner.median - 1 <= TARGET_OVERHEAD_VS_RUNNER ? 'met' : 'NOT met'}`,
    `overhead of the bridge over bare ansible-playbook: ${pct(bridged.median, bare.median)} (median), ${pct(bridged.mean, bare.mean)} (mean)`,
    `  of which ansible-runner itself: ${((runner.median - bare.median) / 1000).toFixed(2)} s (median; runner vs ansible-playbook ${pct(runner.median, bare.median)})`,
    `  of which the bridge's own work: ${((bridged.median - runner.median) / 1000).toFixed(2)} s (median; bridge vs bare ansible-runner ${pct(bridged.median, runner.median)})`,
    `  the bridge's file work alone (run dir + env files, secret removal, artifact scrub, rotation), without a subprocess: ${bookkeeping.toFixed(1)} ms per run`,
    `load: 1-min load average ${loadBefore.toFixed(2)} at start, ${loadavg()[0].toFixed(2)} at end`,
    `raw (ms): ${VARIANTS.map((v) => `${v} ${times[v].map((t) => t.toFixed(0)).join(',')}`).join('; ')}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/ansible failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
