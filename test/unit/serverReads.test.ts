// The runtime's readers signal "not all here yet" by throwing InputBufferUnderrunError, which
// captures a stack trace each time: on a busy server that cost was paid on every read. Our edge
// hands the processor whole messages only, so reading a call never underruns, however the bytes
// arrive. Counted here: stack captures of that error while the processor reads calls.
import { createServer, type Server } from 'node:net';
import * as thrift from 'thrift';
import type { ThriftTransport } from '../../src/config';
import { createLogger } from '../../src/log';
import { serveConnection, type CallProcessor } from '../../src/rpc/connection';
import { base, ms } from '../../src/rpc/wire';
import { callMessage, RawConnection } from '../support/rawThrift';

const notUsed = async (): Promise<never> => {
  throw new Error('not used here');
};

const handler: ms.JobService.IHandler = {
  getAPIVersion: async () => 'v',
  submitJob: async (_token, spec) => new ms.JobHandle({ jobId: spec?.jobName ?? '', state: base.JobState.SUBMITTED }),
  getJob: notUsed, getJobs: notUsed, cancelJob: notUsed, listJobs: notUsed,
};

const submit = (n: number): ms.JobService.SubmitJobArgs => new ms.JobService.SubmitJobArgs({
  authzToken: new base.AuthzToken({ accessToken: 'token', claimsMap: new Map([['gatewayID', 'gw'], ['userName', 'u']]) }),
  spec: new ms.JobSpec({
    jobName: `job-${n}`, parallelism: base.ApplicationParallelismType.MPI, command: ['/bin/echo', 'a', 'b', 'c'],
    nodeCount: 2, environment: new Map([['A', '1'], ['B', '2']]),
  }),
});

/** Counts underrun stack captures made while `reading` is true. */
function underrunCounter(): { reading: boolean; count: number; restore(): void } {
  const state = { reading: false, count: 0, restore: () => undefined as void };
  const original = Error.captureStackTrace;
  Error.captureStackTrace = function counted(target: object, constructorOpt?: Function): void {
    // The error names itself only after capturing its stack: recognise it by its constructor.
    if (state.reading && constructorOpt?.name === 'InputBufferUnderrunError') state.count += 1;
    original.call(Error, target, constructorOpt);
  };
  state.restore = () => { Error.captureStackTrace = original; };
  return state;
}

describe.each(['buffered', 'framed'] as ThriftTransport[])('reading calls (%s)', (transport) => {
  let server: Server;
  let port: number;
  let counter: ReturnType<typeof underrunCounter>;
  beforeAll(async () => {
    counter = underrunCounter();
    const processor = new thrift.MultiplexedProcessor();
    processor.registerProcessor('JobService', new ms.JobService.Processor(handler));
    // The processor reads a call's arguments synchronously: everything it reads is inside process().
    const counting: CallProcessor = {
      process(input, output) {
        counter.reading = true;
        try {
          processor.process(input, output);
        } finally {
          counter.reading = false;
        }
      },
    };
    server = createServer((socket) => serveConnection(socket, {
      processor: counting, transport, maxMessageBytes: 1024 * 1024, idleTimeoutMs: 10_000, log: createLogger('silent'),
    }));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    port = typeof address === 'object' && address !== null ? address.port : 0;
  });
  afterAll(async () => {
    counter.restore();
    await new Promise((resolve) => server.close(resolve));
  });

  it('counts an underrun when the runtime reads a cut message (so the count below can fail)', () => {
    const whole = callMessage('framed', 'JobService:submitJob', submit(0));
    const cut = whole.subarray(4, whole.length - 3);
    counter.reading = true;
    try {
      const input = new thrift.TBinaryProtocol(new thrift.TFramedTransport(cut));
      input.readMessageBegin();
      expect(() => ms.JobService.SubmitJobArgs.read(input)).toThrow(expect.objectContaining({ name: 'InputBufferUnderrunError' }));
    } finally {
      counter.reading = false;
    }
    expect(counter.count).toBeGreaterThan(0);
    counter.count = 0;
  });

  it('reads 200 calls, sent a few bytes at a time and back to back, without a single underrun', async () => {
    const connection = await RawConnection.open(port);
    try {
      for (let n = 0; n < 100; n += 1) {
        const bytes = callMessage(transport, 'JobService:submitJob', submit(n), n + 1);
        for (let at = 0; at < bytes.length; at += 1 + (n % 7)) await connection.write(bytes.subarray(at, at + 1 + (n % 7)));
        const reply = await connection.reply(transport, ms.JobService.SubmitJobResult.read);
        expect(reply.success?.jobId).toBe(`job-${n}`);
      }
      const burst = Buffer.concat(Array.from({ length: 100 }, (_, n) => callMessage(transport, 'JobService:submitJob', submit(n), n + 1)));
      await connection.write(burst);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(counter.count).toBe(0);
    } finally {
      connection.destroy();
    }
  });
});
