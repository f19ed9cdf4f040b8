// A client of our own service, built on the generated stubs: what the CLI, the benchmarks and the
// tests use to speak to a running server exactly as an outside client would.
import * as thrift from 'thrift';
import type { ThriftTransport } from '../config';
import { SERVICE_NAMES } from '../rpc/serviceNames';
import { ClientConnection } from './clientConnection';
import { ms } from '../rpc/wire';

export interface ServiceClients {
  cluster: ms.ClusterService.Client;
  job: ms.JobService.Client;
  provisioning: ms.ProvisioningService.Client;
  close(): void;
}

export interface ConnectOptions {
  host: string;
  port: number;
  transport?: ThriftTransport;
  timeoutMs?: number;
}

type ServiceName = 'cluster' | 'job' | 'provisioning';
type Connected = Omit<ServiceClients, 'close'> & { connection: ClientConnection; close(): void };

/**
 * Clients of the three services over one connection, opened at once. The server closes a
 * connection idle for THRIFT_IDLE_TIMEOUT_MS (a minute by default): a call made after that opens a
 * new one first, so a long-lived client (a benchmark, an orchestrator) need not care. A call
 * already sent when a connection drops fails; it is not sent again.
 */
export async function connectClients(options: ConnectOptions): Promise<ServiceClients> {
  let current = await openClients(options);
  let closed = false;
  let reopening: Promise<Connected> | undefined;
  const connected = async (): Promise<Connected> => {
    if (closed) throw new Error('the client was closed');
    if (current.connection.connected) return current;
    reopening ??= openClients(options).then((fresh) => {
      current = fresh;
      return fresh;
    }).finally(() => { reopening = undefined; });
    return reopening;
  };
  // Each method of each service: the same call on the live connection's client.
  const service = <K extends ServiceName>(name: K): ServiceClients[K] => new Proxy(current[name], {
    get: (_target, property) => {
      const member: unknown = Reflect.get(current[name], property);
      if (typeof member !== 'function') return member;
      return async (...args: unknown[]) => {
        const client = (await connected())[name];
        return Reflect.apply(Reflect.get(client, property) as (...a: unknown[]) => unknown, client, args);
      };
    },
  });
  return {
    cluster: service('cluster'),
    job: service('job'),
    provisioning: service('provisioning'),
    close: () => {
      closed = true;
      current.close();
    },
  };
}

/** Opens one connection carrying all three multiplexed services; resolves once connected. */
async function openClients(options: ConnectOptions): Promise<Connected> {
  const connection = await ClientConnection.open(options.host, options.port, options.transport ?? 'buffered', options.timeoutMs ?? 5000);
  // After connecting, errors surface on each call's promise; keep the emitter from throwing.
  connection.on('error', () => undefined);
  const mux = new thrift.Multiplexer();
  // Replies are routed by sequence id, so ids must be unique across the clients that share the
  // connection. thrift's Multiplexer patches `new_seqid` for that, but the generated clients number
  // their calls with `incrementSeqId`: give them one shared counter.
  let seqid = 0;
  const shared = <T extends { incrementSeqId(): number }>(name: string, client: T): T => {
    client.incrementSeqId = () => (seqid += 1);
    connection.register(name, client);
    return client;
  };
  // The Multiplexer only needs what ClientConnection provides of a connection.
  const via = connection as unknown as thrift.Connection;
  const clients = {
    cluster: shared(SERVICE_NAMES.cluster, mux.createClient(SERVICE_NAMES.cluster, ms.ClusterService.Client, via)),
    job: shared(SERVICE_NAMES.job, mux.createClient(SERVICE_NAMES.job, ms.JobService.Client, via)),
    provisioning: shared(SERVICE_NAMES.provisioning, mux.createClient(SERVICE_NAMES.provisioning, ms.ProvisioningService.Client, via)),
  };
  // Calls still waiting when the connection drops fail instead of waiting forever.
  connection.on('close', () => {
    for (const client of Object.values(clients)) {
      for (const [id, callback] of Object.entries(client._reqs)) {
        delete client._reqs[Number(id)];
        callback(new Error(`connection to ${options.host}:${options.port} closed before the answer`));
      }
    }
  });
  return { ...clients, connection, close: () => connection.end() };
}
