// Finds where one Thrift binary-protocol message ends without decoding it.
//
// The buffered transport has no length prefix: a message ends where its structure ends. The thrift
// runtime finds that end by decoding the whole message again from its first byte on every read
// until a decode succeeds, which costs O(n²) for a message arriving in many reads (half a second per
// attempt for 16 MiB of small strings, repeated for every segment a client chooses to send). This
// walks the structure instead and keeps its place between reads, so every byte is looked at once,
// and a length that cannot fit under the cap is refused as soon as its four bytes arrive.
import { MalformedMessageError, MessageTooLargeError } from './connectionErrors';

const STOP = 0;
const BOOL = 2;
const BYTE = 3;
const DOUBLE = 4;
const I16 = 6;
const I32 = 8;
const I64 = 10;
const STRING = 11;
const STRUCT = 12;
const MAP = 13;
const SET = 14;
const LIST = 15;
const UUID = 16;

const FIXED_SIZE: ReadonlyMap<number, number> = new Map([
  [BOOL, 1], [BYTE, 1], [DOUBLE, 8], [I16, 2], [I32, 4], [I64, 8], [UUID, 16],
]);
/** The fewest bytes a value of each type takes: a claimed element count is checked against it. */
const MIN_SIZE: ReadonlyMap<number, number> = new Map([
  ...FIXED_SIZE, [STRING, 4], [STRUCT, 1], [MAP, 6], [SET, 5], [LIST, 5],
]);

const VERSION_MASK = 0xffff0000 | 0;
const VERSION_1 = 0x80010000 | 0;
/** As deep as the runtime's own skip() goes. */
const MAX_DEPTH = 64;

type Step =
  /** The message header: its first four bytes say strict (version) or old-style (name length). */
  | { kind: 'header' }
  | { kind: 'value'; type: number }
  /** The rest of a string, a binary or an old-style message name. */
  | { kind: 'bytes'; left: number }
  /** A struct's fields, up to its STOP byte. */
  | { kind: 'fields' }
  /** A collection's items: one type for a list or set, key and value types for a map. */
  | { kind: 'items'; types: readonly number[]; left: number; next: number; fixedBytes: number | undefined };

/** The bytes of one item when every type in it has a fixed size (a map's key and value together). */
function fixedBytes(types: readonly number[]): number | undefined {
  let sum = 0;
  for (const type of types) {
    const size = FIXED_SIZE.get(type);
    if (size === undefined) return undefined;
    sum += size;
  }
  return sum;
}

export class MessageScanner {
  private steps: Step[] = [{ kind: 'header' }];
  /** Bytes of the current message walked so far. */
  private offset = 0;
  private depth = 0;

  constructor(private readonly maxMessageBytes: number) {}

  /**
   * Walks bytes[start + bytes already walked, end), where bytes[start] is the first byte of the
   * message. Returns the message's length once it is complete (then call reset() for the next), or
   * undefined while more bytes are needed. Throws MessageTooLargeError or MalformedMessageError.
   */
  scan(bytes: Buffer, start: number, end: number): number | undefined {
    while (this.steps.length > 0) {
      const at = start + this.offset;
      const used = this.step(this.steps[this.steps.length - 1], bytes, at, end - at);
      if (used === undefined) return undefined;
      this.offset += used;
      if (this.offset > this.maxMessageBytes) throw new MessageTooLargeError(this.offset, this.maxMessageBytes);
    }
    return this.offset;
  }

  reset(): void {
    this.steps = [{ kind: 'header' }];
    this.offset = 0;
    this.depth = 0;
  }

  /** Advances the step on top; returns the bytes it used, or undefined if it needs more. */
  private step(step: Step, bytes: Buffer, at: number, available: number): number | undefined {
    switch (step.kind) {
      case 'header': {
        if (available < 4) return undefined;
        const first = bytes.readInt32BE(at);
        this.steps.pop();
        if (first < 0) {
          if ((first & VERSION_MASK) !== VERSION_1) throw new MalformedMessageError(`bad protocol version ${first}`);
          // Read in order: name, sequence id, then the argument struct.
          this.steps.push({ kind: 'value', type: STRUCT }, { kind: 'value', type: I32 }, { kind: 'value', type: STRING });
        } else {
          this.fits(4 + first);
          this.steps.push({ kind: 'value', type: STRUCT }, { kind: 'value', type: I32 }, { kind: 'value', type: BYTE },
            { kind: 'bytes', left: first });
        }
        return 4;
      }
      case 'value': {
        // Popped first: a struct or collection pushes its own step in its place.
        this.steps.pop();
        const used = this.startValue(step.type, bytes, at, available);
        if (used === undefined) this.steps.push(step);
        return used;
      }
      case 'bytes': {
        if (available === 0 && step.left > 0) return undefined;
        const used = Math.min(step.left, available);
        step.left -= used;
        if (step.left === 0) this.steps.pop();
        return used;
      }
      case 'fields': {
        if (available < 1) return undefined;
        const type = bytes.readInt8(at);
        if (type === STOP) {
          this.leave();
          return 1;
        }
        if (available < 3) return undefined;
        this.steps.push({ kind: 'value', type });
        return 3;
      }
      case 'items':
        return this.nextItems(step, bytes, at, available);
    }
  }

