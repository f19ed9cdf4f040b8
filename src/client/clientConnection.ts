// The client side of one Thrift connection, in place of the runtime's own. The runtime reads each
// chunk by trying to decode a message and catching InputBufferUnderrunError when it is not all
// there, so every read ends in a thrown error with its stack trace captured: a real cost for a
// busy client. Here the bytes are cut into whole replies first (the same receiver the server uses),
// and a reply is decoded once, when it is complete.
import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';
import * as thrift from 'thrift';
import type { ThriftTransport } from '../config';
import { messageReceiver, type MessageReceiver } from '../rpc/messageReceiver';

/** Replies are bounded by the server (8 MiB of jobs and their framing); this only stops a runaway. */
const MAX_REPLY_BYTES = 256 * 1024 * 1024;

/** What a generated client offers for its replies: recv_<method>(input, type, seqid). */
type ReceivingClient = object;

/**
 * Satisfies what thrift's Multiplexer.createClient expects of a connection (transport, protocol,
 * seqId2Service, write) and routes every reply to the client that sent the call.
 */
export class ClientConnection extends EventEmitter {
  readonly transport: typeof thrift.TBufferedTransport | typeof thrift.TFramedTransport;
  readonly protocol = thrift.TBinaryProtocol;
  /** Which service each call in flight went to (filled by the multiplexing protocol). */
  readonly seqId2Service: Record<number, string> = {};
  private readonly clients = new Map<string, ReceivingClient>();
  private readonly receive: MessageReceiver;
  private open = false;

  private constructor(private readonly socket: Socket, transport: ThriftTransport) {
    super();
    this.transport = transport === 'framed' ? thrift.TFramedTransport : thrift.TBufferedTransport;
    this.receive = messageReceiver(transport, MAX_REPLY_BYTES, (message) => this.deliver(message));
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      try {
        this.receive(chunk);
      } catch (error) {
        // The stream can no longer be cut into messages: nothing after this can be trusted.
        this.emit('error', error);
        socket.destroy();
      }
    });
    socket.on('error', (error: Error) => this.emit('error', error));
    socket.on('close', () => {
      this.open = false;
      this.emit('close');
    });
  }

  /** Connects; rejects on error or when nothing answers within timeoutMs. */
  static async open(host: string, port: number, transport: ThriftTransport, timeoutMs: number): Promise<ClientConnection> {
    const socket = connect(port, host);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`cannot connect to ${host}:${port}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.once('error', (error: Error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
    const connection = new ClientConnection(socket, transport);
    connection.open = true;
    return connection;
  }

  get connected(): boolean {
    return this.open;
  }

  /** Registers the client that receives replies to calls made under a service name. */
  register(serviceName: string, client: ReceivingClient): void {
    this.clients.set(serviceName, client);
  }

  /** Called by the clients' transports with each whole call. */
  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  end(): void {
    this.socket.end();
  }

  private deliver(message: Buffer): void {
    // The receiver took any framing off: a TFramedTransport over a buffer reads it as it is.
    const input = new thrift.TBinaryProtocol(new thrift.TFramedTransport(message));
    const header = input.readMessageBegin();
    const service = this.seqId2Service[header.rseqid];
    delete this.seqId2Service[header.rseqid];
    const client = service === undefined ? undefined : this.clients.get(service);
    const receive: unknown = client === undefined ? undefined : Reflect.get(client, `recv_${header.fname}`);
    if (client === undefined || typeof receive !== 'function') {
      this.emit('error', new thrift.Thrift.TApplicationException(
        thrift.Thrift.TApplicationExceptionType.WRONG_METHOD_NAME, `a reply to no call of ours: ${header.fname} #${header.rseqid}`));
      return;
    }
    Reflect.apply(receive, client, [input, header.mtype, header.rseqid]);
  }
}
