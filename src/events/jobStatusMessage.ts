// The wire forms of a job-status event toward Airavata (docs/airavata-mapping.md, "How Airavata learns a
// job's state"): the Thrift-binary Message on RabbitMQ's status_exchange, and the JSON record of
// Airavata's real-time monitor. Pure functions; the publisher and the tests share them.
import * as thrift from 'thrift';
import type { JobState } from '../domain/types';
import { base } from '../rpc/wire';
import type { OutboxEvent } from './outboxStore';
import { jobRoutingKey } from './routingKey';

/** What an event needs to be put on the wire (an outbox row without its bookkeeping). */
export type JobEvent = Omit<OutboxEvent, 'attempts'>;

export const STATUS_EXCHANGE = 'status_exchange';

/**
 * `gatewayId.experimentId.processId.taskId.jobId`, the key Airavata publishes job status with, each
 * id shortened to fit AMQP's 255 bytes when it is too long (the rule is in routingKey.ts). Dots in
 * ids become underscores in the key only; the message body carries the ids exactly as they are.
 */
export function routingKey(event: JobEvent): string {
  return jobRoutingKey(event);
}

/**
 * The message id: stable for one outbox row, so a redelivery (at-least-once: a crash between the
 * broker's confirm and the row's delete) carries the same id and a consumer may drop it.
 */
export function messageId(event: JobEvent): string {
  return `JOB_${event.jobId}_${event.id}`;
}

function serialize(write: (output: thrift.TProtocol) => void): Buffer {
  const chunks: Buffer[] = [];
  // TBufferedTransport hands its whole buffer to the flush callback, synchronously.
  const transport = new thrift.TBufferedTransport(undefined, (bytes) => {
    if (bytes) chunks.push(bytes);
  });
  write(new thrift.TBinaryProtocol(transport));
  transport.flush();
  return Buffer.concat(chunks);
}

function deserialize<T>(bytes: Buffer, read: (input: thrift.TProtocol) => T): T {
  let result: { value: T } | undefined;
  // receiver() copies the bytes into a reading transport and calls back at once.
  thrift.TBufferedTransport.receiver((transport) => {
    result = { value: read(new thrift.TBinaryProtocol(transport)) };
  }, 0)(bytes);
  if (!result) throw new Error('thrift receiver did not call back');
  return result.value;
}

export function jobStatusChangeEvent(event: JobEvent): base.JobStatusChangeEvent {
  // Read from the database, so not checked by the compiler: a state Airavata has no number for
  // (a row written by another version) can never be encoded.
  const state = base.JobState[event.state];
  if (typeof state !== 'number') throw new Error(`job state ${JSON.stringify(event.state)} has no Airavata JobState`);
  return new base.JobStatusChangeEvent({
    state,
    jobIdentity: new base.JobIdentifier({
      jobId: event.jobId,
      taskId: event.taskId ?? base.DEFAULT_ID,
      processId: event.processId ?? base.DEFAULT_ID,
      experimentId: event.experimentId ?? base.DEFAULT_ID,
      gatewayId: event.gatewayId,
    }),
  });
}

/** Message{event: binary JobStatusChangeEvent, JOB, INFO}, Thrift binary, as Airavata's consumers read it. */
export function encodeJobStatusMessage(event: JobEvent): Buffer {
  const inner = serialize((output) => jobStatusChangeEvent(event).write(output));
  const message = new base.Message({
    event: inner,
    messageId: messageId(event),
    messageType: base.MessageType.JOB,
    updatedTime: event.time,
    messageLevel: base.MessageLevel.INFO,
  });
  return serialize((output) => message.write(output));
}

export function decodeMessage(bytes: Buffer): base.Message {
  return deserialize(bytes, (input) => base.Message.read(input));
}

export function decodeJobStatusChangeEvent(bytes: Buffer): base.JobStatusChangeEvent {
  return deserialize(bytes, (input) => base.JobStatusChangeEvent.read(input));
}

/** Both layers at once: the envelope and the event inside it. */
export function decodeJobStatusMessage(bytes: Buffer): { message: base.Message; event: base.JobStatusChangeEvent } {
  const message = decodeMessage(bytes);
  return { message, event: decodeJobStatusChangeEvent(message.event) };
}

/**
 * Our JobState -> the status words of Airavata's real-time monitor (its RealtimeJobStatusParser
 * accepts exactly these and drops any other word):
 *
 *   SUBMITTED -> SUBMITTED      CANCELED  -> CANCELED
 *   QUEUED    -> QUEUED         FAILED    -> FAILED
 *   ACTIVE    -> RUNNING        SUSPENDED -> SUSPENDED
 *   COMPLETE  -> COMPLETED      UNKNOWN   -> UNKNOWN
 *   NON_CRITICAL_FAIL -> NON_CRITICAL_FAIL
 */
export const KAFKA_STATUS: Readonly<Record<JobState, string>> = {
  SUBMITTED: 'SUBMITTED',
  QUEUED: 'QUEUED',
  ACTIVE: 'RUNNING',
  COMPLETE: 'COMPLETED',
  CANCELED: 'CANCELED',
  FAILED: 'FAILED',
  SUSPENDED: 'SUSPENDED',
  UNKNOWN: 'UNKNOWN',
  NON_CRITICAL_FAIL: 'NON_CRITICAL_FAIL',
};

export interface KafkaJobRecord {
  jobName: string;
  status: string;
  task: string;
}

/**
 * The real-time monitor's JSON record, or undefined for a job without an Airavata task id: the
 * monitor finds the job by (task, jobName), and a record without a task is dropped by it after
 * blocking its consumer on retries, so such events are not sent to Kafka at all.
 */
export function kafkaRecord(event: JobEvent): KafkaJobRecord | undefined {
  if (event.taskId === undefined) return undefined;
  return { jobName: event.jobName, status: KAFKA_STATUS[event.state], task: event.taskId };
}
