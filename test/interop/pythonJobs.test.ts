// The job scenario from Python (Apache's generated stubs on Debian's python3-thrift, events through
// python3-pika): serial, MPI, canceled and failing jobs run to their end on a Slurm cluster built on
// this machine through the API, with one status_exchange event per state change.
// test/interop/python/jobs_scenario.py is the client; the session is shared with java.test.ts.
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { ROOT } from '../support/serviceProcess';
import { AMQP_URL, run, SlurmSession } from './java/slurmSession';

jest.setTimeout(40 * 60_000);

// Debian's interpreter: python3-thrift and python3-pika install for it, whatever python3 comes first on PATH.
const PYTHON = '/usr/bin/python3';

describe('Python client: jobs on a Slurm cluster, events on status_exchange', () => {
  const session = new SlurmSession('py');
  let stubs: string;

  beforeAll(async () => {
    const probe = await run(PYTHON, ['-c', 'import thrift, pika'], { timeoutMs: 30_000 });
    if (probe.status !== 0) throw new Error(`${PYTHON} cannot import thrift and pika: install python3-thrift python3-pika\n${probe.stderr}`);
    stubs = mkdtempSync(path.join(tmpdir(), 'ms-pystubs-'));
    const gen = await run('thrift', ['-r', '--gen', 'py', '-I', 'thrift-idl', '-out', stubs, 'thrift-idl/metascheduler.thrift'], { cwd: ROOT, timeoutMs: 60_000 });
    if (gen.status !== 0) throw new Error(`thrift --gen py failed:\n${gen.stdout}${gen.stderr}`);
    expect(existsSync(path.join(stubs, 'airavata/metascheduler/JobService.py'))).toBe(true);
    await session.open();
  }, 35 * 60_000);

  afterAll(async () => {
    await session.close();
  }, 10 * 60_000);

  it('runs serial, MPI, canceled and failing jobs, with one event per state change', async () => {
    const result = await run(PYTHON, [path.join(__dirname, 'python/jobs_scenario.py'), stubs, '127.0.0.1', String(session.port)], {
      env: {
        PATH: process.env.PATH, TOKEN: session.accessToken, GATEWAY: session.gatewayId, USER_NAME: session.userName,
        MPI_PROGRAM: session.mpiProgram, AMQP_URL, CLUSTER_ID: session.clusterId,
      },
      timeoutMs: 15 * 60_000,
    });
    process.stderr.write(`[py] scenario ran in ${(result.ms / 1000).toFixed(1)} s\n${result.stdout}`);
    if (result.status !== 0) throw new Error(`Python scenario failed (${result.status ?? result.signal}):\n${result.stdout}\n${result.stderr}`);
    expect(result.stdout).toMatch(/^python jobs interop: \d+ checks passed$/m);
    expect(existsSync('/tmp/ms-py-pwned')).toBe(false);
  });
});
