// Job-status events to Airavata, end to end on a real RabbitMQ and a real Postgres: changes written
// by JobStore reach status_exchange in order, survive a broker outage, and reach a Kafka REST
// proxy (a local HTTP server here) only-then-deleted.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as amqp from 'amqplib';
import { makeWorkerUtils } from 'graphile-worker';
import { decodeJobStatusMessage, STATUS_EXCHANGE } from '../../src/events/jobStatusMessage';
import { JobEventPublisher, type JobEventPublisherOptions } from '../../src/events/publisher';
import type { JobSpec, JobState } from '../../src/domain/types';
import { createLogger } from '../../src/log';
import { base } from '../../src/rpc/wire';
import { JobStore } from '../../src/store/jobStore';
import { createTestDatabase, type TestDatabase } from '../support/database';

jest.setTimeout(180_000);

const AMQP_URL = process.env.TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const run = randomBytes(4).toString('hex');

interface Seen {
  routingKey: string;
  persistent: boolean;
  message: base.Message;
  event: base.JobStatusChangeEvent;
}

interface Consumer {
  seen: Seen[];
  of(jobId: string): Seen[];
  close(): Promise<void>;
}

/** Binds a queue to status_exchange with '#' and decodes everything it gets. */
async function consume(queue?: string): Promise<Consumer> {
  const connection = await amqp.connect(AMQP_URL);
  const channel = await connection.createChannel();
  await channel.assertExchange(STATUS_EXCHANGE, 'topic', { durable: true });
  const { queue: name } = queue === undefined
    ? await channel.assertQueue('', { exclusive: true })
    : await channel.assertQueue(queue, { durable: true });
  await channel.bindQueue(name, STATUS_EXCHANGE, '#');
  const seen: Seen[] = [];
  await channel.consume(name, (delivery) => {
    if (!delivery) return;
    seen.push({
      routingKey: delivery.fields.routingKey,
      persistent: delivery.properties.deliveryMode === 2,
      ...decodeJobStatusMessage(delivery.content),
    });
    channel.ack(delivery);
  });
  return {
    seen,
    of: (jobId) => seen.filter((s) => s.event.jobIdentity.jobId === jobId),
    close: () => connection.close(),
  };
}

/** A durable queue bound before an outage: what the broker routes meanwhile is kept for us. */
async function declareDurableQueue(name: string): Promise<void> {
  const connection = await amqp.connect(AMQP_URL);
  try {
    const channel = await connection.createChannel();
    await channel.assertExchange(STATUS_EXCHANGE, 'topic', { durable: true });
    await channel.assertQueue(name, { durable: true });
    await channel.bindQueue(name, STATUS_EXCHANGE, '#');
  } finally {
    await connection.close();
  }
}

async function deleteQueue(name: string): Promise<void> {
  const connection = await amqp.connect(AMQP_URL);
  try {
    await (await connection.createChannel()).deleteQueue(name);
  } finally {
    await connection.close();
  }
}

function rabbitmqctl(...args: string[]): void {
  execFileSync('rabbitmqctl', args, { stdio: 'pipe', timeout: 120_000 });
}

