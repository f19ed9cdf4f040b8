// A connection's bytes into whole messages, whatever the reads: several messages in one read, one
// message over many, several messages in one frame, and frames refused by their header alone.
import { MalformedMessageError, MessageTooLargeError } from '../../src/rpc/connectionErrors';
import { messageReceiver } from '../../src/rpc/messageReceiver';
import { base, ms } from '../../src/rpc/wire';
import { callMessage } from '../support/rawThrift';

const getJob = (jobId: string): ms.JobService.GetJobArgs => new ms.JobService.GetJobArgs({
  authzToken: new base.AuthzToken({ accessToken: 'token', claimsMap: new Map() }), jobId,
});

function collect(transport: 'buffered' | 'framed', max = 64 * 1024): { receive: (chunk: Buffer) => void; messages: Buffer[] } {
  const messages: Buffer[] = [];
  return { receive: messageReceiver(transport, max, (message) => messages.push(message)), messages };
}

function header(size: number): Buffer {
  const head = Buffer.alloc(4);
  head.writeInt32BE(size);
  return head;
}

describe('messageReceiver', () => {
  it('buffered: hands on each message whole, however the reads cut them', () => {
    const calls = ['a', 'bb', 'ccc'].map((id, i) => callMessage('buffered', 'JobService:getJob', getJob(id), i));
    const stream = Buffer.concat(calls);
    for (const cut of [1, calls[0].length, calls[0].length + 3, stream.length - 1]) {
      const { receive, messages } = collect('buffered');
      receive(stream.subarray(0, cut));
      receive(stream.subarray(cut));
      expect(messages).toEqual(calls);
    }
    const { receive, messages } = collect('buffered');
    for (const byte of stream) receive(Buffer.from([byte]));
    expect(messages).toEqual(calls);
  });

  it('framed: takes the frame off, and splits a frame holding several messages', () => {
    const calls = ['a', 'bb'].map((id, i) => callMessage('buffered', 'JobService:getJob', getJob(id), i));
    const frame = (body: Buffer): Buffer => Buffer.concat([header(body.length), body]);
    const { receive, messages } = collect('framed');
    const stream = Buffer.concat([frame(calls[0]), frame(Buffer.concat(calls))]);
    receive(stream.subarray(0, 2));
    receive(stream.subarray(2, 40));
    receive(stream.subarray(40));
    expect(messages).toEqual([calls[0], ...calls]);
    expect(() => collect('framed').receive(frame(calls[0].subarray(0, 20)))).toThrow(MalformedMessageError);
  });

  it('framed: refuses a frame over the cap, or of negative size, from its header alone', () => {
    expect(() => collect('framed', 1024).receive(header(1025))).toThrow(MessageTooLargeError);
    expect(() => collect('framed', 1024).receive(header(-1))).toThrow(MalformedMessageError);
    expect(() => collect('framed', 1024).receive(header(1024))).not.toThrow();
  });
});
