// The Thrift edge at the byte level, through the real server on a real Postgres, both transports:
// calls that arrive in several reads, a 1 MiB call, and what an unauthenticated client can no longer
// do: hold idle sockets, open connections without end, send oversized or unreadable messages.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { startApp, type App } from '../../src/app';
import { loadConfig, type ThriftTransport } from '../../src/config';
import { LIMITS } from '../../src/domain/validation';
import { createLogger } from '../../src/log';
import { base, ms } from '../../src/rpc/wire';
import { startTestApp, type TestApp } from '../support/app';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { callMessage, RawConnection } from '../support/rawThrift';
import { authz, TEST_SECRET } from '../support/tokens';

const sleep = (ms_: number) => new Promise((resolve) => setTimeout(resolve, ms_));

const serial = (overrides: Partial<ms.IJobSpecArgs> = {}): ms.JobSpec => new ms.JobSpec({
  jobName: 'echo', parallelism: base.ApplicationParallelismType.SERIAL, command: ['/bin/echo', 'hello'], ...overrides,
});

/**
 * As long a command as a job may have (LIMITS.execBytes, 1 MiB, counting a NUL per argument), in
 * arguments as long as they may be: with its length prefixes the call is just over 1 MiB.
 */
function longestCommand(): string[] {
  const command = ['/bin/echo'];
  let left = LIMITS.execBytes - command[0].length - 1;
  while (left > 0) {
    const length = Math.min(LIMITS.argLength, left - 1);
    command.push(`arg-${command.length}-`.padEnd(length, 'x'));
    left -= length + 1;
  }
  return command;
}
const MIB_COMMAND = longestCommand();

const apiVersionCall = (transport: ThriftTransport, service = 'JobService'): Buffer =>
  callMessage(transport, `${service}:getAPIVersion`, new ms.BaseService.GetAPIVersionArgs());

async function apiVersion(connection: RawConnection, transport: ThriftTransport): Promise<string | undefined> {
  await connection.write(apiVersionCall(transport));
  return (await connection.reply(transport, ms.BaseService.GetAPIVersionResult.read)).success;
}

