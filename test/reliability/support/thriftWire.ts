// Thrift calls as a fuzzer sends them: encoded by the generated stubs, through a protocol that lies
// now and then (wrong field types and ids, list sizes that are not the real count, values swapped
// for hostile ones), or mutated as bytes; and the server's answers read back without knowing what
// was asked. Everything happens on plain sockets, one connection per case, each with a deadline.
import { connect, type Socket } from 'node:net';
import Int64 from 'node-int64';
import * as thrift from 'thrift';
import type { ThriftTransport } from '../../../src/config';
import { bytes, hostileString, int32, type Rng } from './generators';

const { Type, MessageType } = thrift.Thrift;

export interface Writable {
  write(output: thrift.TProtocol): void;
}

/** Every wire type, and a few that are none. */
const TYPES = [Type.STOP, Type.BOOL, Type.BYTE, Type.DOUBLE, Type.I16, Type.I32, Type.I64, Type.STRING, Type.STRUCT, Type.MAP, Type.SET, Type.LIST, 16, 17, 99, -1];

/**
 * A protocol that passes each write through, or (at `rate`) writes something else in its place:
 * another field type or id, no field header, a list or map size that is not the count that
 * follows, a hostile string, a boundary number. The struct's own write code drives it, so the
 * result is a real call with lies in it.
 */
export function lyingProtocol(inner: thrift.TProtocol, rng: Rng, rate: number): thrift.TProtocol {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function' || typeof prop !== 'string' || !prop.startsWith('write')) return value;
      const real = value as (...args: unknown[]) => unknown;
      return (...args: unknown[]): unknown => {
        if (!rng.bool(rate)) return real.apply(target, args);
        switch (prop) {
          case 'writeFieldBegin':
            return rng.weighted<unknown>([
              [3, () => real.call(target, args[0], rng.pick(TYPES), args[2])],
              [2, () => real.call(target, args[0], args[1], rng.pick([0, -1, 32767, -32768, rng.range(1, 40)]))],
              [1, () => undefined],
              [1, () => { real.apply(target, args); target.writeFieldStop(); }],
            ]);
          case 'writeFieldStop':
            return rng.bool() ? undefined : (real.call(target), real.call(target));
          case 'writeListBegin':
          case 'writeSetBegin':
            return real.call(target, rng.bool(0.3) ? rng.pick(TYPES) : args[0], rng.bool(0.7) ? Math.max(-5, Number(args[1]) + rng.range(-2, 3)) : int32(rng));
          case 'writeMapBegin':
            return real.call(target, rng.bool(0.2) ? rng.pick(TYPES) : args[0], rng.bool(0.2) ? rng.pick(TYPES) : args[1],
              rng.bool(0.7) ? Math.max(-5, Number(args[2]) + rng.range(-2, 3)) : int32(rng));
          case 'writeString':
            return real.call(target, rng.bool(0.1) ? 'z'.repeat(rng.size(400_000)) : hostileString(rng, 200));
          case 'writeBinary':
            return real.call(target, bytes(rng, rng.size(200)));
          case 'writeI32':
            return real.call(target, int32(rng));
          case 'writeI16':
            return real.call(target, rng.range(-32768, 32767));
          case 'writeByte':
            return real.call(target, rng.range(-128, 127));
          case 'writeI64':
            return real.call(target, new Int64(bytes(rng, 8)));
          case 'writeBool':
            return real.call(target, rng.bool());
          default:
            return real.apply(target, args);
        }
      };
    },
  });
}

export interface Encoding {
  transport: ThriftTransport;
  name: string;
  args: Writable;
  type?: number;
  seqid?: number;
  /** Old-style header (name length first) instead of the versioned one. */
  oldStyle?: boolean;
  lies?: { rng: Rng; rate: number };
}

/** One message as a client puts it on the wire, framing included. */
export function encodeCall(e: Encoding): Buffer {
  let out: Buffer = Buffer.alloc(0);
  const Transport = e.transport === 'framed' ? thrift.TFramedTransport : thrift.TBufferedTransport;
  const output = new thrift.TBinaryProtocol(new Transport(undefined, (message) => { out = message ?? out; }), false, !e.oldStyle);
  output.writeMessageBegin(e.name, e.type ?? MessageType.CALL, e.seqid ?? 1);
  e.args.write(e.lies ? lyingProtocol(output, e.lies.rng, e.lies.rate) : output);
  output.writeMessageEnd();
  output.flush();
  return out;
}

