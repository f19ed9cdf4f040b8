// The Thrift edge: one port, the multiplexed protocol carrying ClusterService, JobService and
// ProvisioningService, binary protocol, buffered (Airavata's default) or framed transport.
import type { Server, Socket } from 'node:net';
import * as thrift from 'thrift';
import type { ThriftTransport } from '../config';
import type { Logger } from '../log';
import { guardHandler, InFlight } from './guard';
import { clusterHandler, jobHandler, provisioningHandler, type HandlerDeps } from './handlers';
import { ms } from './wire';

import { SERVICE_NAMES } from './serviceNames';

export { SERVICE_NAMES };

export interface RpcServerOptions {
  host: string;
  port: number;
  transport: ThriftTransport;
  log: Logger;
}

export interface RpcServer {
  /** The port actually bound (useful with port 0). */
  readonly port: number;
  /** Stops accepting, waits up to graceMs for calls in flight, then closes every connection. */
  close(graceMs: number): Promise<{ drained: boolean }>;
}

// A call is "in flight" from the moment its bytes arrive, but the counter only sees it once the
// runtime has parsed it. Draining therefore waits for no call in flight *and* a short quiet spell
// with no bytes arriving on any connection, so calls a client sent just before SIGTERM are answered.
const DRAIN_QUIET_MS = 100;
const DRAIN_POLL_MS = 10;

async function drainConnections(inFlight: InFlight, lastData: () => number, graceMs: number): Promise<boolean> {
  const requested = performance.now();
  const deadline = requested + graceMs;
  // Bytes already in the socket buffers when the signal came may not have been read yet: the
  // quiet spell counts from the request at the earliest.
  const quiet = (): boolean =>
    inFlight.size === 0 && performance.now() - Math.max(lastData(), requested) >= DRAIN_QUIET_MS;
  for (;;) {
    if (quiet()) {
      // Timers run before the poll phase: after a busy spell, bytes may be waiting unread. Let one
      // poll phase pass (setImmediate runs after it) and look again.
      await new Promise((resolve) => setImmediate(resolve));
      if (quiet()) return true;
    }
    if (performance.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS));
  }
}

export async function startRpcServer(deps: HandlerDeps, options: RpcServerOptions): Promise<RpcServer> {
  const { log } = options;
  const inFlight = new InFlight();
  const processor = new thrift.MultiplexedProcessor();
  processor.registerProcessor(SERVICE_NAMES.cluster,
    new ms.ClusterService.Processor(guardHandler(SERVICE_NAMES.cluster, clusterHandler(deps), inFlight, log)));
  processor.registerProcessor(SERVICE_NAMES.job,
    new ms.JobService.Processor(guardHandler(SERVICE_NAMES.job, jobHandler(deps), inFlight, log)));
  processor.registerProcessor(SERVICE_NAMES.provisioning,
    new ms.ProvisioningService.Processor(guardHandler(SERVICE_NAMES.provisioning, provisioningHandler(deps), inFlight, log)));

  const server: Server = thrift.createMultiplexServer(processor, {
    transport: options.transport === 'framed' ? thrift.TFramedTransport : thrift.TBufferedTransport,
    protocol: thrift.TBinaryProtocol,
  });
  const sockets = new Set<Socket>();
  let lastData = 0;
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('data', () => { lastData = performance.now(); });
    socket.on('close', () => sockets.delete(socket));
  });
  // The runtime emits protocol errors of one connection on the server; they end that connection
  // only, and must not end the process.
  server.on('error', (error: Error) => log.warn({ err: error }, 'thrift connection error'));

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;

  return {
    port,
    async close(graceMs: number) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      const drained = await drainConnections(inFlight, () => lastData, graceMs);
      if (!drained) log.warn({ inFlight: inFlight.size }, 'shutdown grace ran out with calls in flight');
      for (const socket of sockets) socket.end();
      // A client that does not close its side within a moment is cut off.
      const linger = setTimeout(() => { for (const socket of sockets) socket.destroy(); }, 1000);
      await closed;
      clearTimeout(linger);
      return { drained };
    },
  };
}
