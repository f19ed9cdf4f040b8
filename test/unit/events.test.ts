// The wire forms of job-status events: routing key, AMQP message, Thrift round trip, Kafka records.
import {
  decodeJobStatusMessage, encodeJobStatusMessage, KAFKA_STATUS, kafkaRecord, messageId, routingKey, type JobEvent,
} from '../../src/events/jobStatusMessage';
import { scrubSecrets } from '../../src/events/sink';
import { amqpMessage } from '../../src/events/amqpMessage';
import { JOB_STATES } from '../../src/domain/types';
import { base } from '../../src/rpc/wire';

const event = (overrides: Partial<JobEvent> = {}): JobEvent => ({
  id: 42, jobId: 'job-1', gatewayId: 'gw', experimentId: 'exp', processId: 'proc', taskId: 'task',
  jobName: 'echo', state: 'ACTIVE', time: 1_700_000_000_123, ...overrides,
});

describe('routingKey', () => {
  it('is gatewayId.experimentId.processId.taskId.jobId', () => {
    expect(routingKey(event())).toBe('gw.exp.proc.task.job-1');
  });

  it('names missing ids with Airavata\'s not-set sentinel', () => {
    const key = routingKey(event({ experimentId: undefined, processId: undefined, taskId: undefined }));
    expect(key).toBe(`gw.${base.DEFAULT_ID}.${base.DEFAULT_ID}.${base.DEFAULT_ID}.job-1`);
  });

  it('keeps five segments when ids hold dots', () => {
    const key = routingKey(event({ gatewayId: 'seagrid.org', processId: 'p.1.2', jobId: 'a.b' }));
    expect(key).toBe('seagrid_org.exp.p_1_2.task.a_b');
    expect(key.split('.')).toHaveLength(5);
  });

  it('fits AMQP\'s 255 bytes for ids within our limits and any gateway id', () => {
    const long = 'é'.repeat(128);
    const key = routingKey(event({ gatewayId: 'g'.repeat(1000), experimentId: long, processId: long, taskId: long }));
    expect(Buffer.byteLength(key)).toBeLessThanOrEqual(255);
    expect(key.split('.')).toHaveLength(5);
    expect(key.endsWith('.job-1')).toBe(true);
  });
});

describe('amqpMessage', () => {
  it('carries the routing key, the encoded body and the message id', () => {
    const sent = event();
    const message = amqpMessage(sent);
    expect(message.routingKey).toBe('gw.exp.proc.task.job-1');
    expect(decodeJobStatusMessage(message.body).event.jobIdentity.jobId).toBe('job-1');
    expect(message.options).toMatchObject({ persistent: true, messageId: messageId(sent), type: 'JOB' });
  });

  it('builds a publishable message from ids at our limits and a 1000-character gateway id', () => {
    const long = '中'.repeat(128);
    const message = amqpMessage(event({ gatewayId: 'g'.repeat(1000), experimentId: long, processId: long, taskId: long }));
    expect(Buffer.byteLength(message.routingKey)).toBeLessThanOrEqual(255);
    // The body keeps the ids whole: only the key is shortened.
    expect(decodeJobStatusMessage(message.body).event.jobIdentity.experimentId).toBe(long);
  });

  it('names why an event can never be published', () => {
    // A message id is an AMQP short string too.
    expect(() => amqpMessage(event({ jobId: 'j'.repeat(300) }))).toThrow(/message id is \d+ bytes; AMQP allows 255/);
    // A state read from the database that Airavata has no number for (e.g. written by another version).
    expect(() => amqpMessage(event({ state: 'NOT_A_STATE' as JobEvent['state'] }))).toThrow(/"NOT_A_STATE" has no Airavata JobState/);
    expect(() => amqpMessage(event({ state: '0' as JobEvent['state'] }))).toThrow(/has no Airavata JobState/);
  });
});

describe('encodeJobStatusMessage', () => {
  it('round-trips through the generated classes', () => {
    const sent = event({ gatewayId: 'dotted.gw', experimentId: undefined });
    const { message, event: inner } = decodeJobStatusMessage(encodeJobStatusMessage(sent));
    expect(message.messageType).toBe(base.MessageType.JOB);
    expect(message.messageType).toBe(4);
    expect(message.messageLevel).toBe(base.MessageLevel.INFO);
    expect(message.messageId).toBe(messageId(sent));
    expect(message.updatedTime?.toNumber()).toBe(sent.time);
    expect(inner.state).toBe(base.JobState.ACTIVE);
    // The body keeps the ids as they are; only the routing key replaces dots.
    expect(inner.jobIdentity).toEqual(new base.JobIdentifier({
      jobId: 'job-1', taskId: 'task', processId: 'proc', experimentId: base.DEFAULT_ID, gatewayId: 'dotted.gw',
    }));
  });

  it('writes Thrift binary field headers Airavata\'s Java reader expects', () => {
    const bytes = encodeJobStatusMessage(event({ state: 'ACTIVE' }));
    // field 1 (event): type STRING 0x0b, id 1, then an i32 length
    expect([...bytes.subarray(0, 3)]).toEqual([0x0b, 0x00, 0x01]);
    const inner = decodeJobStatusMessage(bytes).message.event;
    // field 1 (state): type I32 0x08, id 1, value 2 (ACTIVE)
    expect([...inner.subarray(0, 7)]).toEqual([0x08, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02]);
    // the struct ends with a STOP byte
    expect(bytes[bytes.length - 1]).toBe(0x00);
  });

  it('encodes every state with its Airavata number', () => {
    for (const state of JOB_STATES) {
      expect(decodeJobStatusMessage(encodeJobStatusMessage(event({ state }))).event.state).toBe(base.JobState[state]);
    }
  });

  it('gives each outbox row its own stable message id', () => {
    expect(messageId(event({ id: 1 }))).not.toBe(messageId(event({ id: 2 })));
    expect(messageId(event({ id: 1 }))).toBe(messageId(event({ id: 1 })));
  });
});

describe('kafkaRecord', () => {
  it('uses the real-time monitor\'s words', () => {
    expect(kafkaRecord(event({ state: 'ACTIVE' }))).toEqual({ jobName: 'echo', status: 'RUNNING', task: 'task' });
    expect(kafkaRecord(event({ state: 'COMPLETE' }))?.status).toBe('COMPLETED');
    expect(KAFKA_STATUS).toEqual({
      SUBMITTED: 'SUBMITTED', QUEUED: 'QUEUED', ACTIVE: 'RUNNING', COMPLETE: 'COMPLETED', CANCELED: 'CANCELED',
      FAILED: 'FAILED', SUSPENDED: 'SUSPENDED', UNKNOWN: 'UNKNOWN', NON_CRITICAL_FAIL: 'NON_CRITICAL_FAIL',
    });
  });

  it('has no record for a job without an Airavata task', () => {
    expect(kafkaRecord(event({ taskId: undefined }))).toBeUndefined();
  });
});

describe('scrubSecrets', () => {
  it('removes a URL password, raw and decoded', () => {
    const url = 'amqp://user:p%40ss@broker:5672';
    expect(scrubSecrets('refused p%40ss and p@ss', url)).toBe('refused *** and ***');
    expect(scrubSecrets('nothing here', 'amqp://broker')).toBe('nothing here');
  });
});
