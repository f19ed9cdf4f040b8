// Turns a connection's byte stream into whole Thrift messages, for either transport, refusing any
// message longer than the cap before buffering it. The processor is only ever given one complete
// message, so it never sees a message that has not fully arrived.
import type { ThriftTransport } from '../config';
import { MalformedMessageError, MessageTooLargeError } from './connectionErrors';
import { MessageScanner } from './messageScanner';
import { ReceiveBuffer } from './receiveBuffer';

/** Takes the next chunk read from the socket; throws MessageTooLargeError or MalformedMessageError. */
export type MessageReceiver = (chunk: Buffer) => void;

export function messageReceiver(
  transport: ThriftTransport, maxMessageBytes: number, onMessage: (message: Buffer) => void,
): MessageReceiver {
  return transport === 'framed'
    ? framedReceiver(maxMessageBytes, onMessage)
    : bufferedReceiver(maxMessageBytes, onMessage);
}

/** Unframed: a message ends where its structure ends. */
function bufferedReceiver(maxMessageBytes: number, onMessage: (message: Buffer) => void): MessageReceiver {
  const pending = new ReceiveBuffer();
  const scanner = new MessageScanner(maxMessageBytes);
  return (chunk) => {
    pending.append(chunk);
    for (;;) {
      const length = scanner.scan(pending.bytes, pending.start, pending.end);
      if (length === undefined) return;
      scanner.reset();
      onMessage(pending.take(length));
    }
  };
}

const FRAME_HEADER_BYTES = 4;

/** Framed: a four-byte length, then that many bytes holding whole messages. */
function framedReceiver(maxMessageBytes: number, onMessage: (message: Buffer) => void): MessageReceiver {
  const pending = new ReceiveBuffer();
  return (chunk) => {
    pending.append(chunk);
    while (pending.length >= FRAME_HEADER_BYTES) {
      const size = pending.bytes.readInt32BE(pending.start);
      if (size < 0) throw new MalformedMessageError(`negative frame size ${size}`);
      if (size > maxMessageBytes) throw new MessageTooLargeError(size, maxMessageBytes);
      if (pending.length < FRAME_HEADER_BYTES + size) return;
      pending.skip(FRAME_HEADER_BYTES);
      splitFrame(pending.take(size), maxMessageBytes, onMessage);
    }
  };
}

/** Apache's clients send one message per frame, but the runtime accepts several: so do we. */
function splitFrame(frame: Buffer, maxMessageBytes: number, onMessage: (message: Buffer) => void): void {
  const scanner = new MessageScanner(maxMessageBytes);
  let at = 0;
  while (at < frame.length) {
    const length = scanner.scan(frame, at, frame.length);
    if (length === undefined) throw new MalformedMessageError('frame ends inside a message');
    onMessage(frame.subarray(at, at + length));
    scanner.reset();
    at += length;
  }
}
