// A consumer of the service's job-status events, as Airavata's monitor would be one: a queue of our
// own bound to status_exchange with one gateway's routing keys (`<gateway>.#`), every message
// decoded and acknowledged. Redeliveries (the same message id) are counted but kept once.
import * as amqp from 'amqplib';
import { decodeJobStatusMessage, STATUS_EXCHANGE } from '../../../src/events/jobStatusMessage';
import { maskUrl } from '../../../src/log';
import { base } from '../../../src/rpc/wire';

export interface StatusEvents {
  /** Distinct events by job id, states in arrival order. */
  byJob: Map<string, string[]>;
  received: number;
  repeats: number;
  /** Messages that would not decode, or arrived on another key. */
  problems: string[];
  /** Deletes the queue and closes the connection. */
  close(): Promise<void>;
}

export async function consumeStatusEvents(url: string, queue: string, bindingKey: string): Promise<StatusEvents> {
  const connection = await amqp.connect(url).catch((error: unknown) => {
    throw new Error(`RabbitMQ is not reachable at ${maskUrl(url)} (${(error as Error).message}): `
      + 'start it (rabbitmq-server -detached) or point TEST_AMQP_URL at one');
  });
  const problems: string[] = [];
  // Without listeners a broker-side close would be an uncaught 'error' event in the test process.
  connection.on('error', (error: Error) => problems.push(`connection error: ${error.message}`));
  const channel = await connection.createChannel();
  channel.on('error', (error: Error) => problems.push(`channel error: ${error.message}`));
  await channel.assertExchange(STATUS_EXCHANGE, 'topic', { durable: true });
  // Not exclusive: the queue must outlive a dropped connection of ours so no event is lost meanwhile;
  // close() deletes it.
  await channel.assertQueue(queue, { durable: false, autoDelete: false });
  await channel.bindQueue(queue, STATUS_EXCHANGE, bindingKey);
  const seenIds = new Set<string>();
  const events: StatusEvents = {
    byJob: new Map(), received: 0, repeats: 0, problems,
    async close() {
      try {
        await channel.deleteQueue(queue);
      } finally {
        await connection.close();
      }
    },
  };
  const prefix = bindingKey.replace(/#$/, '');
  await channel.consume(queue, (delivery) => {
    if (!delivery) return;
    events.received += 1;
    try {
      const id = String(delivery.properties.messageId ?? '');
      if (!delivery.fields.routingKey.startsWith(prefix)) events.problems.push(`key ${delivery.fields.routingKey} is not under ${bindingKey}`);
      if (id && seenIds.has(id)) {
        events.repeats += 1;
      } else {
        if (id) seenIds.add(id);
        const { event } = decodeJobStatusMessage(delivery.content);
        const jobId = event.jobIdentity.jobId;
        const states = events.byJob.get(jobId) ?? [];
        states.push(base.JobState[event.state]);
        events.byJob.set(jobId, states);
      }
    } catch (error) {
      events.problems.push(`undecodable message: ${(error as Error).message}`);
    }
    channel.ack(delivery);
  });
  return events;
}

/** Distinct events so far. */
export function distinctEvents(events: StatusEvents): number {
  let n = 0;
  for (const states of events.byJob.values()) n += states.length;
  return n;
}
