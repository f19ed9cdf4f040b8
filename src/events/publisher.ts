// Drains job_event_outbox to Airavata: RabbitMQ's status_exchange always, a Kafka REST proxy when
// configured. Delivery is at least once and in order per job: a batch, the oldest waiting event of
// each job (never two of one job, so a batch sent again after a crash repeats a job's state rather
// than undoing a later one), goes out in id order on one channel, and only the prefix every sink
// took is deleted, so a failure mid-batch leaves the rest (and every later event) waiting. The loop never throws: while a sink is down it logs, keeps the
// rows and retries with backoff; the service keeps serving meanwhile.
//
// An event a sink can never take (its own content is at fault: it cannot be encoded, or the sink
// refuses that record for good) is parked instead: marked with its reason and time, logged once,
// and skipped from then on, so one bad event cannot hold up every gateway's events behind it. Only
// a sink's per-event verdict parks; an unreachable broker or proxy never does. Later events of the
// same job are not held back either: each goes out if it can (one that cannot is parked too), so
// Airavata may miss the parked state of that job but never sees its states out of order, because
// a parked event is never sent afterwards.
//
// Replicas take turns through a drain lease (DrainLease), and nothing is held in Postgres while the
// sinks work: a round claims or renews the lease in one statement, reads its batch, delivers it,
// and records the outcome in one short transaction that first checks the lease is still ours. A
// replica that dies stops renewing, and another takes over once its lease lapses.
import type { Logger } from '../log';
import type { Db } from '../store/db';
import { DRAIN_LEASE_MS, DrainLease } from './drainLease';
import type { JobEvent } from './jobStatusMessage';
import { KafkaRestSink } from './kafkaRestSink';
import { OutboxStore } from './outboxStore';
import { RabbitSink } from './rabbitSink';
import { asError, scrubSecrets, type Delivery, type EventSink } from './sink';

export interface JobEventPublisherOptions {
  db: Db;
  /** amqp:// or amqps:// URL of the broker Airavata listens on. */
  amqpUrl: string;
  log: Logger;
  /** Base URL of a Confluent REST proxy; unset: no Kafka sink. */
  kafkaRestUrl?: string;
  /** Topic of Airavata's real-time monitor (its realtime.monitor.broker.topic); required with kafkaRestUrl. */
  kafkaTopic?: string;
  /** Events taken per round. Default 100. */
  batchSize?: number;
  /** Pause when the outbox is empty. Default 200 ms. */
  pollIntervalMs?: number;
  /** First retry delay after a failed round, doubled per failure up to reconnectMaxMs. Default 500 ms. */
  reconnectMinMs?: number;
  /** Default 30 s. */
  reconnectMaxMs?: number;
  /** Longest wait for the broker's confirms of a batch. Default 15 s. */
  confirmTimeoutMs?: number;
  /** How long the drain lease lasts unless renewed: how soon a dead replica is taken over. Default 10 s. */
  drainLeaseMs?: number;
  outbox?: OutboxStore;
  /** Delivers through these instead of the sinks amqpUrl and kafkaRestUrl name (tests). */
  sinks?: readonly EventSink[];
}

type Round =
  | { kind: 'idle' }
  | { kind: 'progress' }
  | { kind: 'failed'; failures: { sink: string; error: Error }[]; waitingInBatch: number };

/** What the sinks made of one batch, to be recorded once the lease is confirmed ours. */
interface BatchOutcome {
  batch: JobEvent[];
  /** Taken by every sink: deleted. */
  done: JobEvent[];
  /** Outbox id -> why a sink can never take that event: parked. */
  parked: Map<number, string>;
  /** Still waiting for a sink that failed: counted as a failed attempt. */
  left: JobEvent[];
  failures: { sink: string; error: Error }[];
}

export class JobEventPublisher {
  private readonly db: Db;
  private readonly log: Logger;
  private readonly outbox: OutboxStore;
  private readonly lease: DrainLease;
  private readonly sinks: EventSink[];
  /**
   * Per sink, ids of outbox events it already took that are still in the outbox (another sink
   * failed them): a retry resends them only where they are missing. In memory only; a restart
   * resends them (at least once).
   */
  private readonly taken = new Map<EventSink, Set<number>>();
  private readonly batchSize: number;
  private readonly pollIntervalMs: number;
  private readonly reconnectMinMs: number;
  private readonly reconnectMaxMs: number;
  private readonly secretUrls: string[];
  private running: Promise<void> | undefined;
  private stopping = false;
  private wake: (() => void) | undefined;

