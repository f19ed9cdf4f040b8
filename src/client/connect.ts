// A client of our own service, built on the generated stubs: what the CLI, the benchmarks and the
// tests use to speak to a running server exactly as an outside client would.
import * as thrift from 'thrift';
import type { ThriftTransport } from '../config';
import { SERVICE_NAMES } from '../rpc/serviceNames';
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
type Connected = Omit<ServiceClients, 'close'> & { connection: thrift.Connection; close(): void };

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
  const connection = thrift.createConnection(options.host, options.port, {
    transport: options.transport === 'framed' ? thrift.TFramedTransport : thrift.TBufferedTransport,
    protocol: thrift.TBinaryProtocol,
    connect_timeout: options.timeoutMs ?? 5000,
    timeout: options.timeoutMs ?? 30_000,
  } as thrift.ConnectOptions);
  const connectTimeoutMs = options.timeoutMs ?? 5000;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      connection.end();
      reject(new Error(`cannot connect to ${options.host}:${options.port}: no answer within ${connectTimeoutMs} ms`));
    }, connectTimeoutMs);
    connection.once('connect', () => {
      clearTimeout(timer);
      resolve();
    });
    connection.once('error', (error: Error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
  // After connecting, errors surface on each call's promise; keep the emitter from throwing.
  connection.on('error', () => undefined);
  const mux = new thrift.Multiplexer();
  // The connection routes replies by sequence id, so ids must be unique across the clients that
  // share it. thrift's Multiplexer patches `new_seqid` for that, but the generated clients number
  // their calls with `incrementSeqId`: give them one shared counter.
  let seqid = 0;
  const shared = <T extends { incrementSeqId(): number }>(client: T): T => {
    client.incrementSeqId = () => (seqid += 1);
    return client;
  };
  const clients = {
    cluster: shared(mux.createClient(SERVICE_NAMES.cluster, ms.ClusterService.Client, connection)),
    job: shared(mux.createClient(SERVICE_NAMES.job, ms.JobService.Client, connection)),
    provisioning: shared(mux.createClient(SERVICE_NAMES.provisioning, ms.ProvisioningService.Client, connection)),
  };
  // The runtime leaves calls waiting forever when the connection drops: fail them instead.
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
