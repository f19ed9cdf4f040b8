// bench/monitor, bounded: 200 jobs on one Slurm cluster built on a namespace host, 20 changes. It
// must run to its end and print every figure (what CI keeps); how good they are is not asserted.
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { adminUrl } from '../support/database';
import { runNode } from '../support/runNode';

jest.setTimeout(25 * 60_000);

const ROOT = path.resolve(__dirname, '../..');
const BENCH = path.join(ROOT, 'dist/bench/monitor.js');
const BRIDGE = 'msbr4';
const NET = '10.217.0';

async function run(args: string[]): Promise<{ code: number | null; output: string }> {
  // The run's Postgres (globalSetup), where the bench makes and drops its own database.
  const { code, stdout, stderr } = await runNode(BENCH, args, { ...process.env, DATABASE_URL: adminUrl(), MS_TEST_BRIDGE: BRIDGE, MS_TEST_NET: NET });
  return { code, output: stdout + stderr };
}

describe('bench/monitor (bounded)', () => {
  it('builds a cluster, keeps 200 jobs live, measures ticks, lag and RSS, and tears everything down', async () => {
    expect(existsSync(BENCH)).toBe(true);
    const { code, output } = await run(['--jobs', '200', '--clusters', '1', '--changes', '20', '--window', '5']);
    expect({ code, output }).toMatchObject({ code: 0 });
    const figure = '(\\d+(\\.\\d+)?|NaN)';
    for (const line of [
      /^all 200 jobs QUEUED in Slurm/m,
      /^restarted the service: monitoring in a fresh process from here/m,
      /^PENDING in Slurm: 200 = 200$/m,
      new RegExp(`^cluster ms-bm-h1: \\d+ ticks in 5 s, slurmctld REQUEST_JOB_INFO \\d+ \\(${figure} per tick\\)`, 'm'),
      new RegExp(`^tick duration \\(steady, \\d+ ticks, 200 live jobs per cluster\\): p50 ${figure} ms, p95 ${figure} ms, max ${figure} ms`, 'm'),
      new RegExp(`^lag scheduler -> getJob \\(20 jobs in 10 waves\\): p50 ${figure} ms, p95 ${figure} ms, max ${figure} ms$`, 'm'),
      /^mass end: 180 jobs cancelled at once recorded in/m,
      new RegExp(`^service RSS \\(fresh process\\): steady ${figure} MB, during changes ${figure} MB, max over the run ${figure} MB`, 'm'),
      /^ {2}one batched scheduler query per cluster per tick: (met|NOT met)/m,
      /^ {2}lag p95 <= 2000 ms: (met|NOT met)/m,
      /^ {2}RSS <= 200 MB: (met|NOT met)/m,
      /^teardown: cluster ms-bm-h1 TERMINATED$/m,
      /^torn down: jobs cancelled, clusters deleted, hosts down, database dropped$/m,
    ]) {
      expect(output).toMatch(line);
    }
    // The host is gone with its namespace.
    expect(existsSync(`/run/ms-test-ssh-${BRIDGE}/ms-bm-h1`)).toBe(false);
  });
});