  constructor(options: JobEventPublisherOptions) {
    if (options.kafkaRestUrl !== undefined && !options.kafkaTopic) {
      throw new Error('JobEventPublisher: kafkaTopic is required with kafkaRestUrl');
    }
    this.db = options.db;
    this.log = options.log.child({ component: 'job-events' });
    this.outbox = options.outbox ?? new OutboxStore();
    this.batchSize = options.batchSize ?? 100;
    this.pollIntervalMs = options.pollIntervalMs ?? 200;
    this.reconnectMinMs = options.reconnectMinMs ?? 500;
    this.reconnectMaxMs = Math.max(options.reconnectMaxMs ?? 30_000, this.reconnectMinMs);
    this.lease = new DrainLease(this.db, this.outbox, options.drainLeaseMs ?? DRAIN_LEASE_MS);
    this.sinks = options.sinks
      ? [...options.sinks]
      : [new RabbitSink({ url: options.amqpUrl, log: this.log, confirmTimeoutMs: options.confirmTimeoutMs })];
    this.secretUrls = [options.amqpUrl];
    if (options.kafkaRestUrl !== undefined && options.kafkaTopic) {
      if (!options.sinks) this.sinks.push(new KafkaRestSink({ url: options.kafkaRestUrl, topic: options.kafkaTopic }));
      this.secretUrls.push(options.kafkaRestUrl);
    }
    for (const sink of this.sinks) this.taken.set(sink, new Set());
  }

  /** Starts draining in the background; a second call while running does nothing. */
  start(): void {
    if (this.running) return;
    this.stopping = false;
    this.log.info({ sinks: this.sinks.map((sink) => sink.name) }, 'publishing job events');
    this.running = this.loop();
  }

  /**
   * Finishes the round in flight (bounded by the sinks' timeouts), releases the drain lease so
   * another replica takes over at once rather than when it lapses, then closes connections.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    const wasRunning = this.running !== undefined;
    await this.running;
    this.running = undefined;
    if (wasRunning) {
      await this.lease.release().catch((error: unknown) => {
        this.log.warn({ err: this.scrub(asError(error).message) }, 'job-event drain lease not released: it lapses on its own');
      });
    }
    await Promise.all(this.sinks.map((sink) => sink.close()));
  }

  private async loop(): Promise<void> {
    let failedRounds = 0;
    while (!this.stopping) {
      let round: Round;
      try {
        round = await this.round();
      } catch (error) {
        round = { kind: 'failed', failures: [{ sink: 'outbox', error: asError(error) }], waitingInBatch: -1 };
      }
      if (round.kind === 'failed') {
        failedRounds += 1;
        const delay = this.backoff(failedRounds);
        this.log.warn({
          failures: round.failures.map(({ sink, error }) => ({ sink, error: this.scrub(error.message) })),
          ...(round.waitingInBatch >= 0 ? { waitingInBatch: round.waitingInBatch } : {}),
          attempt: failedRounds,
          retryInMs: delay,
        }, 'job events not delivered: kept in the outbox, retrying');
        await this.sleep(delay);
        continue;
      }
      if (failedRounds > 0) this.log.info({ afterAttempts: failedRounds }, 'job events delivered again');
      failedRounds = 0;
      // After progress, look again at once: more may wait behind a full batch.
      if (round.kind === 'idle') await this.sleep(this.pollIntervalMs);
    }
  }

  /** One batch through every sink, with nothing held in Postgres while the sinks work. */
  private async round(): Promise<Round> {
    if (!(await this.outbox.any(this.db))) return { kind: 'idle' };
    // Another replica is draining; should it have died, its lease lapses within drainLeaseMs.
    if (!(await this.lease.claim())) return { kind: 'idle' };
    const outcome = await this.lease.renewedDuring(() => this.deliverBatch());
    if (outcome === undefined) return { kind: 'idle' };
    const { batch, done, parked, left, failures } = outcome;
    const recorded = await this.db.transaction(async (tx): Promise<boolean> => {
      // Taken over while the sinks worked (this process stalled, or its renewals did not reach
      // Postgres, for longer than the lease): the new holder reads these rows again and delivers
      // them again, so record nothing. That is at-least-once delivery, as after a crash mid-batch:
      // a resend carries the same AMQP message id, JOB_<jobId>_<outbox id> (messageId()), by
      // which Airavata's consumers drop a repeat.
      if (!(await this.lease.stillOurs(tx))) return false;
      await this.outbox.delete(tx, done.map((event) => event.id));
      await this.outbox.park(tx, parked, Date.now());
      if (failures.length > 0) {
        const text = failures.map(({ sink, error }) => `${sink}: ${this.scrub(error.message)}`).join('; ');
        await this.outbox.recordFailure(tx, left.map((event) => event.id), text);
      }
      return true;
    });
    if (!recorded) {
      this.log.warn({ events: batch.length },
        'job-event drain lease lost during delivery: nothing recorded, the new holder sends these events again');
      return { kind: 'idle' };
    }
    for (const set of this.taken.values()) {
      for (const event of done) set.delete(event.id);
      for (const id of parked.keys()) set.delete(id);
    }
    // Once, after the commit: a parked row is never taken again.
    for (const event of batch) {
      const reason = parked.get(event.id);
      if (reason === undefined) continue;
      this.log.error({
        outboxId: event.id, jobId: event.jobId, gatewayId: event.gatewayId, state: event.state, reason,
      }, 'job event parked: it can never be delivered; later events go on without it');
    }
    if (failures.length === 0) return { kind: 'progress' };
    return { kind: 'failed', failures, waitingInBatch: left.length };
  }