describe.each(['buffered', 'framed'] as const)('Thrift edge over %s transport', (transport) => {
  describe('with the default limits', () => {
    let app: TestApp;
    let token: base.AuthzToken;
    let jobId: string;
    beforeAll(async () => {
      app = await startTestApp(transport);
      token = await authz('gw-transport');
      jobId = (await app.clients.job.submitJob(token, serial())).jobId;
    });
    afterAll(async () => {
      await app.close();
    });

    it('answers a call split at every byte boundary into two reads', async () => {
      const call = callMessage(transport, 'JobService:getJob', new ms.JobService.GetJobArgs({ authzToken: token, jobId }));
      const splits = Array.from({ length: call.length - 1 }, (_, i) => i + 1);
      // One connection per split point, all at once: the first parts, a pause so the server has
      // read each of them on its own, then the rest.
      const connections = await Promise.all(splits.map(() => RawConnection.open(app.port)));
      try {
        await Promise.all(connections.map((connection, i) => connection.write(call.subarray(0, splits[i]))));
        await sleep(100);
        await Promise.all(connections.map((connection, i) => connection.write(call.subarray(splits[i]))));
        const replies = await Promise.all(connections.map((connection) => connection.reply(transport, ms.JobService.GetJobResult.read)));
        expect(replies.map((reply) => reply.success?.jobId)).toEqual(splits.map(() => jobId));
        // Each connection stays in step: a second call on it is answered too.
        const versions = await Promise.all(connections.map((connection) => apiVersion(connection, transport)));
        expect(new Set(versions)).toEqual(new Set([ms.METASCHEDULER_API_VERSION]));
      } finally {
        for (const connection of connections) connection.destroy();
      }
    });

    it('answers a 1 MiB call, and the next call on the same connection', async () => {
      const spec = serial({ command: MIB_COMMAND });
      const size = callMessage(transport, 'JobService:submitJob', new ms.JobService.SubmitJobArgs({ authzToken: token, spec })).length;
      expect(size).toBeGreaterThan(1024 * 1024);
      const handle = await app.clients.job.submitJob(token, spec);
      const job = await app.clients.job.getJob(token, handle.jobId);
      expect(job.jobDescription.endsWith(JSON.stringify(MIB_COMMAND))).toBe(true);
      await expect(app.clients.job.getAPIVersion()).resolves.toBe(ms.METASCHEDULER_API_VERSION);
    });
  });

  describe('with tight limits', () => {
    const IDLE_MS = 1000;
    const MAX_CONNECTIONS = 4;
    const MAX_MESSAGE_BYTES = 64 * 1024;
    let database: TestDatabase;
    let app: App;
    let port: number;
    const logLines: string[] = [];
    const logged = (text: string): Record<string, unknown>[] => logLines
      .filter((line) => line.includes(text))
      .map((line) => JSON.parse(line) as Record<string, unknown>);

    beforeAll(async () => {
      database = await createTestDatabase({ migrate: false });
      const config = loadConfig({
        DATABASE_URL: database.url, DATA_DIR: mkdtempSync(path.join(tmpdir(), 'ms-test-data-')), THRIFT_PORT: '0',
        THRIFT_TRANSPORT: transport, AUTH_HS256_SECRET: TEST_SECRET, SHUTDOWN_GRACE_MS: '2000', BACKGROUND_WORKERS: 'off',
        THRIFT_IDLE_TIMEOUT_MS: String(IDLE_MS), THRIFT_MAX_CONNECTIONS: String(MAX_CONNECTIONS),
        THRIFT_MAX_MESSAGE_BYTES: String(MAX_MESSAGE_BYTES),
      });
      app = await startApp(config, createLogger('debug', { write: (line: string) => void logLines.push(line) }));
      port = app.rpc.port;
    });
    afterAll(async () => {
      await app.stop();
      await database.drop();
    });

    it('closes a connection idle for THRIFT_IDLE_TIMEOUT_MS, not one that keeps calling', async () => {
      const idle = await RawConnection.open(port);
      const busy = await RawConnection.open(port);
      try {
        // Calls spaced under the timeout, spanning well over it.
        for (let call = 0; call < 5; call += 1) {
          await expect(apiVersion(busy, transport)).resolves.toBe(ms.METASCHEDULER_API_VERSION);
          await sleep(IDLE_MS / 3);
        }
        expect(busy.closed).toBe(false);
        const idleFor = (await idle.whenClosed()) - idle.openedAt;
        expect(idleFor).toBeGreaterThanOrEqual(IDLE_MS - 50);
        expect(idleFor).toBeLessThan(IDLE_MS + 1000);
        const answered = performance.now();
        expect((await busy.whenClosed()) - answered).toBeLessThan(IDLE_MS + 500);
      } finally {
        idle.destroy();
        busy.destroy();
      }
    });

    it('closes connections over THRIFT_MAX_CONNECTIONS at once, while the others keep working', async () => {
      // The server has seen the connections of earlier tests close: every slot is free.
      await sleep(200);
      const held = await Promise.all(Array.from({ length: MAX_CONNECTIONS }, () => RawConnection.open(port)));
      const extra: RawConnection[] = [];
      try {
        for (const connection of held) await expect(apiVersion(connection, transport)).resolves.toBe(ms.METASCHEDULER_API_VERSION);
        extra.push(await RawConnection.open(port));
        const refusedIn = (await extra[0].whenClosed(1000)) - extra[0].openedAt;
        expect(refusedIn).toBeLessThan(500);
        for (const connection of held) await expect(apiVersion(connection, transport)).resolves.toBe(ms.METASCHEDULER_API_VERSION);
        expect(logged('THRIFT_MAX_CONNECTIONS reached').map((line) => line.refused)).toEqual([1]);

        // More refusals within the same second come as one more line, a second later, counting them.
        extra.push(await RawConnection.open(port), await RawConnection.open(port));
        await Promise.all(extra.map((connection) => connection.whenClosed(1000)));
        expect(logged('THRIFT_MAX_CONNECTIONS reached')).toHaveLength(1);
        await sleep(1100);
        expect(logged('THRIFT_MAX_CONNECTIONS reached').map((line) => line.refused)).toEqual([1, 2]);
      } finally {
        for (const connection of [...held, ...extra]) connection.destroy();
        await sleep(200); // until the server has seen them go, so later tests find free slots
      }
    });

    it('closes a connection whose message is over THRIFT_MAX_MESSAGE_BYTES, logs it once, and serves others', async () => {
      const other = await RawConnection.open(port);
      const sender = await RawConnection.open(port);
      try {
        const token = await authz('gw-transport');
        const call = callMessage(transport, 'JobService:submitJob', new ms.JobService.SubmitJobArgs({
          authzToken: token, spec: serial({ command: MIB_COMMAND.slice(0, 17) }),
        }));
        expect(call.length).toBeGreaterThan(4 * MAX_MESSAGE_BYTES);
        const before = logged('over THRIFT_MAX_MESSAGE_BYTES').length;
        // The client keeps sending after the server has given up: still one line, no stack.
        for (let at = 0; at < call.length; at += 8 * 1024) await sender.write(call.subarray(at, at + 8 * 1024));
        await sender.whenClosed(2000);
        await sleep(200);
        const lines = logged('over THRIFT_MAX_MESSAGE_BYTES').slice(before);
        expect(lines).toHaveLength(1);
        expect(lines[0]).toMatchObject({ level: 40, maxBytes: MAX_MESSAGE_BYTES });
        expect(JSON.stringify(lines[0])).not.toContain('stack');
        await expect(apiVersion(other, transport)).resolves.toBe(ms.METASCHEDULER_API_VERSION);
      } finally {
        other.destroy();
        sender.destroy();
      }
    });

    it('refuses a length over the cap as soon as the length arrives, before buffering what follows', async () => {
      const connection = await RawConnection.open(port);
      try {
        const header = Buffer.alloc(transport === 'framed' ? 4 : 12 + 7);
        if (transport === 'framed') {
          header.writeInt32BE(1024 * 1024 * 1024, 0); // a frame of 1 GiB
        } else {
          header.writeInt32BE(0x80010001 | 0, 0); // version 1, CALL
          header.writeInt32BE(0, 4); // empty name
          header.writeInt32BE(1, 8); // seqid
          header.writeInt8(11, 12); // a string field...
          header.writeInt16BE(1, 13);
          header.writeInt32BE(1024 * 1024 * 1024, 15); // ...of 1 GiB
        }
        const before = logged('over THRIFT_MAX_MESSAGE_BYTES').length;
        await connection.write(header);
        await connection.whenClosed(1000);
        expect(logged('over THRIFT_MAX_MESSAGE_BYTES')).toHaveLength(before + 1);
      } finally {
        connection.destroy();
      }
    });

    it.each([
      ['bytes that are not Thrift', (): Buffer => Buffer.alloc(64, 0xff), /bad protocol version|negative frame size/],
      ['a call to a service that does not exist', (): Buffer => apiVersionCall(transport, 'NoSuchService'), /Unknown service: NoSuchService/],
    ])('closes a connection that sends %s, logging it once, and serves others', async (_name, bytes, reason) => {
      const other = await RawConnection.open(port);
      const sender = await RawConnection.open(port);
      try {
        const before = logged('unreadable Thrift message').length;
        await sender.write(bytes());
        for (let chunk = 0; chunk < 16 && !sender.closed; chunk += 1) await sender.write(Buffer.alloc(16 * 1024, 0xff));
        await sender.whenClosed(2000);
        await sleep(200);
        const lines = logged('unreadable Thrift message').slice(before);
        expect(lines).toHaveLength(1);
        expect(lines[0].reason).toMatch(reason);
        expect(JSON.stringify(lines[0])).not.toContain('stack');
        await expect(apiVersion(other, transport)).resolves.toBe(ms.METASCHEDULER_API_VERSION);
      } finally {
        other.destroy();
        sender.destroy();
      }
    });
  });
});
