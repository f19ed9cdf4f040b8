// Where a binary-protocol message ends, found without decoding it: at once, resumed byte by byte,
// for every wire type, and refusing what is malformed or over the cap as early as it can tell.
import * as thrift from 'thrift';
import { MalformedMessageError, MessageTooLargeError } from '../../src/rpc/connectionErrors';
import { MessageScanner } from '../../src/rpc/messageScanner';
import { base, ms } from '../../src/rpc/wire';

const { Type } = thrift.Thrift;
const MiB = 1024 * 1024;

/** A CALL message as a client writes it: header, then whatever writeArgs writes. */
function message(writeArgs: (output: thrift.TProtocol) => void, strict = true): Buffer {
  let bytes: Buffer = Buffer.alloc(0);
  const output = new thrift.TBinaryProtocol(new thrift.TBufferedTransport(undefined, (msg) => { bytes = msg ?? bytes; }), false, strict);
  output.writeMessageBegin('JobService:submitJob', thrift.Thrift.MessageType.CALL, 7);
  writeArgs(output);
  output.writeMessageEnd();
  output.flush();
  return bytes;
}

const submitJob = (): Buffer => message((output) => new ms.JobService.SubmitJobArgs({
  authzToken: new base.AuthzToken({ accessToken: 'token', claimsMap: new Map([['gatewayID', 'gw'], ['userName', 'u']]) }),
  spec: new ms.JobSpec({
    jobName: 'job', parallelism: base.ApplicationParallelismType.MPI, command: ['/bin/echo', 'a', 'b'],
    nodeCount: 2, environment: new Map([['A', '1'], ['B', '2']]),
  }),
}).write(output));

/** Every wire type the IDL does not use as well, nested, so the walk is checked beyond our own calls. */
const everyType = (): Buffer => message((output) => {
  output.writeStructBegin('args');
  output.writeFieldBegin('flag', Type.BOOL, 1); output.writeBool(true); output.writeFieldEnd();
  output.writeFieldBegin('b', Type.BYTE, 2); output.writeByte(-3); output.writeFieldEnd();
  output.writeFieldBegin('s', Type.I16, 3); output.writeI16(300); output.writeFieldEnd();
  output.writeFieldBegin('d', Type.DOUBLE, 4); output.writeDouble(1.5); output.writeFieldEnd();
  output.writeFieldBegin('l', Type.I64, 5); output.writeI64(1234567890123); output.writeFieldEnd();
  output.writeFieldBegin('numbers', Type.MAP, 6);
  output.writeMapBegin(Type.I32, Type.I64, 3);
  for (let i = 0; i < 3; i += 1) { output.writeI32(i); output.writeI64(i * 10); }
  output.writeMapEnd(); output.writeFieldEnd();
  output.writeFieldBegin('nested', Type.LIST, 7);
  output.writeListBegin(Type.LIST, 2);
  for (const inner of [['x', 'yy'], []]) {
    output.writeListBegin(Type.STRING, inner.length);
    for (const text of inner) output.writeString(text);
    output.writeListEnd();
  }
  output.writeListEnd(); output.writeFieldEnd();
  output.writeFieldBegin('structs', Type.SET, 8);
  output.writeSetBegin(Type.STRUCT, 2);
  for (let i = 0; i < 2; i += 1) {
    output.writeStructBegin('item');
    output.writeFieldBegin('name', Type.STRING, 1); output.writeString(`item-${i}`); output.writeFieldEnd();
    output.writeFieldStop(); output.writeStructEnd();
  }
  output.writeSetEnd(); output.writeFieldEnd();
  output.writeFieldBegin('byName', Type.MAP, 9);
  output.writeMapBegin(Type.STRING, Type.DOUBLE, 2);
  output.writeString('one'); output.writeDouble(1); output.writeString('two'); output.writeDouble(2);
  output.writeMapEnd(); output.writeFieldEnd();
  output.writeFieldBegin('empty', Type.MAP, 10); output.writeMapBegin(Type.STRING, Type.STRING, 0); output.writeMapEnd(); output.writeFieldEnd();
  output.writeFieldStop();
  output.writeStructEnd();
});

const scanAll = (bytes: Buffer, max = 16 * MiB): number | undefined => new MessageScanner(max).scan(bytes, 0, bytes.length);

