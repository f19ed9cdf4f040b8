// One client connection of the Thrift edge: whole messages in, one answer per call out.
//
// A message that cannot be read ends the connection at once and is logged once: after it the byte
// stream can no longer be split into messages, and reading on would only log the same failure again
// for every chunk the client keeps sending. A connection that sends nothing for idleTimeoutMs while
// none of its calls is being worked on is closed, so idle sockets cannot hold the connection slots.
import type { Socket } from 'node:net';
import * as thrift from 'thrift';
import type { ThriftTransport } from '../config';
import type { Logger } from '../log';
import { MessageTooLargeError } from './connectionErrors';
import { messageReceiver } from './messageReceiver';

export interface CallProcessor {
  process(input: thrift.TProtocol, output: thrift.TProtocol): void;
}

export interface ConnectionOptions {
  processor: CallProcessor;
  transport: ThriftTransport;
  maxMessageBytes: number;
  idleTimeoutMs: number;
  log: Logger;
}

export function serveConnection(socket: Socket, options: ConnectionOptions): void {
  const { log, processor, maxMessageBytes } = options;
  const peer = `${socket.remoteAddress}:${socket.remotePort}`;
  const ReplyTransport = options.transport === 'framed' ? thrift.TFramedTransport : thrift.TBufferedTransport;
  let awaitingReply = 0;
  let refused = false;

  const idle = setTimeout(() => {
    // A call being worked on is not idleness: writing its answer starts the clock again.
    if (awaitingReply > 0) return;
    log.debug({ peer }, 'closing idle Thrift connection');
    socket.destroy();
  }, options.idleTimeoutMs);
  idle.unref();

  const send = (bytes: Buffer): void => {
    idle.refresh();
    // The client may have gone (or closed its side, which ends ours) while the call was worked on.
    if (socket.destroyed || socket.writableEnded) return;
    // A client that sends calls without reading the answers would have them pile up in memory:
    // read none of its calls until it has taken what was already written.
    if (!socket.write(bytes) && !socket.isPaused()) {
      socket.pause();
      socket.once('drain', () => socket.resume());
    }
  };

  const receive = messageReceiver(options.transport, maxMessageBytes, (message) => {
    let answered = false;
    const output = new thrift.TBinaryProtocol(new ReplyTransport(undefined, (bytes) => {
      if (bytes === undefined) return;
      if (!answered) {
        answered = true;
        awaitingReply -= 1;
      }
      send(bytes);
    }));
    awaitingReply += 1;
    // The receiver already took the framing off: TFramedTransport over a buffer is simply the
    // runtime's reader of bytes held in memory.
    processor.process(new thrift.TBinaryProtocol(new thrift.TFramedTransport(message)), output);
  });

  const refuse = (error: unknown): void => {
    refused = true;
    socket.destroy();
    if (error instanceof MessageTooLargeError) {
      log.warn({ peer, bytes: error.bytes, maxBytes: maxMessageBytes }, 'Thrift message over THRIFT_MAX_MESSAGE_BYTES: connection closed');
    } else {
      const reason = error instanceof Error ? error.message : String(error);
      log.warn({ peer, reason }, 'unreadable Thrift message: connection closed');
    }
  };

  socket.on('data', (chunk: Buffer) => {
    if (refused) return;
    idle.refresh();
    try {
      receive(chunk);
    } catch (error) {
      refuse(error);
    }
  });
  // Resets and the like end one client's connection; they are that client's business.
  socket.on('error', (error: Error) => log.debug({ peer, err: error }, 'Thrift connection error'));
  socket.on('close', () => clearTimeout(idle));
}
