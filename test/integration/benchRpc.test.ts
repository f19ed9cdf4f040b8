// The bounded CI version of the benchmarks: the compiled bench/rpc (clients, no-op server and
// service replicas each in their own processes) and bench/ansible, run as an operator runs them,
// with tiny bounds. Asserts that they ran to the end and printed their table rows with numbers and
// ratios, and that they left no database behind; never a figure's size (benchmarks print timings,
// tests do not judge them).
import * as path from 'node:path';
import { Client } from 'pg';
import { adminUrl } from '../support/database';
import { ROOT } from '../support/serviceProcess';
import { runNode, type NodeRun as Run } from '../support/runNode';

const RPC = path.join(ROOT, 'dist/bench/rpc.js');
const ANSIBLE = path.join(ROOT, 'dist/bench/ansible.js');


interface Row {
  scenario: string;
  replicas: number;
  clients: number;
  clientProcesses: number;
  calls: number;
  perSecond: number;
  p50: number;
  p99: number;
  ratio: number;
  errors: number;
}

const NUMBER = '(\\d+(?:\\.\\d+)?)';
// scenario, 8 figures (replicas ... x raw), x edge (a figure, or '-' without getAPIVersion), errors.
const ROW = new RegExp(`^\\| (raw no-op(?: \\(end\\))?|getAPIVersion|submitJob|getJob) \\| ${Array(8).fill(NUMBER).join(' \\| ')} \\| (?:\\d+(?:\\.\\d+)?|-) \\| ${NUMBER} \\|`, 'gm');

function rows(stdout: string): Row[] {
  return [...stdout.matchAll(ROW)].map((m) => ({
    // The no-op's second run, at the end, is the same scenario.
    scenario: m[1].replace(' (end)', ''),
    replicas: Number(m[2]),
    clients: Number(m[3]),
    clientProcesses: Number(m[4]),
    calls: Number(m[5]),
    perSecond: Number(m[6]),
    p50: Number(m[7]),
    p99: Number(m[8]),
    ratio: Number(m[9]),
    errors: Number(m[10]),
  }));
}

function rpcEnv(): Record<string, string | undefined> {
  return { ...process.env, DATABASE_URL: adminUrl() };
}

/** Whether a database of that name exists on the run's Postgres. */
async function databaseExists(name: string): Promise<boolean> {
  const client = new Client({ connectionString: adminUrl() });
  await client.connect();
  try {
    const result = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    return result.rowCount === 1;
  } finally {
    await client.end();
  }
}

function expectRow(all: Row[], scenario: string, clients: number, replicas: number): Row {
  const row = all.find((r) => r.scenario === scenario && r.clients === clients && r.replicas === replicas);
  if (!row) throw new Error(`no row for ${scenario} x${clients} on ${replicas} replica(s) in:\n${JSON.stringify(all)}`);
  // The bench divides by the higher of the no-op's runs (start and end) at these clients.
  const raw = all.filter((r) => r.scenario === 'raw no-op' && r.clients === clients)
    .reduce<Row | undefined>((best, r) => (best && best.perSecond >= r.perSecond ? best : r), undefined);
  expect(row.calls).toBeGreaterThan(0);
  expect(row.perSecond).toBeGreaterThan(0);
  expect(row.p99).toBeGreaterThanOrEqual(row.p50);
  // The ratio is this row's rate over the no-op's at the same clients, as printed (rounded).
  if (!raw) throw new Error(`no raw no-op row at ${clients} clients`);
  expect(Math.abs(row.ratio - row.perSecond / raw.perSecond)).toBeLessThan(0.005 + 1 / raw.perSecond);
  expect(row.errors).toBe(0);
  expect(row.clientProcesses).toBe(Math.min(clients, 4));
  return row;
}

