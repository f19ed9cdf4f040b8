// The service as a process: refusing bad configuration, surviving SIGKILL without losing an
// accepted job (on the embedded Postgres, the path an operator without DATABASE_URL takes), and
// draining calls in flight on SIGTERM.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { connectClients } from '../../src/client/connect';
import { base, ms } from '../../src/rpc/wire';
import { createTestDatabase } from '../support/database';
import { freePort, startServiceProcess } from '../support/serviceProcess';
import { authz, TEST_SECRET } from '../support/tokens';

const serial = (name: string): ms.JobSpec => new ms.JobSpec({
  jobName: name, parallelism: base.ApplicationParallelismType.SERIAL, command: ['/bin/hostname'],
});

describe('service process', () => {
  it('refuses to start on bad configuration and names the settings', async () => {
    await expect(startServiceProcess({ THRIFT_TRANSPORT: 'carrier-pigeon', DATA_DIR: mkdtempSync(path.join(tmpdir(), 'ms-')) }))
      .rejects.toThrow(/exited \(2\)[\s\S]*refusing to start: invalid configuration: AUTH_HS256_SECRET[^;]*none is set;[^;]*; THRIFT_TRANSPORT: "carrier-pigeon" is not one of buffered, framed/);
  });

  it('loses nothing when killed with SIGKILL right after submitJob returned (embedded Postgres)', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'ms-kill-'));
    const port = await freePort();
    const env = { DATA_DIR: dataDir, THRIFT_PORT: String(port), AUTH_HS256_SECRET: TEST_SECRET };
    const first = await startServiceProcess(env);
    const token = await authz('gw-kill');
    const clients = await connectClients({ host: '127.0.0.1', port });
    const handles = await Promise.all(Array.from({ length: 20 }, (_, i) => clients.job.submitJob(token, serial(`k${i}`))));
    first.child.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');
    clients.close();

    // The killed service's embedded Postgres is still running and holds the data directory; the
    // new process must take over cleanly.
    const second = await startServiceProcess(env);
    try {
      const again = await connectClients({ host: '127.0.0.1', port });
      const jobs = await again.job.getJobs(token, handles.map((h) => h.jobId));
      expect(jobs.map((j) => j.jobId)).toEqual(handles.map((h) => h.jobId));
      for (const job of jobs) expect(job.jobStatuses?.map((s) => s.jobState)).toEqual([base.JobState.SUBMITTED]);
      again.close();
    } finally {
      second.child.kill('SIGTERM');
      const code = await second.exited;
      if (code !== 0) throw new Error(`restarted service exited ${code} on SIGTERM:\n${second.output().slice(-3000)}`);
    }
  });

  it('finishes the calls in flight on SIGTERM, then exits 0', async () => {
    const database = await createTestDatabase({ migrate: false });
    try {
      const service = await startServiceProcess({
        DATABASE_URL: database.url, THRIFT_PORT: '0', AUTH_HS256_SECRET: TEST_SECRET,
        DATA_DIR: mkdtempSync(path.join(tmpdir(), 'ms-term-')),
      });
      const token = await authz('gw-term');
      const clients = await Promise.all(Array.from({ length: 8 }, () => connectClients({ host: '127.0.0.1', port: service.port })));
      // One answered call each: the server has accepted every connection (a connection still in the
      // listen backlog at SIGTERM is refused, as with any server that stops accepting).
      await Promise.all(clients.map((c) => c.job.getAPIVersion()));
      // Every client sends a burst; SIGTERM arrives while they are being served.
      const calls = clients.flatMap((c, i) => Array.from({ length: 25 }, (_, j) => c.job.submitJob(token, serial(`t${i}-${j}`))));
      setImmediate(() => service.child.kill('SIGTERM'));
      // A call the server dropped would never settle: bound the wait so it fails as a rejection.
      const bounded = calls.map((call) => Promise.race([
        call, new Promise((_, reject) => setTimeout(() => reject(new Error('no answer within 20 s')), 20_000)),
      ]));
      const results = await Promise.allSettled(bounded);
      const failed = results.filter((r) => r.status === 'rejected');
      expect(failed).toEqual([]);
      expect(await service.exited).toBe(0);
      expect(service.output()).toContain('"drained":true');
      const [count] = await database.db('jobs').count<{ count: string }[]>('* as count');
      expect(Number(count.count)).toBe(calls.length);
      for (const c of clients) c.close();
    } finally {
      await database.drop();
    }
  });
});
