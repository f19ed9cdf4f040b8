// One connection of the Thrift edge on its own: the idle timeout does not cut a call being worked
// on, and starts again once its answer is written.
import { createServer, type Server } from 'node:net';
import * as thrift from 'thrift';
import { createLogger } from '../../src/log';
import { serveConnection } from '../../src/rpc/connection';
import { ms } from '../../src/rpc/wire';
import { callMessage, RawConnection } from '../support/rawThrift';

const IDLE_MS = 200;
const CALL_MS = 3 * IDLE_MS;
const sleep = (ms_: number) => new Promise((resolve) => setTimeout(resolve, ms_));
const notUsed = async (): Promise<never> => {
  throw new Error('not used here');
};

describe('serveConnection', () => {
  let server: Server;
  let port: number;
  beforeAll(async () => {
    const handler: ms.JobService.IHandler = {
      getAPIVersion: async () => {
        await sleep(CALL_MS);
        return 'slow';
      },
      submitJob: notUsed, getJob: notUsed, getJobs: notUsed, cancelJob: notUsed, listJobs: notUsed,
    };
    const processor = new thrift.MultiplexedProcessor();
    processor.registerProcessor('JobService', new ms.JobService.Processor(handler));
    server = createServer((socket) => serveConnection(socket, {
      processor, transport: 'buffered', maxMessageBytes: 1024 * 1024, idleTimeoutMs: IDLE_MS, log: createLogger('silent'),
    }));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    port = typeof address === 'object' && address !== null ? address.port : 0;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('keeps a connection whose call outlasts the idle timeout, and closes it once idle after the answer', async () => {
    const connection = await RawConnection.open(port);
    try {
      await connection.write(callMessage('buffered', 'JobService:getAPIVersion', new ms.BaseService.GetAPIVersionArgs()));
      const reply = await connection.reply('buffered', ms.BaseService.GetAPIVersionResult.read);
      const answeredAt = performance.now();
      expect(reply.success).toBe('slow');
      expect(answeredAt - connection.openedAt).toBeGreaterThanOrEqual(CALL_MS - 20);
      expect(connection.closed).toBe(false);
      const idleFor = (await connection.whenClosed(5 * IDLE_MS)) - answeredAt;
      expect(idleFor).toBeGreaterThanOrEqual(IDLE_MS - 50);
    } finally {
      connection.destroy();
    }
  });
});
