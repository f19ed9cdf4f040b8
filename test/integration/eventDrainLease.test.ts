// The job-event publisher's drain lease, on a real Postgres with stand-in sinks whose deliveries
// the tests can stall: nothing is held in Postgres while a sink works, one replica delivers at a
// time, a dead replica is taken over once its lease lapses, and a holder that lost its lease
// mid-delivery records nothing.
import { randomBytes } from 'node:crypto';
import knexFactory from 'knex';
import type { JobEvent } from '../../src/events/jobStatusMessage';
import { JobEventPublisher, type JobEventPublisherOptions } from '../../src/events/publisher';
import type { Delivery, EventSink } from '../../src/events/sink';
import { createLogger } from '../../src/log';
import type { Db } from '../../src/store/db';
import { createTestDatabase, type TestDatabase } from '../support/database';

jest.setTimeout(60_000);

const run = randomBytes(4).toString('hex');
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Stalls not yet released: released after each test, so that a failed test leaves no loop stuck. */
const openStalls: Stall[] = [];

/** Holds one delivery until the test releases it, and tells which replica it caught. */
class Stall {
  private open: () => void = () => undefined;
  private enter: (replica: string) => void = () => undefined;
  readonly opened = new Promise<void>((resolve) => { this.open = resolve; });
  readonly entered = new Promise<string>((resolve) => { this.enter = resolve; });

  hold(replica: string): Promise<void> {
    this.enter(replica);
    return this.opened;
  }

  release(): void {
    this.open();
  }
}

interface Received { replica: string; id: number; jobId: string; state: string }

/** A stand-in broker shared by the replicas' sinks: what reached it, and how many delivered at once. */
class Wire {
  readonly received: Received[] = [];
  readonly starts: { replica: string; at: number }[] = [];
  inFlight = 0;
  maxInFlight = 0;
  private stall: Stall | undefined;

  constructor(readonly deliveryMs = 0) {}

  /** The next delivery to start, from whichever replica, waits until released. */
  stallNext(): Stall {
    this.stall = new Stall();
    openStalls.push(this.stall);
    return this.stall;
  }

  takeStall(): Stall | undefined {
    const stall = this.stall;
    this.stall = undefined;
    return stall;
  }

  /** Each job's states in the order they first arrived (a consumer drops repeats by message id). */
  statesOf(jobId: string): string[] {
    const seen = new Set<number>();
    const states: string[] = [];
    for (const item of this.received) {
      if (item.jobId !== jobId || seen.has(item.id)) continue;
      seen.add(item.id);
      states.push(item.state);
    }
    return states;
  }
}

class WireSink implements EventSink {
  readonly name = 'test-wire';

  constructor(
    private readonly wire: Wire,
    private readonly replica: string,
    /** States this sink refuses for good, as a broker refuses a message it can never take. */
    private readonly refused: ReadonlySet<string> = new Set(),
  ) {}

  async prepare(): Promise<void> {}

  async deliver(events: readonly JobEvent[]): Promise<Delivery> {
    this.wire.starts.push({ replica: this.replica, at: Date.now() });
    this.wire.inFlight += 1;
    this.wire.maxInFlight = Math.max(this.wire.maxInFlight, this.wire.inFlight);
    try {
      await this.wire.takeStall()?.hold(this.replica);
      if (this.wire.deliveryMs > 0) await sleep(this.wire.deliveryMs);
      const rejected = new Map<number, Error>();
      for (const event of events) {
        if (this.refused.has(event.state)) rejected.set(event.id, new Error(`refuses ${event.state}`));
        else this.wire.received.push({ replica: this.replica, id: event.id, jobId: event.jobId, state: event.state });
      }
      return rejected.size > 0 ? { delivered: events.length, rejected } : { delivered: events.length };
    } finally {
      this.wire.inFlight -= 1;
    }
  }

  async close(): Promise<void> {}
}

function capturingLog(): { log: ReturnType<typeof createLogger>; lines: string[] } {
  const lines: string[] = [];
  return { log: createLogger('debug', { write: (line: string) => { lines.push(line); } }), lines };
}

