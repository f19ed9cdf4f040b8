// A TCP relay between the code under test and a shared server (RabbitMQ), so a test can take the
// server away from that code alone: other test files running at the same time keep using it.
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  /** Where the proxy listens, 127.0.0.1; the same port after cut() and restore(). */
  readonly port: number;
  /** As if the server went down: new connections are refused and open ones are dropped. */
  cut(): Promise<void>;
  /** Listens again on the same port and relays new connections. */
  restore(): Promise<void>;
  /** Cuts for good. */
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  // Both ends of every relayed connection: a cut must drop the ones already open too, or a
  // client holding one would never notice the outage.
  const sockets = new Set<Socket>();
  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };

  const relay = (client: Socket): void => {
    const upstream = connect(target.port, target.host);
    track(client);
    track(upstream);
    // Either side ending or failing ends the other: the client sees what it would see if the
    // server itself went away.
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  };

  const listen = (port: number): Promise<Server> => new Promise((resolve, reject) => {
    const server = createServer(relay);
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve(server);
    });
  });

  let server: Server | undefined = await listen(0);
  const { port } = server.address() as AddressInfo;

  const cut = async (): Promise<void> => {
    const listening = server;
    server = undefined;
    if (!listening) return;
    const closed = new Promise<void>((resolve) => listening.close(() => resolve()));
    for (const socket of sockets) socket.destroy();
    await closed;
  };

  return {
    port,
    cut,
    async restore() {
      if (server) return;
      server = await listen(port).catch((error: unknown) => {
        throw new Error(`tcp proxy: cannot listen on 127.0.0.1:${port} again: ${(error as Error).message}`);
      });
    },
    close: cut,
  };
}
