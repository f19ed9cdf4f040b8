// The bytes a connection has received and not yet handed on, in one buffer. Appending grows it
// geometrically, so a message arriving in many reads costs linear time; once everything is handed
// on, a large buffer is let go so an idle connection does not keep its biggest message's memory.

const KEEP_BYTES = 64 * 1024;

export class ReceiveBuffer {
  private buffer = Buffer.alloc(0);
  private first = 0;
  private last = 0;

  /** The underlying bytes; the unread ones are [start, end). Valid until the next append. */
  get bytes(): Buffer {
    return this.buffer;
  }

  get start(): number {
    return this.first;
  }

  get end(): number {
    return this.last;
  }

  get length(): number {
    return this.last - this.first;
  }

  append(chunk: Buffer): void {
    if (this.last + chunk.length > this.buffer.length) {
      const unread = this.length;
      const grown = Buffer.allocUnsafe(Math.max(2 * (unread + chunk.length), 1024));
      this.buffer.copy(grown, 0, this.first, this.last);
      this.buffer = grown;
      this.first = 0;
      this.last = unread;
    }
    chunk.copy(this.buffer, this.last);
    this.last += chunk.length;
  }

  /** Removes the next length bytes and returns them as a buffer of their own. */
  take(length: number): Buffer {
    const taken = Buffer.from(this.buffer.subarray(this.first, this.first + length));
    this.skip(length);
    return taken;
  }

  skip(length: number): void {
    this.first += length;
    if (this.first === this.last) {
      this.first = 0;
      this.last = 0;
      if (this.buffer.length > KEEP_BYTES) this.buffer = Buffer.alloc(0);
    }
  }
}