describe('MessageScanner', () => {
  it.each([
    ['a submitJob call', submitJob],
    ['every wire type', everyType],
    ['an old-style (non-strict) header', () => message((output) => new ms.JobService.GetJobArgs({
      authzToken: new base.AuthzToken({ accessToken: 't', claimsMap: new Map() }), jobId: 'j',
    }).write(output), false)],
  ])('finds the end of %s, whole or resumed at every byte', (_name, build) => {
    const bytes = build();
    expect(scanAll(bytes)).toBe(bytes.length);
    // With the next message already behind it, it stops at its own end.
    expect(scanAll(Buffer.concat([bytes, bytes]))).toBe(bytes.length);
    const byteByByte = new MessageScanner(MiB);
    for (let end = 0; end < bytes.length; end += 1) expect(byteByByte.scan(bytes, 0, end)).toBeUndefined();
    expect(byteByByte.scan(bytes, 0, bytes.length)).toBe(bytes.length);
    for (let split = 1; split < bytes.length; split += 1) {
      const scanner = new MessageScanner(MiB);
      expect(scanner.scan(bytes, 0, split)).toBeUndefined();
      expect(scanner.scan(bytes, 0, bytes.length)).toBe(bytes.length);
    }
  });

  it('scans a message that starts further into the buffer, and again after reset()', () => {
    const bytes = submitJob();
    const scanner = new MessageScanner(MiB);
    const twice = Buffer.concat([bytes, bytes]);
    expect(scanner.scan(twice, 0, twice.length)).toBe(bytes.length);
    scanner.reset();
    expect(scanner.scan(twice, bytes.length, twice.length)).toBe(bytes.length);
  });

  it('walks a long list of numbers in bulk, split anywhere', () => {
    const bytes = message((output) => {
      output.writeStructBegin('args');
      output.writeFieldBegin('ids', Type.LIST, 1);
      output.writeListBegin(Type.I64, 1000);
      for (let i = 0; i < 1000; i += 1) output.writeI64(i);
      output.writeListEnd(); output.writeFieldEnd(); output.writeFieldStop(); output.writeStructEnd();
    });
    for (const split of [1, 30, 31, 33, 4000, bytes.length - 1]) {
      const scanner = new MessageScanner(MiB);
      expect(scanner.scan(bytes, 0, split)).toBeUndefined();
      expect(scanner.scan(bytes, 0, bytes.length)).toBe(bytes.length);
    }
  });

  const header = (): Buffer => {
    const head = Buffer.alloc(4 + 4 + 4);
    head.writeInt32BE(0x80010001 | 0, 0); // version 1, CALL
    head.writeInt32BE(0, 4); // empty name
    head.writeInt32BE(1, 8); // seqid
    return head;
  };
  const withBody = (...body: number[][]): Buffer => Buffer.concat([header(), ...body.map((part) => Buffer.from(part))]);
  const i32 = (value: number): number[] => { const b = Buffer.alloc(4); b.writeInt32BE(value); return [...b]; };

  it.each([
    ['a bad version', Buffer.from([0x80, 0x02, 0x00, 0x01]), /bad protocol version/],
    ['an unknown field type', withBody([1, 0, 1]), /unknown field type 1/],
    ['a negative string length', withBody([Type.STRING, 0, 1, ...i32(-5)]), /negative string length/],
    ['a negative list size', withBody([Type.LIST, 0, 1, Type.I32, ...i32(-1)]), /negative collection size/],
    ['an unknown list item type', withBody([Type.LIST, 0, 1, 99, ...i32(1)]), /unknown collection item type 99/],
    ['nesting deeper than 64', withBody(...Array.from({ length: 70 }, () => [Type.STRUCT, 0, 1])), /deeper than 64/],
  ])('refuses %s', (_name, bytes, reason) => {
    expect(() => scanAll(bytes)).toThrow(MalformedMessageError);
    expect(() => scanAll(bytes)).toThrow(reason);
  });

  it('refuses a length over the cap as soon as the length has arrived, before its bytes', () => {
    const string = withBody([Type.STRING, 0, 1, ...i32(2000)]);
    expect(() => scanAll(string, 1024)).toThrow(MessageTooLargeError);
    const list = withBody([Type.LIST, 0, 1, Type.I64, ...i32(200)]);
    expect(() => scanAll(list, 1024)).toThrow(MessageTooLargeError);
    expect(scanAll(list, 2048)).toBeUndefined();
    const oldStyleName = Buffer.from(i32(5000));
    expect(() => scanAll(oldStyleName, 1024)).toThrow(MessageTooLargeError);
  });

  it('refuses many small values that together go over the cap', () => {
    const fields = Array.from({ length: 400 }, () => [Type.I32, 0, 1, 0, 0, 0, 0]);
    expect(() => scanAll(withBody(...fields), 1024)).toThrow(MessageTooLargeError);
    expect(scanAll(withBody(...fields), 4096)).toBeUndefined();
  });
});