function startBroker(): void {
  rabbitmqctl('start_app');
  rabbitmqctl('await_startup');
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function capturingLog(): { log: ReturnType<typeof createLogger>; lines: string[] } {
  const lines: string[] = [];
  return { log: createLogger('debug', { write: (line: string) => { lines.push(line); } }), lines };
}

describe('JobEventPublisher', () => {
  let database: TestDatabase;
  const jobs = new JobStore({ outbox: true });
  const publishers: JobEventPublisher[] = [];

  const outboxCount = async (): Promise<number> => {
    const [row] = await database.db('job_event_outbox').count<{ count: string }[]>('* as count');
    return Number(row.count);
  };

  function publisher(options: Partial<JobEventPublisherOptions> = {}): JobEventPublisher {
    const started = new JobEventPublisher({
      db: database.db, amqpUrl: AMQP_URL, log: createLogger('silent'),
      pollIntervalMs: 50, reconnectMinMs: 100, reconnectMaxMs: 1000, ...options,
    });
    publishers.push(started);
    started.start();
    return started;
  }

  let jobCount = 0;
  /** A new job in SUBMITTED, with Airavata ids unless told otherwise. */
  async function submit(gatewayId: string, ids: Partial<JobSpec> | 'no-airavata-ids' = {}): Promise<string> {
    jobCount += 1;
    const jobId = `job-${run}-${jobCount}`;
    const airavataIds = ids === 'no-airavata-ids'
      ? {}
      : { experimentId: `exp-${jobCount}`, processId: `proc-${jobCount}`, taskId: `task-${jobCount}`, ...ids };
    const inserted = await jobs.insertSubmitted(database.db, {
      jobId, gatewayId, userName: 'alice', fingerprint: jobId, now: Date.now(), reason: 'test',
      spec: { jobName: `name-${jobCount}`, parallelism: 'SERIAL', command: ['/bin/true'], ...airavataIds },
    });
    expect(inserted).toBe(true);
    return jobId;
  }

  async function move(gatewayId: string, jobId: string, state: JobState): Promise<void> {
    await database.db.transaction(async (tx) => {
      expect((await jobs.lockWork(tx, jobId))?.gatewayId).toBe(gatewayId);
      await jobs.append(tx, jobId, [{ state, time: Date.now(), reason: 'test' }], Date.now());
    });
  }

  const states = (seen: readonly Seen[]): string[] => seen.map((s) => base.JobState[s.event.state]);

  beforeAll(async () => {
    // A broker left stopped by an interrupted run would fail every test here.
    startBroker();
    database = await createTestDatabase();
    // insertSubmitted names graphile_worker.add_job in its statement (for a job with a cluster):
    // the schema must exist, as in the service, where WorkQueue.migrate() installs it at start.
    const utils = await makeWorkerUtils({ connectionString: database.url });
    try {
      await utils.migrate();
    } finally {
      await utils.release();
    }
  });

  afterEach(async () => {
    await Promise.all(publishers.splice(0).map((p) => p.stop()));
  });

  afterAll(async () => {
    startBroker();
    await database?.drop();
  });

  it('publishes one event per state change, in order, for several jobs', async () => {
    const consumer = await consume();
    try {
      publisher();
      const gateways = ['gw-a', 'seagrid.org', 'gw-a'];
      const ids: string[] = [];
      for (const gateway of gateways) ids.push(await submit(gateway));
      const bare = await submit('gw-b', 'no-airavata-ids');
      // Interleaved across jobs, as a monitor writes them.
      for (const state of ['QUEUED', 'ACTIVE', 'COMPLETE'] as const) {
        for (const [index, jobId] of ids.entries()) await move(gateways[index], jobId, state);
      }
      await move('gw-b', bare, 'QUEUED');

      await waitFor('14 events', () => [...ids, bare].every((id) => consumer.of(id).length >= (id === bare ? 2 : 4)));
      for (const [index, jobId] of ids.entries()) {
        const seen = consumer.of(jobId);
        expect(states(seen)).toEqual(['SUBMITTED', 'QUEUED', 'ACTIVE', 'COMPLETE']);
        const n = Number(jobId.split('-').pop());
        const keyGateway = gateways[index].replaceAll('.', '_');
        for (const s of seen) {
          expect(s.routingKey).toBe(`${keyGateway}.exp-${n}.proc-${n}.task-${n}.${jobId}`);
          expect(s.message.messageType).toBe(4);
          expect(s.message.messageType).toBe(base.MessageType.JOB);
          expect(s.message.messageLevel).toBe(base.MessageLevel.INFO);
          expect(s.persistent).toBe(true);
          expect(s.event.jobIdentity).toEqual(new base.JobIdentifier({
            jobId, gatewayId: gateways[index], experimentId: `exp-${n}`, processId: `proc-${n}`, taskId: `task-${n}`,
          }));
        }
        expect(new Set(seen.map((s) => s.message.messageId)).size).toBe(4);
      }
      const unset = base.DEFAULT_ID;
      expect(consumer.of(bare).map((s) => s.routingKey)).toEqual([
        `gw-b.${unset}.${unset}.${unset}.${bare}`, `gw-b.${unset}.${unset}.${unset}.${bare}`,
      ]);
      expect(states(consumer.of(bare))).toEqual(['SUBMITTED', 'QUEUED']);
      await waitFor('an empty outbox', async () => (await outboxCount()) === 0);
    } finally {
      await consumer.close();
    }
  });

  it('keeps events while the broker is down and delivers them in order when it is back', async () => {
    const queue = `ms-events-test-${run}`;
    await declareDurableQueue(queue);
    const { log, lines } = capturingLog();
    publisher({ log });
    let stopped = false;
    try {
      const a = await submit('gw-a');
      await move('gw-a', a, 'QUEUED');
      await waitFor('the first events to leave', async () => (await outboxCount()) === 0);

      rabbitmqctl('stop_app');
      stopped = true;
      await move('gw-a', a, 'ACTIVE');
      const b = await submit('gw-a');
      await move('gw-a', b, 'QUEUED');
      await move('gw-a', a, 'COMPLETE');
      await move('gw-a', b, 'ACTIVE');
      await sleep(2000);
      expect(await outboxCount()).toBe(5);
      const [head] = await database.db('job_event_outbox').orderBy('id').limit(1) as { attempts: number; last_error: string }[];
      expect(head.attempts).toBeGreaterThan(0);
      expect(head.last_error).toMatch(/rabbitmq/);
      expect(lines.some((line) => line.includes('job events not delivered'))).toBe(true);

      startBroker();
      stopped = false;
      await waitFor('the outbox to drain after the outage', async () => (await outboxCount()) === 0, 60_000);
      expect(lines.some((line) => line.includes('job events delivered again'))).toBe(true);
      // The password never reaches a log line (the user name here is "guest" too).
      expect(lines.filter((line) => line.includes(':guest@'))).toEqual([]);
      if (process.env.SHOW_EVENT_LOG) console.log(lines.join(''));

      const consumer = await consume(queue);
      try {
        await waitFor('all 7 events', () => consumer.of(a).length + consumer.of(b).length >= 7);
        await sleep(300);
        expect(states(consumer.of(a))).toEqual(['SUBMITTED', 'QUEUED', 'ACTIVE', 'COMPLETE']);
        expect(states(consumer.of(b))).toEqual(['SUBMITTED', 'QUEUED', 'ACTIVE']);
      } finally {
        await consumer.close();
      }
    } finally {
      if (stopped) startBroker();
      await deleteQueue(queue).catch(() => undefined);
    }
  });

  it('never logs or stores the AMQP password when the broker refuses it', async () => {
    const secret = `wrong-${randomBytes(6).toString('hex')}`;
    const { log, lines } = capturingLog();
    publisher({ log, amqpUrl: `amqp://guest:${secret}@127.0.0.1:5672` });
    const jobId = await submit('gw-a');
    await waitFor('a warning', () => lines.some((line) => line.includes('job events not delivered')), 20_000);
    await waitFor('a recorded attempt', async () => {
      const row = await database.db('job_event_outbox').where({ job_id: jobId }).first<{ attempts: number } | undefined>();
      return (row?.attempts ?? 0) > 0;
    });
    const rows = await database.db('job_event_outbox').where({ job_id: jobId }) as { last_error: string | null }[];
    expect(rows).toHaveLength(1);
    expect(lines.filter((line) => line.includes(secret))).toEqual([]);
    expect(rows.filter((row) => row.last_error?.includes(secret))).toEqual([]);
    await Promise.all(publishers.splice(0).map((p) => p.stop()));
    // Leave the outbox empty for the next test.
    await database.db('job_event_outbox').delete();
  });

  describe('with the Kafka REST sink', () => {
    let server: Server;
    let answer = 500;
    /** With a 200 answer: the status whose records the proxy refuses one by one (v2 per-record errors). */
    let refuseStatus: string | undefined;
    const requests: { path: string; contentType: string | undefined; body: { records: { key: string; value: unknown }[] } }[] = [];

    beforeAll(async () => {
      server = createServer((request, response) => {
        let text = '';
        request.setEncoding('utf8');
        request.on('data', (chunk: string) => { text += chunk; });
        request.on('end', () => {
          const body = JSON.parse(text) as { records: { key: string; value: unknown }[] };
          requests.push({ path: request.url ?? '', contentType: request.headers['content-type'], body });
          response.statusCode = answer;
          response.setHeader('Content-Type', 'application/vnd.kafka.v2+json');
          response.end(answer === 200
            ? JSON.stringify({
              offsets: body.records.map((record, offset) => ((record.value as { status: string }).status === refuseStatus
                ? { partition: null, offset: null, error_code: 50003, error: 'leader not available' }
                : { partition: 0, offset, error_code: null, error: null })),
            })
            : JSON.stringify({ error_code: 50001, message: 'broker unavailable' }));
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    });

    afterAll(async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    beforeEach(() => {
      requests.splice(0);
      answer = 500;
      refuseStatus = undefined;
    });

    it('posts the real-time monitor records, and keeps rows until the proxy takes them', async () => {
      const consumer = await consume();
      try {
        const k = await submit('gw-k');
        const bare = await submit('gw-k', 'no-airavata-ids');
        for (const state of ['QUEUED', 'ACTIVE', 'COMPLETE'] as const) await move('gw-k', k, state);
        await move('gw-k', bare, 'QUEUED');
        // Started after the writes, so every refused post carries the same whole batch.
        const { port } = server.address() as AddressInfo;
        publisher({ kafkaRestUrl: `http://127.0.0.1:${port}/`, kafkaTopic: 'airavata-monitor', reconnectMaxMs: 300 });

        await waitFor('three refused posts', () => requests.length >= 3);
        expect(await outboxCount()).toBe(6);
        // RabbitMQ took every event once, and is not sent them again while Kafka refuses them.
        await waitFor('RabbitMQ events', () => consumer.of(k).length === 4 && consumer.of(bare).length === 2);

        answer = 200;
        await waitFor('the outbox to drain', async () => (await outboxCount()) === 0);
        await sleep(300);
        expect(states(consumer.of(k))).toEqual(['SUBMITTED', 'QUEUED', 'ACTIVE', 'COMPLETE']);
        expect(consumer.of(bare)).toHaveLength(2);

        const last = requests[requests.length - 1];
        expect(last.path).toBe('/topics/airavata-monitor');
        expect(last.contentType).toBe('application/vnd.kafka.json.v2+json');
        // The job without an Airavata task has no record: the monitor could not place it.
        const n = Number(k.split('-').pop());
        expect(last.body.records).toEqual(['SUBMITTED', 'QUEUED', 'RUNNING', 'COMPLETED'].map((status) => ({
          key: k, value: { jobName: `name-${n}`, status, task: `task-${n}` },
        })));
        // Every refused post carried the same records: nothing was dropped or reordered meanwhile.
        for (const request of requests) expect(request.body).toEqual(last.body);
      } finally {
        await consumer.close();
      }
    });

    it('deletes only the prefix the proxy took when a record in the middle is refused', async () => {
      const consumer = await consume();
      try {
        const k = await submit('gw-k');
        for (const state of ['QUEUED', 'ACTIVE', 'COMPLETE'] as const) await move('gw-k', k, state);
        answer = 200;
        refuseStatus = 'QUEUED';
        const { port } = server.address() as AddressInfo;
        publisher({ kafkaRestUrl: `http://127.0.0.1:${port}`, kafkaTopic: 'airavata-monitor', reconnectMaxMs: 300 });

        await waitFor('three partly refused posts', () => requests.length >= 3);
        // SUBMITTED left; QUEUED was refused, and ACTIVE, COMPLETE, though taken, wait behind it.
        const left = await database.db('job_event_outbox').where({ job_id: k }).orderBy('id') as { state: string }[];
        expect(left.map((row) => row.state)).toEqual(['QUEUED', 'ACTIVE', 'COMPLETE']);
        for (const request of requests.slice(1)) {
          expect(request.body.records.map((r) => (r.value as { status: string }).status)).toEqual(['QUEUED', 'RUNNING', 'COMPLETED']);
        }

        refuseStatus = undefined;
        await waitFor('the outbox to drain', async () => (await outboxCount()) === 0);
        await sleep(300);
        // RabbitMQ confirmed all four at the first round and was not sent them again.
        expect(states(consumer.of(k))).toEqual(['SUBMITTED', 'QUEUED', 'ACTIVE', 'COMPLETE']);
      } finally {
        await consumer.close();
      }
    });
  });
});