/** The framed transport's length prefix, put back after the body was changed. */
export function reframe(body: Buffer): Buffer {
  const header = Buffer.alloc(4);
  header.writeInt32BE(body.length, 0);
  return Buffer.concat([header, body]);
}

export interface Reply {
  type: number;
  name: string;
  seqid: number;
  /** For an EXCEPTION message: the TApplicationException's type and message. */
  exception?: { type: number; message: string };
  /** The result struct, for a REPLY: the success value or a declared exception, in field `id`. */
  fieldIds: number[];
}

/** Reads every whole reply in `received`; returns them and the bytes of a reply still arriving. */
export function readReplies(transport: ThriftTransport, received: Buffer): { replies: Reply[]; rest: Buffer } {
  const replies: Reply[] = [];
  let at = 0;
  for (;;) {
    let body: Buffer;
    let next: number;
    if (transport === 'framed') {
      if (received.length - at < 4) break;
      const size = received.readInt32BE(at);
      if (received.length - at - 4 < size) break;
      body = received.subarray(at + 4, at + 4 + size);
      next = at + 4 + size;
    } else {
      body = received.subarray(at);
      next = -1;
    }
    const transportIn = new thrift.TFramedTransport(body);
    const input = new thrift.TBinaryProtocol(transportIn);
    try {
      const begin = input.readMessageBegin();
      const reply: Reply = { type: begin.mtype, name: begin.fname, seqid: begin.rseqid, fieldIds: [] };
      if (begin.mtype === MessageType.EXCEPTION) {
        const error = new thrift.Thrift.TApplicationException();
        error.read(input);
        // The runtime's TApplicationException keeps its type in `type` but writes `code`: the
        // type never reaches the wire (every one reads as UNKNOWN), so callers go by the message.
        reply.exception = { type: (error as unknown as { type?: number }).type ?? -1, message: error.message };
      } else {
        input.readStructBegin();
        for (;;) {
          const field = input.readFieldBegin();
          if (field.ftype === Type.STOP) break;
          reply.fieldIds.push(field.fid);
          input.skip(field.ftype);
          input.readFieldEnd();
        }
        input.readStructEnd();
      }
      input.readMessageEnd();
      replies.push(reply);
      // The buffered transport has no length: the message ended where the reader stopped.
      at = next >= 0 ? next : at + (transportIn as unknown as { readPos: number }).readPos;
    } catch (error) {
      if (error instanceof Error && error.name === 'InputBufferUnderrunError') break;
      throw new Error(`the server sent bytes that are not a Thrift reply: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return { replies, rest: received.subarray(at) };
}

export type Ending = 'answered' | 'closed' | 'hung';

export interface Exchange {
  replies: Reply[];
  /** How the exchange ended: we had every reply we waited for, the server closed, or neither by the deadline. */
  ending: Ending;
  ms: number;
}

/**
 * Opens a connection, sends the bytes, and reads until `replies` replies have come (then closes
 * our side) or the server closes; past `deadlineMs` the connection is counted as hung.
 */
export async function exchange(port: number, transport: ThriftTransport, payload: Buffer, replies: number, deadlineMs: number): Promise<Exchange> {
  const started = performance.now();
  const socket: Socket = connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  let received: Buffer = Buffer.alloc(0);
  let got: Reply[] = [];
  let failure: Error | undefined;
  const ending = await new Promise<Ending>((resolve) => {
    const timer = setTimeout(() => resolve('hung'), deadlineMs);
    const done = (how: Ending): void => {
      clearTimeout(timer);
      resolve(how);
    };
    socket.on('connect', () => socket.write(payload, () => undefined));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      try {
        const read = readReplies(transport, received);
        got = [...got, ...read.replies];
        received = read.rest;
      } catch (error) {
        failure = error as Error;
        done('closed');
      }
      if (replies > 0 && got.length >= replies) done('answered');
    });
    // Our writes fail once the server has given up on the connection: that is an answer too.
    socket.on('error', () => undefined);
    socket.on('close', () => done('closed'));
  });
  socket.destroy();
  if (failure) throw failure;
  return { replies: got, ending, ms: performance.now() - started };
}
