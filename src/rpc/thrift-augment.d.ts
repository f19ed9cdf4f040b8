// Parts of the `thrift` runtime that @types/thrift leaves out: the multiplexed server and the
// processor registry (both in thrift/lib/nodejs/lib/thrift since 0.9).
import type { Server } from 'node:net';
import 'thrift';

declare module 'thrift' {
  interface MultiplexedProcessor {
    registerProcessor(name: string, processor: { process(input: TProtocol, output: TProtocol): void }): void;
  }
  function createMultiplexServer(
    processor: MultiplexedProcessor,
    options?: { transport?: TTransportConstructor; protocol?: TProtocolConstructor },
  ): Server;
}