describe('bench/rpc, bounded', () => {
  it('runs every scenario at 1 and 4 clients in separate processes and prints the table with ratios', async () => {
    const run = await runNode(RPC, ['--seconds', '1', '--warmup', '0', '--concurrency', '1,4'], rpcEnv());
    expect({ code: run.code, stderr: run.code === 0 ? '' : run.stderr }).toEqual({ code: 0, stderr: '' });
    const all = rows(run.stdout);
    expect(all).toHaveLength(10); // 4 scenarios and the no-op again at the end, at 1 and at 4 clients
    for (const clients of [1, 4]) {
      expectRow(all, 'raw no-op', clients, 1);
      // The no-op runs at the start and at the end; the faster of the two is the 1.00 of its column.
      expect(Math.max(...all.filter((r) => r.scenario === 'raw no-op' && r.clients === clients).map((r) => r.ratio))).toBe(1);
      for (const scenario of ['getAPIVersion', 'submitJob', 'getJob']) expectRow(all, scenario, clients, 1);
    }
    expect(run.stdout).toMatch(/^targets \(1 service process\): not evaluated/m);
    expect(run.stdout).toMatch(/^machine: +\d+ cores, /m);
    // The fresh database is dropped at the end.
    const database = /fresh database (bench_\d+_\d+)/.exec(run.stdout)?.[1];
    expect(database).toBeDefined();
    expect(await databaseExists(database ?? '')).toBe(false);
  }, 300_000);

  it('with --replicas 2 at 64 clients, prints what the second replica adds and the targets as met or not', async () => {
    const run = await runNode(RPC, ['--seconds', '1', '--warmup', '0', '--concurrency', '64', '--replicas', '2'], rpcEnv());
    expect({ code: run.code, stderr: run.code === 0 ? '' : run.stderr }).toEqual({ code: 0, stderr: '' });
    const all = rows(run.stdout);
    expect(all).toHaveLength(8); // the no-op at the start and at the end, 3 calls on 1 and on 2 replicas
    expectRow(all, 'raw no-op', 64, 1);
    for (const scenario of ['getAPIVersion', 'submitJob', 'getJob']) {
      expectRow(all, scenario, 64, 1);
      expectRow(all, scenario, 64, 2);
      expect(run.stdout).toMatch(new RegExp(`^- ${scenario} x64: \\d+ -> \\d+ calls/s \\(\\d+\\.\\d+x\\)`, 'm'));
    }
    for (const label of ['1 service process', '2 service processes']) {
      const section = run.stdout.split(`targets at 64 concurrent clients, ${label} `)[1];
      expect(section).toBeDefined();
      const verdicts = section.split('\n').slice(1, 7);
      expect(verdicts).toHaveLength(6);
      for (const line of verdicts) expect(line).toMatch(/^- (MET {4}|NOT MET) (submitJob|getJob) (>=|p99 <=) /);
    }
  }, 300_000);
});

describe('bench/ansible, bounded', () => {
  it('runs the play once per variant and prints the table and the overheads', async () => {
    const run = await runNode(ANSIBLE, ['--runs', '1', '--warmup', '0'], process.env);
    expect({ code: run.code, stderr: run.code === 0 ? '' : run.stderr }).toEqual({ code: 0, stderr: '' });
    for (const variant of ['ansible-playbook', 'ansible-runner', 'bridge']) {
      expect(run.stdout).toMatch(new RegExp(`^\\| ${variant} \\| \\d+\\.\\d\\d \\| \\d+\\.\\d\\d \\| (—|[+-]\\d+\\.\\d%) \\|$`, 'm'));
    }
    expect(run.stdout).toMatch(/^overhead of the bridge over bare ansible-runner: [+-]\d+\.\d% \(median\), [+-]\d+\.\d% \(mean\); target <= 5%: (met|NOT met)$/m);
    expect(run.stdout).toMatch(/^overhead of the bridge over bare ansible-playbook: [+-]\d+\.\d% \(median\)/m);
  }, 300_000);
});
