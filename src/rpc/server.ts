// The Thrift edge: one port, the multiplexed protocol carrying ClusterService, JobService and
// ProvisioningService, binary protocol, buffered (Airavata's default) or framed transport.
//
// Connections are served by our own loop (./connection) rather than the runtime's server, which
// re-decodes a partial message from its start on every read, keeps reading a connection after a
// protocol error (logging it again per chunk) and has no idle timeout.
import { createServer, type Server, type Socket } from 'node:net';
import * as thrift from 'thrift';
import type { ThriftTransport } from '../config';
import type { Logger } from '../log';
import { serveConnection } from './connection';
import { guardHandler, InFlight } from './guard';
import { clusterHandler, jobHandler, provisioningHandler, type HandlerDeps } from './handlers';
import { RefusedConnections } from './refusedConnections';
import { ms } from './wire';

import { SERVICE_NAMES } from './serviceNames';

export { SERVICE_NAMES };

export interface RpcServerOptions {
  host: string;
  port: number;
  transport: ThriftTransport;
  /** A connection with no bytes for this long, and no call of its own being worked on, is closed. */
  idleTimeoutMs: number;
  /** Connections beyond this many are closed as soon as they are accepted. */
  maxConnections: number;
  /** The longest message (framed: frame) accepted; a longer one closes its connection. */
  maxMessageBytes: number;
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

  const sockets = new Set<Socket>();
  let lastData = 0;
  const server: Server = createServer((socket: Socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('data', () => { lastData = performance.now(); });
    socket.on('close', () => sockets.delete(socket));
    serveConnection(socket, {
      processor, transport: options.transport, maxMessageBytes: options.maxMessageBytes,
      idleTimeoutMs: options.idleTimeoutMs, log,
    });
  });
  // Node closes a connection over the cap as soon as it is accepted and emits 'drop' for it.
  server.maxConnections = options.maxConnections;
  const refused = new RefusedConnections(log, options.maxConnections);
  server.on('drop', () => refused.record());
  // Accepting can fail (out of file descriptors under a flood): that must not end the process.
  server.on('error', (error: Error) => log.warn({ err: error }, 'Thrift server error'));

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
      refused.stop();
      for (const socket of sockets) socket.end();
      // A client that does not close its side within a moment is cut off.
      const linger = setTimeout(() => { for (const socket of sockets) socket.destroy(); }, 1000);
      await closed;
      clearTimeout(linger);
      return { drained };
    },
  };
}
