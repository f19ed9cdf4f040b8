// The bounded CI version of bench/dispatch: the compiled benchmark run as an operator runs it (it
// builds a one-node Slurm cluster on this machine through the service, times our dispatch against
// raw sbatch loops, then deletes the cluster), with tiny bounds. Asserts that it ran to the end and
// printed every figure, with each job in Slurm exactly once; never a figure's size.
import * as path from 'node:path';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { ROOT } from '../support/serviceProcess';
import { runNode, type NodeRun } from '../support/runNode';

jest.setTimeout(10 * 60_000);

const BENCH = path.join(ROOT, 'dist/bench/dispatch.js');
const RATE = '(\\d+(?:\\.\\d+)?) jobs/s';

function runBench(args: string[], databaseUrl: string): Promise<NodeRun> {
  return runNode(BENCH, args, { ...process.env, DATABASE_URL: databaseUrl });
}

describe('bench/dispatch (bounded)', () => {
  let database: TestDatabase;

  beforeAll(async () => {
    // The service's own database, empty: the benchmark migrates it as the service would.
    database = await createTestDatabase({ migrate: false });
  });

  afterAll(async () => {
    await database?.drop();
  });

  it('prints the raw loops, our rate, the ratios, the target verdict, exactly-once and the end -> final latency', async () => {
    const run = await runBench(['--jobs', '40', '--latency-jobs', '5'], database.url);
    expect({ code: run.code, stderr: run.code === 0 ? '' : run.stderr.slice(-3000) }).toEqual({ code: 0, stderr: '' });
    const out = run.stdout;
    expect(out).toMatch(/^cluster READY in \d+(\.\d+)? s/m);
    expect(out).toMatch(/^40 jobs, each one task of \/bin\/true$/m);
    const raw = out.match(new RegExp(`raw sbatch loop \\(sequential, as root\\): +${RATE}`));
    const account = out.match(new RegExp(`raw runuser\\+sbatch loop \\(as the account\\): +${RATE}`));
    const ours = out.match(new RegExp(`submitJob -> in Slurm \\(all QUEUED\\): +${RATE}`));
    expect([raw, account, ours].map((m) => (m ? Number(m[1]) > 0 : m))).toEqual([true, true, true]);
    const ratio = out.match(/ratio to the raw loop as root: (\d+\.\d+)x; as the account: (\d+\.\d+)x/);
    expect(ratio).not.toBeNull();
    // The printed ratio is the printed rates' quotient (to the printed precision).
    expect(Number(ratio?.[1])).toBeCloseTo(Number(ours?.[1]) / Number(raw?.[1]), 1);
    expect(out).toMatch(/target >= 1\.5x the raw loop as root: (met|not met)$/m);
    expect(out).toMatch(/in Slurm exactly once \(squeue\): 40 of 40 jobs$/m);
    expect(out).toMatch(/job end in Slurm -> final state recorded \(\d+ jobs, monitor every \d+ ms\):\n {2}p50 \d+ ms, p95 \d+ ms, max \d+ ms/);
  });
});