describe('the job-event drain lease', () => {
  let database: TestDatabase;
  const publishers: JobEventPublisher[] = [];
  const pools: Db[] = [];

  /** A replica's own pool, named so that pg_stat_activity tells its connections apart. */
  function replicaDb(name: string, poolMax = 2): Db {
    const db = knexFactory({
      client: 'pg',
      connection: { connectionString: database.url, application_name: name },
      pool: { min: 0, max: poolMax },
      acquireConnectionTimeout: 2000,
    });
    pools.push(db);
    return db;
  }

  function replica(db: Db, sink: EventSink, options: Partial<JobEventPublisherOptions> = {}): JobEventPublisher {
    const started = new JobEventPublisher({
      db, amqpUrl: 'amqp://unused.invalid', log: createLogger('silent'), sinks: [sink],
      pollIntervalMs: 20, reconnectMinMs: 50, reconnectMaxMs: 200, ...options,
    });
    publishers.push(started);
    started.start();
    return started;
  }

  /** Outbox rows for one job, in the order given (ids grow with insert order). */
  async function addEvents(jobId: string, states: readonly string[]): Promise<void> {
    for (const state of states) {
      await database.db('job_event_outbox').insert({ job_id: jobId, gateway_id: 'gw-lease', job_name: 'lease', state, time: Date.now() });
    }
  }

  const waitingCount = async (): Promise<number> => {
    const [row] = await database.db('job_event_outbox').whereNull('parked_at').count<{ count: string }[]>('* as count');
    return Number(row?.count ?? 0);
  };

  interface OutboxRow { state: string; attempts: number; last_error: string | null; parked_at: number | null }
  const rowsOf = async (jobId: string): Promise<OutboxRow[]> => await database.db('job_event_outbox')
    .select('state', 'attempts', 'last_error', 'parked_at').where({ job_id: jobId }).orderBy('id') as OutboxRow[];

  const leaseHolder = async (): Promise<string | null> => {
    const row = await database.db('job_event_outbox_lease').first<{ holder: string | null } | undefined>('holder');
    return row?.holder ?? null;
  };

  beforeAll(async () => {
    database = await createTestDatabase();
  });

  afterEach(async () => {
    for (const stall of openStalls.splice(0)) stall.release();
    await Promise.all(publishers.splice(0).map((publisher) => publisher.stop()));
    await Promise.all(pools.splice(0).map((pool) => pool.destroy()));
    await database.db('job_event_outbox').delete();
    await database.db('job_event_outbox_lease').update({ holder: null, expires_at: database.db.raw("'-infinity'") });
  });

  afterAll(async () => {
    await database?.drop();
  });

  it('holds no transaction and leaves a pool connection free while a sink delivers', async () => {
    const name = `lease-${run}-stall`;
    // One connection only: a transaction held across the delivery would leave none for anyone.
    const db = replicaDb(name, 1);
    const wire = new Wire();
    const stall = wire.stallNext();
    await addEvents('job-stall', ['SUBMITTED', 'QUEUED', 'ACTIVE']);
    // A lease far longer than the test: no renewal runs during the checks below.
    replica(db, new WireSink(wire, 'only'), { drainLeaseMs: 60_000 });
    await stall.entered;
    try {
      for (let sample = 0; sample < 5; sample += 1) {
        const sessions = await database.db('pg_stat_activity')
          .select('state', 'xact_start').where({ application_name: name }) as { state: string; xact_start: Date | null }[];
        // The publisher did connect (it claimed the lease and read the batch), and is now idle.
        expect(sessions.length).toBeGreaterThan(0);
        expect(sessions.filter((session) => session.xact_start !== null)).toEqual([]);
        expect(sessions.map((session) => session.state)).toEqual(sessions.map(() => 'idle'));
        await sleep(100);
      }
      // The publisher's own single connection is free for other work.
      const free = await db.raw<{ rows: { one: number }[] }>('SELECT 1 AS one');
      expect(free.rows[0]?.one).toBe(1);
      // Nor are the rows being delivered locked.
      await database.db.transaction(async (tx) => {
        const locked = await tx('job_event_outbox').select('id').forUpdate().noWait();
        expect(locked).toHaveLength(3);
      });
    } finally {
      stall.release();
    }
    await waitFor('the stalled batch to be recorded', async () => (await waitingCount()) === 0);
    expect(wire.statesOf('job-stall')).toEqual(['SUBMITTED', 'QUEUED', 'ACTIVE']);
  });

  it('lets one replica deliver at a time, in order, and another take over when the holder dies', async () => {
    const leaseMs = 600;
    const wire = new Wire(10);
    const dbs = { a: replicaDb(`lease-${run}-a`), b: replicaDb(`lease-${run}-b`) };
    replica(dbs.a, new WireSink(wire, 'a'), { drainLeaseMs: leaseMs });
    replica(dbs.b, new WireSink(wire, 'b'), { drainLeaseMs: leaseMs });

    // Events of several jobs, interleaved, in bursts with pauses longer than the lease between
    // them, so the lease lapses and is claimed afresh several times.
    const lifecycle = ['SUBMITTED', 'QUEUED', 'ACTIVE', 'COMPLETE'];
    const jobs = ['job-1', 'job-2', 'job-3'];
    for (const state of lifecycle) {
      for (const jobId of jobs) await addEvents(jobId, [state]);
      await sleep(leaseMs + 200);
    }
    await waitFor('every event', async () => (await waitingCount()) === 0);
    expect(wire.maxInFlight).toBe(1);
    for (const jobId of jobs) {
      expect(wire.statesOf(jobId)).toEqual(lifecycle);
      // Nobody died: each event went out exactly once.
      expect(wire.received.filter((item) => item.jobId === jobId)).toHaveLength(lifecycle.length);
    }

    // The holder stalls in delivery for longer than its lease: it keeps renewing it, and the other
    // replica waits.
    const stall = wire.stallNext();
    await addEvents('job-4', lifecycle);
    const holder = (await stall.entered) === 'a' ? 'a' : 'b';
    const survivor = holder === 'a' ? 'b' : 'a';
    const startsBefore = wire.starts.length;
    await sleep(3 * leaseMs);
    expect(wire.starts.slice(startsBefore)).toEqual([]);
    expect(wire.statesOf('job-4')).toEqual([]);
    expect(wire.maxInFlight).toBe(1);

    // The holder dies mid-delivery: its connections close, it renews no more, and it never
    // releases its lease. (Its stalled delivery is left hanging, as in a hung process.)
    const dead = dbs[holder];
    const destroyed = dead.destroy();
    pools.splice(pools.indexOf(dead), 1);
    const diedAt = Date.now();
    try {
      await waitFor('the survivor to deliver job-4', () => wire.statesOf('job-4').length === lifecycle.length, 10_000);
      const takeover = wire.starts.find((start) => start.replica === survivor && start.at >= diedAt);
      expect(takeover).toBeDefined();
      // Within the lease, plus a poll interval and scheduling slack.
      expect((takeover?.at ?? Infinity) - diedAt).toBeLessThan(leaseMs + 1000);
      expect(wire.statesOf('job-4')).toEqual(lifecycle);
      expect(wire.received.filter((item) => item.jobId === 'job-4').map((item) => item.replica))
        .toEqual(lifecycle.map(() => survivor));
      await waitFor('an empty outbox', async () => (await waitingCount()) === 0);
    } finally {
      stall.release();
      await destroyed;
    }
  });

  it('records nothing for a delivery during which the lease was lost, and leaves the rows to the new holder', async () => {
    const { log, lines } = capturingLog();
    const first = { wire: new Wire(), name: `lease-${run}-first` };
    const second = { wire: new Wire(), name: `lease-${run}-second` };
    const firstStall = first.wire.stallNext();
    const secondStall = second.wire.stallNext();
    // A batch holds each job's oldest waiting event: here SUBMITTED, QUEUED and ACTIVE of three jobs.
    const rows = { 'job-lost-1': ['SUBMITTED', 'QUEUED', 'ACTIVE'], 'job-lost-2': ['QUEUED', 'ACTIVE'], 'job-lost-3': ['ACTIVE'] };
    for (const [jobId, states] of Object.entries(rows)) await addEvents(jobId, states);
    // The first holder would park QUEUED and delete the rest of its batch: proof enough, if
    // neither happened, that nothing was recorded.
    // A long lease: no renewal of the first holder's runs while the test takes it away.
    replica(replicaDb(first.name), new WireSink(first.wire, 'first', new Set(['QUEUED'])), { log, drainLeaseMs: 30_000 });
    await firstStall.entered;
    const firstHolder = await leaseHolder();
    expect(firstHolder).not.toBeNull();

    // Stalled past its lease (made to lapse here rather than waited for): the other replica takes over.
    await database.db('job_event_outbox_lease').update({ expires_at: database.db.raw("now() - interval '1 second'") });
    replica(replicaDb(second.name), new WireSink(second.wire, 'second'), { drainLeaseMs: 30_000 });
    await secondStall.entered;
    expect(await leaseHolder()).not.toBe(firstHolder);

    // The first holder's delivery ends: it sees the lease gone and records nothing.
    firstStall.release();
    await waitFor('the lost lease to be noticed', () => lines.some((line) => line.includes('drain lease lost during delivery')));
    expect(first.wire.received.map((item) => [item.jobId, item.state])).toEqual([['job-lost-1', 'SUBMITTED'], ['job-lost-3', 'ACTIVE']]);
    for (const [jobId, states] of Object.entries(rows)) {
      expect(await rowsOf(jobId)).toEqual(states.map((state) => ({ state, attempts: 0, last_error: null, parked_at: null })));
    }
    expect(lines.filter((line) => line.includes('job event parked'))).toEqual([]);

    // The new holder delivers every row, the one the first would have parked included.
    secondStall.release();
    await waitFor('the new holder to drain the outbox', async () => (await waitingCount()) === 0);
    for (const [jobId, states] of Object.entries(rows)) {
      expect(second.wire.statesOf(jobId)).toEqual(states);
      // Delivered and deleted, none parked.
      expect(await rowsOf(jobId)).toEqual([]);
    }
    expect(first.wire.starts).toHaveLength(1);
  });

  it('never sends a job back to an earlier state when a delivery whose outcome was lost is sent again', async () => {
    // Crash chaos's defect: a batch that reached the broker but was never deleted (the holder
    // SIGKILLed, or its lease lost, before recording) is sent again by the next holder. Had it held
    // two events of one job, Airavata would see ACTIVE COMPLETE ACTIVE COMPLETE. With one event
    // per job per batch, a resend is only the same state twice in a row, which it tolerates.
    const { log, lines } = capturingLog();
    // One broker for both holders: what it received, in order.
    const wire = new Wire();
    const lifecycle = ['SUBMITTED', 'QUEUED', 'ACTIVE', 'COMPLETE'];
    const jobs = ['job-resend-1', 'job-resend-2', 'job-resend-3'];
    // Interleaved across jobs, as a monitor writes them, all waiting before anyone drains.
    for (const state of lifecycle) {
      for (const jobId of jobs) await addEvents(jobId, [state]);
    }
    const firstStall = wire.stallNext();
    replica(replicaDb(`lease-${run}-resend1`), new WireSink(wire, 'first'), { log, drainLeaseMs: 30_000 });
    await firstStall.entered;
    await database.db('job_event_outbox_lease').update({ expires_at: database.db.raw("now() - interval '1 second'") });
    const secondStall = wire.stallNext();
    replica(replicaDb(`lease-${run}-resend2`), new WireSink(wire, 'second'), { drainLeaseMs: 30_000 });
    await secondStall.entered;

    // The first holder's batch reaches the broker, which confirms it; its outcome is never recorded.
    firstStall.release();
    await waitFor('the lost lease to be noticed', () => lines.some((line) => line.includes('drain lease lost during delivery')));
    const sentByFirst = wire.received.length;
    expect(sentByFirst).toBeGreaterThan(0);
    expect(await waitingCount()).toBe(jobs.length * lifecycle.length);

    // The new holder sends the same rows again, and everything after them.
    secondStall.release();
    await waitFor('the new holder to drain the outbox', async () => (await waitingCount()) === 0);
    const collapsed = (states: string[]): string[] => states.filter((state, index) => state !== states[index - 1]);
    for (const jobId of jobs) {
      const onWire = wire.received.filter((item) => item.jobId === jobId).map((item) => item.state);
      if (collapsed(onWire).join() !== lifecycle.join()) console.log(`${jobId} on the wire: ${onWire.join(' ')}`);
      expect(collapsed(onWire)).toEqual(lifecycle);
    }
    // The resend did happen: what the first holder sent reached the broker again from the second.
    const resent = wire.received.slice(0, sentByFirst).map((item) => item.id);
    expect(wire.received.slice(sentByFirst).map((item) => item.id)).toEqual(expect.arrayContaining(resent));
  });

  it('hands the lease on at once on a clean stop', async () => {
    const wire = new Wire();
    const leaseMs = 30_000;
    const first = replica(replicaDb(`lease-${run}-stop1`), new WireSink(wire, 'first'), { drainLeaseMs: leaseMs });
    await addEvents('job-stop', ['SUBMITTED']);
    await waitFor('the first event', async () => (await waitingCount()) === 0);
    expect(await leaseHolder()).not.toBeNull();
    await first.stop();
    expect(await leaseHolder()).toBeNull();

    replica(replicaDb(`lease-${run}-stop2`), new WireSink(wire, 'second'), { drainLeaseMs: leaseMs });
    const startedAt = Date.now();
    await addEvents('job-stop', ['QUEUED']);
    // Far sooner than the 30 s a lease left behind would keep the second replica waiting.
    await waitFor('the second replica to deliver', async () => (await waitingCount()) === 0, 5000);
    expect(Date.now() - startedAt).toBeLessThan(5000);
    expect(wire.received.map((item) => [item.replica, item.state])).toEqual([['first', 'SUBMITTED'], ['second', 'QUEUED']]);
  });
});
