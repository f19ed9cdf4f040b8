// The raw no-op Thrift server of bench/rpc (bench/support/rawServer.ts) alone in its own process,
// so that its figure is the runtime's own cost with nothing else on its event loop. Forked by
// bench/rpc.ts with the transport as its argument; reports its port over IPC and exits when the
// channel closes.
import type { ThriftTransport } from '../src/config';
import { startRawNoopServer } from './support/rawServer';

async function main(): Promise<void> {
  const transport = process.argv[2];
  if (transport !== 'buffered' && transport !== 'framed') throw new Error(`transport "${transport}" is not buffered or framed`);
  const server = await startRawNoopServer(transport satisfies ThriftTransport);
  // Ctrl-C reaches the whole process group: the bench process decides when this server stops.
  process.on('SIGINT', () => undefined);
  process.on('disconnect', () => {
    void server.close().finally(() => process.exit(0));
  });
  process.send?.({ type: 'listening', port: server.port });
}

main().catch((error: unknown) => {
  process.send?.({ type: 'failed', error: error instanceof Error ? error.message : String(error) });
  process.exit(1);
});