  /**
   * Begins a value of the given type: fixed-size values and whole strings are walked at once,
   * structs and collections push their own step. Returns undefined, having pushed nothing, while
   * the bytes that start the value have not all arrived.
   */
  private startValue(type: number, bytes: Buffer, at: number, available: number): number | undefined {
    const fixed = FIXED_SIZE.get(type);
    if (fixed !== undefined) return available < fixed ? undefined : fixed;
    switch (type) {
      case STRING: {
        if (available < 4) return undefined;
        const length = bytes.readInt32BE(at);
        if (length < 0) throw new MalformedMessageError(`negative string length ${length}`);
        this.fits(4 + length);
        if (available >= 4 + length) return 4 + length;
        this.steps.push({ kind: 'bytes', left: length });
        return 4;
      }
      case STRUCT:
        this.enter({ kind: 'fields' });
        return 0;
      case MAP: {
        if (available < 6) return undefined;
        const types = [bytes.readInt8(at), bytes.readInt8(at + 1)];
        const size = this.collectionSize(bytes.readInt32BE(at + 2), types, 6);
        this.enter({ kind: 'items', types, left: size * 2, next: 0, fixedBytes: fixedBytes(types) });
        return 6;
      }
      case SET:
      case LIST: {
        if (available < 5) return undefined;
        const types = [bytes.readInt8(at)];
        const size = this.collectionSize(bytes.readInt32BE(at + 1), types, 5);
        this.enter({ kind: 'items', types, left: size, next: 0, fixedBytes: fixedBytes(types) });
        return 5;
      }
      default:
        throw new MalformedMessageError(`unknown field type ${type}`);
    }
  }

  /** Walks as many items as are here; fixed-size items in bulk so long lists of numbers stay cheap. */
  private nextItems(step: Step & { kind: 'items' }, bytes: Buffer, at: number, available: number): number | undefined {
    if (step.left === 0) {
      this.leave();
      return 0;
    }
    if (step.fixedBytes !== undefined) {
      const whole = Math.min(step.left / step.types.length, Math.floor(available / step.fixedBytes));
      if (whole === 0) return undefined;
      step.left -= whole * step.types.length;
      return whole * step.fixedBytes;
    }
    // Counted first: the item may push its own step on top of this one.
    const { left, next } = step;
    step.left -= 1;
    step.next = (next + 1) % step.types.length;
    const used = this.startValue(step.types[next], bytes, at, available);
    if (used === undefined) Object.assign(step, { left, next });
    return used;
  }

  private collectionSize(size: number, types: number[], headerBytes: number): number {
    if (size < 0) throw new MalformedMessageError(`negative collection size ${size}`);
    if (size === 0) return 0;
    let itemBytes = 0;
    for (const type of types) {
      const min = MIN_SIZE.get(type);
      if (min === undefined) throw new MalformedMessageError(`unknown collection item type ${type}`);
      itemBytes += min;
    }
    this.fits(headerBytes + size * itemBytes);
    return size;
  }

  /** Refuses a value that cannot fit under the cap, before waiting for its bytes. */
  private fits(valueBytes: number): void {
    const total = this.offset + valueBytes;
    if (total > this.maxMessageBytes) throw new MessageTooLargeError(total, this.maxMessageBytes);
  }

  private enter(step: Step & { kind: 'fields' | 'items' }): void {
    this.depth += 1;
    if (this.depth > MAX_DEPTH) throw new MalformedMessageError(`nested deeper than ${MAX_DEPTH}`);
    this.steps.push(step);
  }

  private leave(): void {
    this.depth -= 1;
    this.steps.pop();
  }
}
