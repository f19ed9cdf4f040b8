// Why the Thrift edge gave up on a connection. Both end the connection: after either one the byte
// stream can no longer be split into messages, so nothing later on it could be trusted.

/** A message (or frame) longer than THRIFT_MAX_MESSAGE_BYTES, refused before it is buffered. */
export class MessageTooLargeError extends Error {
  constructor(readonly bytes: number, readonly maxBytes: number) {
    super(`message of at least ${bytes} bytes exceeds THRIFT_MAX_MESSAGE_BYTES (${maxBytes})`);
    this.name = 'MessageTooLargeError';
  }
}

/** Bytes that are not a Thrift binary-protocol message. */
export class MalformedMessageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MalformedMessageError';
  }
}
