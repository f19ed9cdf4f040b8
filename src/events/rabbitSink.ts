// Job-status events to RabbitMQ's status_exchange, the way Airavata's own job monitor publishes
// them, on a confirm channel: an event counts as delivered only once the broker confirmed it.
import * as amqp from 'amqplib';
import type { Logger } from '../log';
import { maskUrl } from '../log';
import { amqpMessage, type AmqpMessage } from './amqpMessage';
import { STATUS_EXCHANGE, type JobEvent } from './jobStatusMessage';
import { asError, scrubSecrets, type Delivery, type EventSink } from './sink';

export interface RabbitSinkOptions {
  url: string;
  log: Logger;
  /** Longest wait for the broker's confirms of one batch before the connection is dropped. */
  confirmTimeoutMs?: number;
  /** Longest wait for the TCP connection. */
  connectTimeoutMs?: number;
}

export class RabbitSink implements EventSink {
  readonly name = 'rabbitmq';
  private connection: amqp.ChannelModel | undefined;
  private channel: amqp.ConfirmChannel | undefined;
  private readonly confirmTimeoutMs: number;
  private readonly connectTimeoutMs: number;

  constructor(private readonly options: RabbitSinkOptions) {
    this.confirmTimeoutMs = options.confirmTimeoutMs ?? 15_000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
  }

  /** The broker's address for logs, password masked. */
  get where(): string {
    return maskUrl(this.options.url);
  }

  async prepare(): Promise<void> {
    if (this.channel) return;
    const connection = await amqp.connect(this.options.url, {
      timeout: this.connectTimeoutMs,
      clientProperties: { connection_name: 'airavata-metascheduler job events' },
    }).catch((error: unknown) => {
      throw this.scrubbed(error);
    });
    // Without an 'error' listener a broker-side close (320 CONNECTION_FORCED on shutdown) would
    // be an uncaught exception. The 'close' that follows forgets the connection; the next
    // prepare() connects again.
    connection.on('error', (error: unknown) => {
      this.options.log.warn({ broker: this.where, err: this.scrubbed(error).message }, 'event broker connection error');
    });
    connection.on('close', () => {
      if (this.connection === connection) {
        // Not closed by us: the broker went away. The events wait in the outbox meanwhile.
        this.options.log.warn({ broker: this.where }, 'event broker connection lost');
        this.connection = undefined;
        this.channel = undefined;
      }
    });
    try {
      const channel = await connection.createConfirmChannel();
      channel.on('error', (error: unknown) => {
        this.options.log.warn({ broker: this.where, err: this.scrubbed(error).message }, 'event channel error');
      });
      channel.on('close', () => {
        if (this.channel === channel) {
          this.channel = undefined;
          // A channel closed by the broker (e.g. 406 on the exchange) leaves the connection open:
          // drop it too, so the next round starts clean.
          void this.close();
        }
      });
      // Same declaration as Airavata's publishers (topic, durable): asserting an existing
      // exchange with other properties would fail loudly here rather than lose messages.
      await channel.assertExchange(STATUS_EXCHANGE, 'topic', { durable: true });
      this.connection = connection;
      this.channel = channel;
    } catch (error) {
      await connection.close().catch(() => undefined);
      throw this.scrubbed(error);
    }
  }

  async deliver(events: readonly JobEvent[]): Promise<Delivery> {
    try {
      await this.prepare();
    } catch (error) {
      return { delivered: 0, error: asError(error) };
    }
    const channel = this.channel;
    if (!channel) return { delivered: 0, error: new Error('event channel closed') };
    // Events that cannot be put into an AMQP message are never sent: they are rejected, and the
    // rest of the batch goes out without them.
    const rejected = new Map<number, Error>();
    const messages = events.map((event): AmqpMessage | undefined => {
      try {
        return amqpMessage(event);
      } catch (error) {
        rejected.set(event.id, this.scrubbed(error));
        return undefined;
      }
    });
    // null: confirmed; an Error: nacked or lost with the channel; undefined: no answer yet. A
    // publish that throws is a passing failure (the channel closed under it): retried, not rejected.
    const outcomes: (Error | null | undefined)[] = events.map(() => undefined);
    const confirms = messages.map((message, index) => new Promise<void>((resolve) => {
      if (message === undefined) {
        resolve();
        return;
      }
      const settle = (error: unknown): void => {
        outcomes[index] = error ? this.scrubbed(error) : null;
        resolve();
      };
      try {
        // One channel, in id order: RabbitMQ keeps publish order per channel into each queue.
        // The publish buffer is not awaited: a batch is small and bounded by batchSize.
        channel.publish(STATUS_EXCHANGE, message.routingKey, message.body, message.options, settle);
      } catch (error) {
        settle(error ?? new Error('publish failed'));
      }
    }));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      Promise.all(confirms).then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), this.confirmTimeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      // Late confirms must not count for a later batch: start over on a new connection.
      await this.close();
    }
    // A rejected event has no message, and does not hold up the prefix.
    const done = (index: number): boolean => outcomes[index] === null || messages[index] === undefined;
    let delivered = 0;
    while (delivered < events.length && done(delivered)) delivered += 1;
    const found = rejected.size > 0 ? { rejected } : {};
    if (delivered === events.length) return { delivered, ...found };
    const stoppedBy = outcomes[delivered];
    return {
      delivered,
      error: stoppedBy ?? new Error(`no confirm from the broker within ${this.confirmTimeoutMs} ms`),
      ...found,
    };
  }

  async close(): Promise<void> {
    const connection = this.connection;
    this.connection = undefined;
    this.channel = undefined;
    if (connection) await connection.close().catch(() => undefined);
  }

  private scrubbed(error: unknown): Error {
    const original = asError(error);
    const message = scrubSecrets(original.message, this.options.url);
    return message === original.message ? original : new Error(message);
  }
}