  /** Reads the oldest waiting events and offers them to every sink; undefined when none wait. */
  private async deliverBatch(): Promise<BatchOutcome | undefined> {
    const unprepared = new Map<EventSink, Error>();
    for (const sink of this.sinks) {
      await sink.prepare().catch((error: unknown) => unprepared.set(sink, asError(error)));
    }
    const batch = await this.outbox.takeBatch(this.db, this.batchSize);
    if (batch.length === 0) return undefined;
    this.forgetGone(batch);
    const failures: { sink: string; error: Error }[] = [];
    const parked = new Map<number, string>();
    for (const sink of this.sinks) {
      const taken = this.taken.get(sink) ?? new Set<number>();
      // An event another sink refused for good is parked anyway: not worth sending here.
      const pending = batch.filter((event) => !taken.has(event.id) && !parked.has(event.id));
      if (pending.length === 0) continue;
      const notReady = unprepared.get(sink);
      if (notReady) {
        failures.push({ sink: sink.name, error: notReady });
        continue;
      }
      const result: Delivery = await sink.deliver(pending)
        .catch((error: unknown) => ({ delivered: 0, error: asError(error) }));
      for (const [id, error] of result.rejected ?? []) parked.set(id, `${sink.name}: ${this.scrub(error.message)}`);
      // What a sink took stays true whatever becomes of the lease: it is not sent that sink again.
      for (const event of pending.slice(0, result.delivered)) {
        if (!result.rejected?.has(event.id)) taken.add(event.id);
      }
      if (result.error) failures.push({ sink: sink.name, error: result.error });
    }
    const done = batch.filter((event) => !parked.has(event.id)
      && this.sinks.every((sink) => this.taken.get(sink)?.has(event.id)));
    const left = batch.filter((event) => !done.includes(event) && !parked.has(event.id));
    return { batch, done, parked, left, failures };
  }

  /**
   * Drops remembered ids that left the outbox without us (another replica delivered them): an id
   * below the batch's last that is not in the batch was committed earlier, so it was deleted. (A
   * taken id is its job's oldest waiting event, and a batch holds every job's oldest below its last.)
   */
  private forgetGone(batch: readonly JobEvent[]): void {
    const last = batch[batch.length - 1]?.id ?? 0;
    const present = new Set(batch.map((event) => event.id));
    for (const set of this.taken.values()) {
      for (const id of set) if (id <= last && !present.has(id)) set.delete(id);
    }
  }

  private backoff(failedRounds: number): number {
    const base = Math.min(this.reconnectMaxMs, this.reconnectMinMs * 2 ** Math.min(failedRounds - 1, 30));
    // +-20% jitter, so replicas do not retry in step.
    return Math.round(Math.min(this.reconnectMaxMs, base * (0.8 + Math.random() * 0.4)));
  }

  private scrub(text: string): string {
    return this.secretUrls.reduce((result, url) => scrubSecrets(result, url), text);
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const wake = (): void => done();
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = wake;
    });
  }
}
