// Thrift calls as bytes on a plain socket, for tests that must control exactly what reaches the
// server and when: a call split into parts, a message over the cap, bytes that are not Thrift.
import { connect, type Socket } from 'node:net';
import * as thrift from 'thrift';
import type { ThriftTransport } from '../../src/config';

interface Writable {
  write(output: thrift.TProtocol): void;
}

/** One CALL message as a client puts it on the wire, framing included. */
export function callMessage(transport: ThriftTransport, name: string, args: Writable, seqid = 1): Buffer {
  let bytes: Buffer = Buffer.alloc(0);
  const Transport = transport === 'framed' ? thrift.TFramedTransport : thrift.TBufferedTransport;
  const output = new thrift.TBinaryProtocol(new Transport(undefined, (message) => { bytes = message ?? bytes; }));
  output.writeMessageBegin(name, thrift.Thrift.MessageType.CALL, seqid);
  args.write(output);
  output.writeMessageEnd();
  output.flush();
  return bytes;
}

/** Decodes one reply from everything received, or undefined while it has not all arrived. */
function decodeReply<T>(transport: ThriftTransport, bytes: Buffer, read: (input: thrift.TProtocol) => T): T | undefined {
  let body = bytes;
  if (transport === 'framed') {
    if (bytes.length < 4 || bytes.length < 4 + bytes.readInt32BE(0)) return undefined;
    body = bytes.subarray(4, 4 + bytes.readInt32BE(0));
  }
  const input = new thrift.TBinaryProtocol(new thrift.TFramedTransport(body));
  try {
    const begin = input.readMessageBegin();
    if (begin.mtype === thrift.Thrift.MessageType.EXCEPTION) {
      const error = new thrift.Thrift.TApplicationException();
      error.read(input);
      throw new Error(`the server answered TApplicationException: ${error.message}`);
    }
    return read(input);
  } catch (error) {
    if (error instanceof Error && error.name === 'InputBufferUnderrunError') return undefined;
    throw error;
  }
}

export class RawConnection {
  private received: Buffer = Buffer.alloc(0);
  private wake: (() => void)[] = [];
  /** When the server closed the connection (performance.now()), once it has. */
  closedAt: number | undefined;
  readonly openedAt = performance.now();

  private constructor(readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk]);
      this.notify();
    });
    socket.on('close', () => {
      this.closedAt = performance.now();
      this.notify();
    });
    // A server that closes on us makes our writes fail: that is what these tests look for.
    socket.on('error', () => undefined);
  }

  static async open(port: number): Promise<RawConnection> {
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RawConnection(socket);
  }

  get closed(): boolean {
    return this.closedAt !== undefined;
  }

  /** Writes and waits until the bytes are handed to the kernel (or the write failed). */
  async write(bytes: Buffer): Promise<void> {
    if (this.socket.destroyed) return;
    await new Promise<void>((resolve) => this.socket.write(bytes, () => resolve()));
  }

  /** The next reply, decoded with the call's result reader; everything received is consumed. */
  async reply<T>(transport: ThriftTransport, read: (input: thrift.TProtocol) => T, timeoutMs = 10_000): Promise<T> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const reply = decodeReply(transport, this.received, read);
      if (reply !== undefined) {
        this.received = Buffer.alloc(0);
        return reply;
      }
      if (this.closed) throw new Error('the server closed the connection before replying');
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`no reply within ${timeoutMs} ms`);
      await this.next(left);
    }
  }

  /** Resolves once the server has closed the connection; rejects after timeoutMs. */
  async whenClosed(timeoutMs = 10_000): Promise<number> {
    const deadline = performance.now() + timeoutMs;
    while (this.closedAt === undefined) {
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`the server did not close the connection within ${timeoutMs} ms`);
      await this.next(left);
    }
    return this.closedAt;
  }

  destroy(): void {
    this.socket.destroy();
  }

  private async next(timeoutMs: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.wake.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private notify(): void {
    for (const wake of this.wake.splice(0)) wake();
  }
}
