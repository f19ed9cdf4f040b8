// The baseline: a Thrift server on the same runtime, protocol, transport and multiplexing as the
// service, whose only working call returns a constant. What a call costs with no service behind it.
import type { Server, Socket } from 'node:net';
import * as thrift from 'thrift';
import type { ThriftTransport } from '../../src/config';
import { SERVICE_NAMES } from '../../src/rpc/serviceNames';
import { ms } from '../../src/rpc/wire';

export interface RawServer {
  port: number;
  close(): Promise<void>;
}

const notInBaseline = async (): Promise<never> => {
  throw new Error('not part of the no-op baseline');
};

export async function startRawNoopServer(transport: ThriftTransport): Promise<RawServer> {
  const handler: ms.JobService.IHandler = {
    getAPIVersion: () => 'noop',
    submitJob: notInBaseline,
    getJob: notInBaseline,
    getJobs: notInBaseline,
    cancelJob: notInBaseline,
    listJobs: notInBaseline,
  };
  const processor = new thrift.MultiplexedProcessor();
  processor.registerProcessor(SERVICE_NAMES.job, new ms.JobService.Processor(handler));
  const server: Server = thrift.createMultiplexServer(processor, {
    transport: transport === 'framed' ? thrift.TFramedTransport : thrift.TBufferedTransport,
    protocol: thrift.TBinaryProtocol,
  });
  const sockets = new Set<Socket>();
  // The runtime's own server, untouched: the raw baseline. Ours (src/rpc/server.ts) frames each
  // message itself before the processor sees it, and that cost is part of what is measured.
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('the baseline server has no port');
  return {
    port: address.port,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
