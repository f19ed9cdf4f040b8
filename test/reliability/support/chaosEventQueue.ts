// The crash-chaos suite's own view of what reached Airavata: a queue of its own bound to RabbitMQ's
// status_exchange with one gateway's routing key (`<gatewayId>.#`), every delivery decoded the way
// Airavata's consumers decode it (Thrift-binary Message around a JobStatusChangeEvent) and kept in
// arrival order, repeats included: judging them is the suite's business. The queue is deleted at
// the end, whatever happened.
import { randomBytes } from 'node:crypto';
import * as amqp from 'amqplib';
import { decodeJobStatusMessage, STATUS_EXCHANGE } from '../../../src/events/jobStatusMessage';
import { maskUrl } from '../../../src/log';
import { base } from '../../../src/rpc/wire';

export interface ReceivedEvent {
  jobId: string;
  gatewayId: string;
  /** base.JobState's name of the state: SUBMITTED, QUEUED, ... */
  state: string;
  messageId: string;
  routingKey: string;
  /** The broker's redelivered flag (it delivered this to us before, unacknowledged). */
  redelivered: boolean;
}

export interface StatusEventQueue {
  readonly queue: string;
  /** Everything received so far, in arrival order. */
  readonly received: readonly ReceivedEvent[];
  /** Deliveries that did not decode, with why. */
  readonly undecodable: readonly string[];
  /** Per job id, its events in arrival order. */
  byJob(): Map<string, ReceivedEvent[]>;
  /** Stops consuming and deletes the queue. */
  close(): Promise<void>;
}

/** Fails with what is missing (and how to start it), rather than with a bare connection error. */
async function connectBroker(url: string): Promise<amqp.ChannelModel> {
  return amqp.connect(url).catch((error: unknown) => {
    throw new Error(`RabbitMQ is not reachable at ${maskUrl(url)} (${(error as Error).message}): `
      + 'start it (rabbitmq-server -detached) or point TEST_AMQP_URL at one');
  });
}

export async function consumeStatusEvents(url: string, gatewayId: string): Promise<StatusEventQueue> {
  const connection = await connectBroker(url);
  const received: ReceivedEvent[] = [];
  const undecodable: string[] = [];
  const queue = `ms-chaos-${randomBytes(4).toString('hex')}`;
  let closed = false;
  try {
    const channel = await connection.createChannel();
    // The service declares it too (topic, durable); both must agree or one of them fails loudly.
    await channel.assertExchange(STATUS_EXCHANGE, 'topic', { durable: true });
    await channel.assertQueue(queue, { durable: false, autoDelete: false });
    await channel.bindQueue(queue, STATUS_EXCHANGE, `${gatewayId}.#`);
    await channel.consume(queue, (delivery) => {
      if (!delivery) return;
      try {
        const { message, event } = decodeJobStatusMessage(delivery.content);
        received.push({
          jobId: event.jobIdentity.jobId,
          gatewayId: event.jobIdentity.gatewayId,
          state: base.JobState[event.state] ?? `#${event.state}`,
          messageId: message.messageId,
          routingKey: delivery.fields.routingKey,
          redelivered: delivery.fields.redelivered,
        });
      } catch (error) {
        undecodable.push(`${delivery.fields.routingKey}: ${(error as Error).message}`);
      }
      channel.ack(delivery);
    });
  } catch (error) {
    await connection.close().catch(() => undefined);
    throw error;
  }
  return {
    queue,
    received,
    undecodable,
    byJob() {
      const jobs = new Map<string, ReceivedEvent[]>();
      for (const event of received) {
        const list = jobs.get(event.jobId) ?? [];
        list.push(event);
        jobs.set(event.jobId, list);
      }
      return jobs;
    },
    async close() {
      if (closed) return;
      closed = true;
      try {
        // A channel of its own: the consuming one may have been closed by the broker.
        const cleanup = await connection.createChannel();
        await cleanup.deleteQueue(queue);
      } finally {
        await connection.close().catch(() => undefined);
      }
    },
  };
}
