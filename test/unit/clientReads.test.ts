// Our client cuts the byte stream into whole replies before decoding, so a busy client never pays
// for the runtime's InputBufferUnderrunError (and its stack trace) on reads: checked with replies
// dribbled a byte at a time through a proxy, and with many replies arriving in one read.
import { connect, createServer, type Server, type Socket } from 'node:net';
import * as thrift from 'thrift';
import { connectClients } from '../../src/client/connect';
import type { ThriftTransport } from '../../src/config';
import { createLogger } from '../../src/log';
import { serveConnection } from '../../src/rpc/connection';
import { base, ms } from '../../src/rpc/wire';

const notUsed = async (): Promise<never> => {
  throw new Error('not used here');
};

const handler: ms.JobService.IHandler = {
  getAPIVersion: async () => 'v',
  submitJob: notUsed, cancelJob: notUsed, listJobs: notUsed, getJobs: notUsed,
  getJob: async (_token, jobId) => new base.JobModel({
    jobId, taskId: 't', processId: 'p', jobName: `name of ${jobId}`, jobDescription: 'x'.repeat(3000),
  }),
};

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return typeof address === 'object' && address !== null ? address.port : 0;
}

/** Forwards calls as they come and answers a byte per write, each write in its own turn. */
function dribblingProxy(target: number): Server {
  return createServer((client: Socket) => {
    const upstream = connect(target, '127.0.0.1');
    client.on('data', (chunk) => upstream.write(chunk));
    let queue = Promise.resolve();
    upstream.on('data', (chunk: Buffer) => {
      queue = queue.then(async () => {
        for (const byte of chunk) {
          client.write(Buffer.from([byte]));
          await new Promise((resolve) => setImmediate(resolve));
        }
      });
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
  });
}

describe.each(['buffered', 'framed'] as ThriftTransport[])('our client (%s)', (transport) => {
  const servers: Server[] = [];
  let direct: number;
  let dribbled: number;
  let underruns = 0;
  let original: typeof Error.captureStackTrace;
  const token = new base.AuthzToken({ accessToken: 't', claimsMap: new Map([['gatewayID', 'gw']]) });

  beforeAll(async () => {
    original = Error.captureStackTrace;
    Error.captureStackTrace = function counted(target: object, constructorOpt?: Function): void {
      // The error names itself only after capturing its stack: recognise it by its constructor.
      if (constructorOpt?.name === 'InputBufferUnderrunError') underruns += 1;
      original.call(Error, target, constructorOpt);
    };
    const processor = new thrift.MultiplexedProcessor();
    processor.registerProcessor('JobService', new ms.JobService.Processor(handler));
    const server = createServer((socket) => serveConnection(socket, {
      processor, transport, maxMessageBytes: 1024 * 1024, idleTimeoutMs: 10_000, log: createLogger('silent'),
    }));
    direct = await listen(server);
    const proxy = dribblingProxy(direct);
    dribbled = await listen(proxy);
    servers.push(proxy, server);
  });
  afterAll(async () => {
    Error.captureStackTrace = original;
    for (const server of servers) await new Promise((resolve) => server.close(resolve));
  });

  it('decodes replies arriving a byte at a time, each to its own call', async () => {
    const clients = await connectClients({ host: '127.0.0.1', port: dribbled, transport });
    try {
      const jobs = await Promise.all(['a', 'b', 'c'].map((id) => clients.job.getJob(token, id)));
      expect(jobs.map((job) => job.jobName)).toEqual(['name of a', 'name of b', 'name of c']);
    } finally {
      clients.close();
    }
    expect(underruns).toBe(0);
  });

  it('decodes 300 concurrent replies, many per read, without an underrun', async () => {
    const clients = await connectClients({ host: '127.0.0.1', port: direct, transport });
    try {
      const ids = Array.from({ length: 300 }, (_, i) => `job-${i}`);
      const jobs = await Promise.all(ids.map((id) => clients.job.getJob(token, id)));
      expect(jobs.map((job) => job.jobId)).toEqual(ids);
      expect(await clients.job.getAPIVersion()).toBe('v');
    } finally {
      clients.close();
    }
    expect(underruns).toBe(0);
  });

  it('still counts the runtime\'s underruns (so the figures above can fail)', () => {
    const before = underruns;
    expect(() => new thrift.TFramedTransport(Buffer.alloc(2)).read(10)).toThrow();
    expect(underruns).toBe(before + 1);
  });
});
