// Job-status events to Airavata, end to end on a real RabbitMQ and a real Postgres: changes written
// by JobStore reach status_exchange in order, survive a broker outage, and reach a Kafka REST
// proxy (a local HTTP server here) only-then-deleted.
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as amqp from 'amqplib';
import { decodeJobStatusMessage, STATUS_EXCHANGE } from '../../src/events/jobStatusMessage';
import { JobEventPublisher, type JobEventPublisherOptions } from '../../src/events/publisher';
import { jobRoutingKey, routingKeySegment, SEGMENT_BUDGET_BYTES } from '../../src/events/routingKey';
import type { JobSpec, JobState } from '../../src/domain/types';
import { createLogger, maskUrl } from '../../src/log';
import { base } from '../../src/rpc/wire';
import { JobStore } from '../../src/store/jobStore';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { startTcpProxy, type TcpProxy } from '../support/tcpProxy';

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

/** Binds a queue to status_exchange (with '#' unless told) and decodes everything it gets. */
async function consume(queue?: string, pattern = '#'): Promise<Consumer> {
  const connection = await amqp.connect(AMQP_URL);
  const channel = await connection.createChannel();
  await channel.assertExchange(STATUS_EXCHANGE, 'topic', { durable: true });
  const { queue: name } = queue === undefined
    ? await channel.assertQueue('', { exclusive: true })
    : await channel.assertQueue(queue, { durable: true });
  await channel.bindQueue(name, STATUS_EXCHANGE, pattern);
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

/** Fails the file with what is missing, rather than every test with a connection error. */
async function requireBroker(): Promise<void> {
  const connection = await amqp.connect(AMQP_URL).catch((error: unknown) => {
    throw new Error(`RabbitMQ is not reachable at ${maskUrl(AMQP_URL)} (${(error as Error).message}): `
      + 'start it (rabbitmq-server -detached) or point TEST_AMQP_URL at one');
  });
  await connection.close();
}

/**
 * A proxy in front of the broker, so an outage can be the publisher's alone: stopping RabbitMQ
 * itself would break the other test files that share it meanwhile.
 */
async function brokerProxy(): Promise<{ proxy: TcpProxy; url: string }> {
  const broker = new URL(AMQP_URL);
  const proxy = await startTcpProxy({ host: broker.hostname, port: Number(broker.port || 5672) });
  // The same user, password and vhost; only the address is the proxy's.
  const url = new URL(AMQP_URL);
  url.hostname = '127.0.0.1';
  url.port = String(proxy.port);
  return { proxy, url: url.toString() };
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

  interface ParkedRow { job_id: string; state: string; parked_at: number; park_reason: string }
  const parkedRows = async (): Promise<ParkedRow[]> => await database.db('job_event_outbox')
    .select('job_id', 'state', 'parked_at', 'park_reason').whereNotNull('parked_at').orderBy('id') as ParkedRow[];
  /** Rows of these jobs still in the outbox, parked or not. */
  const rowsOf = async (...jobIds: string[]): Promise<number> => {
    const [row] = await database.db('job_event_outbox').whereIn('job_id', jobIds).count<{ count: string }[]>('* as count');
    return Number(row.count);
  };
  /** Parked rows stay for an operator; the other tests count an empty outbox. */
  const dropParked = async (): Promise<void> => {
    await database.db('job_event_outbox').whereNotNull('parked_at').delete();
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
    await requireBroker();
    database = await createTestDatabase({ queue: true });
  });

  afterEach(async () => {
    await Promise.all(publishers.splice(0).map((p) => p.stop()));
  });

  afterAll(async () => {
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
    const { proxy, url } = await brokerProxy();
    publisher({ log, amqpUrl: url });
    try {
      const a = await submit('gw-a');
      await move('gw-a', a, 'QUEUED');
      await waitFor('the first events to leave', async () => (await outboxCount()) === 0);

      await proxy.cut();
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

      await proxy.restore();
      await waitFor('the outbox to drain after the outage', async () => (await outboxCount()) === 0, 60_000);
      // An outage is nobody's fault: nothing was parked.
      expect(lines.filter((line) => line.includes('job event parked'))).toEqual([]);
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
      await proxy.close();
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

  it('delivers a job whose ids made the old routing key too long, and every event behind it', async () => {
    // Ids within our limits (128 characters) and a long gateway id from a token: the old key,
    // the ids joined as they are, was over AMQP's 255 bytes and could not be published at all.
    const longGateway = `gw-long-${run}-${'g'.repeat(300)}`;
    const longId = (tag: string): string => `${tag}-${run}-`.padEnd(128, 'é');
    const airavataIds = { experimentId: longId('exp'), processId: longId('proc'), taskId: longId('task') };
    const l = await submit(longGateway, airavataIds);
    await move(longGateway, l, 'QUEUED');
    const o = await submit('gw-other');
    for (const state of ['QUEUED', 'ACTIVE', 'COMPLETE'] as const) await move('gw-other', o, state);
    const oldKey = [longGateway, airavataIds.experimentId, airavataIds.processId, airavataIds.taskId, l].join('.');
    expect(Buffer.byteLength(oldKey)).toBeGreaterThan(255);

    // Consumers bind as Airavata's do: everything, one gateway, one job. The gateway's segment is
    // computed from its id alone, by the documented rule.
    const gatewaySegment = routingKeySegment(longGateway, SEGMENT_BUDGET_BYTES.gatewayId);
    const all = await consume();
    const byGateway = await consume(undefined, `${gatewaySegment}.#`);
    const byJob = await consume(undefined, `*.*.*.*.${o}`);
    try {
      // Started after the writes: the long job's events are first in one batch, as in the attack.
      publisher();
      await waitFor('an empty outbox', async () => (await outboxCount()) === 0);
      await waitFor('every event at every consumer', () => all.of(l).length >= 2 && all.of(o).length >= 4
        && byGateway.seen.length >= 2 && byJob.seen.length >= 4);
      await sleep(300);

      // The other gateway's events went through once each, not again with every round.
      expect(states(all.of(o))).toEqual(['SUBMITTED', 'QUEUED', 'ACTIVE', 'COMPLETE']);
      expect(states(byJob.seen)).toEqual(['SUBMITTED', 'QUEUED', 'ACTIVE', 'COMPLETE']);
      // The long job's events went out with the shortened key, the ids whole in the body.
      const key = jobRoutingKey({ gatewayId: longGateway, ...airavataIds, jobId: l });
      expect(Buffer.byteLength(key)).toBeLessThanOrEqual(255);
      expect(states(all.of(l))).toEqual(['SUBMITTED', 'QUEUED']);
      for (const seen of all.of(l)) {
        expect(seen.routingKey).toBe(key);
        expect(seen.event.jobIdentity).toEqual(new base.JobIdentifier({ jobId: l, gatewayId: longGateway, ...airavataIds }));
      }
      expect(byGateway.seen.map((seen) => seen.event.jobIdentity.jobId)).toEqual([l, l]);
      expect(await parkedRows()).toEqual([]);
    } finally {
      await Promise.all([all.close(), byGateway.close(), byJob.close()]);
    }
  });

  it('parks an event that can never be delivered, logs it once, and confirms the events behind it', async () => {
    const { log, lines } = capturingLog();
    const a = await submit('gw-a');
    // Rows no code path of ours writes, standing for any event that cannot be published: a job id
    // too long for the AMQP message id, a state Airavata has no number for.
    const longJob = `long-${run}-${'j'.repeat(300)}`;
    const strangeState = `strange-${run}`;
    await database.db('job_event_outbox').insert([
      { job_id: longJob, gateway_id: 'gw-bad', job_name: 'bad', state: 'QUEUED', time: Date.now() },
      { job_id: strangeState, gateway_id: 'gw-bad', job_name: 'bad', state: 'NOT_A_STATE', time: Date.now() },
    ]);
    const b = await submit('gw-b');
    await move('gw-b', b, 'QUEUED');
    await move('gw-a', a, 'QUEUED');
    const consumer = await consume();
    try {
      const started = Date.now();
      publisher({ log });
      await waitFor('the events behind the bad ones to be confirmed', async () => (await rowsOf(a, b)) === 0);
      await waitFor('the events at the consumer', () => consumer.of(a).length >= 2 && consumer.of(b).length >= 2);

      const parked = await parkedRows();
      expect(parked.map((row) => [row.job_id, row.state])).toEqual([[longJob, 'QUEUED'], [strangeState, 'NOT_A_STATE']]);
      expect(parked[0]?.park_reason).toMatch(/^rabbitmq: the message id is \d+ bytes; AMQP allows 255$/);
      expect(parked[1]?.park_reason).toBe('rabbitmq: job state "NOT_A_STATE" has no Airavata JobState');
      for (const row of parked) {
        expect(row.parked_at).toBeGreaterThanOrEqual(started);
        expect(row.parked_at).toBeLessThanOrEqual(Date.now());
      }
      // Later rounds skip the parked rows: more events go through, and no parking is logged again.
      await move('gw-a', a, 'ACTIVE');
      await waitFor('the later event', () => consumer.of(a).length >= 3);
      await waitFor('an empty waiting line', async () => (await rowsOf(a, b)) === 0);
      await sleep(300);
      expect(states(consumer.of(a))).toEqual(['SUBMITTED', 'QUEUED', 'ACTIVE']);
      expect(states(consumer.of(b))).toEqual(['SUBMITTED', 'QUEUED']);
      expect(consumer.seen.filter((seen) => seen.event.jobIdentity.gatewayId === 'gw-bad')).toEqual([]);
      const parkedLines = lines.filter((line) => line.includes('job event parked'));
      expect(parkedLines).toHaveLength(2);
      expect(parkedLines[0]).toContain('the message id is');
      expect(lines.filter((line) => line.includes('job events not delivered'))).toEqual([]);
    } finally {
      await consumer.close();
      await dropParked();
    }
  });

  describe('with the Kafka REST sink', () => {
    let server: Server;
    let answer = 500;
    /** With a 200 answer: the records the proxy refuses one by one (v2 per-record errors), by key and status. */
    let refuses: ((key: string, status: string) => boolean) | undefined;
    /** The v2 per-record code of those refusals: 50003 retriable, 50002 not. */
    let refuseCode = 50003;
    interface Posted { key: string; value: { jobName: string; status: string; task: string } }
    const requests: { path: string; contentType: string | undefined; answered: number; body: { records: Posted[] } }[] = [];

    beforeAll(async () => {
      server = createServer((request, response) => {
        let text = '';
        request.setEncoding('utf8');
        request.on('data', (chunk: string) => { text += chunk; });
        request.on('end', () => {
          const body = JSON.parse(text) as { records: Posted[] };
          requests.push({ path: request.url ?? '', contentType: request.headers['content-type'], answered: answer, body });
          response.statusCode = answer;
          response.setHeader('Content-Type', 'application/vnd.kafka.v2+json');
          response.end(answer === 200
            ? JSON.stringify({
              offsets: body.records.map((record, offset) => (refuses?.(record.key, record.value.status)
                ? { partition: null, offset: null, error_code: refuseCode, error: refuseCode === 50003 ? 'leader not available' : 'record too large' }
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
      refuses = undefined;
      refuseCode = 50003;
    });

    /** Each request's records as [job, status] pairs. */
    const posted = (from = 0): [string, string][][] => requests.slice(from)
      .map((request) => request.body.records.map((record): [string, string] => [record.key, record.value.status]));
    /** The statuses posted for one job, over every request from `from` on. */
    const statusesOf = (jobId: string, from = 0): string[] => posted(from).flat()
      .filter(([key]) => key === jobId).map(([, status]) => status);
    /** A job's events go out one per batch: no request carries two records of one job. */
    const expectOneRecordPerJobPerRequest = (): void => {
      for (const records of posted()) {
        const keys = records.map(([key]) => key);
        expect(new Set(keys).size).toBe(keys.length);
      }
    };

    it('posts the real-time monitor records, and keeps rows until the proxy takes them', async () => {
      const consumer = await consume();
      try {
        const k = await submit('gw-k');
        const k2 = await submit('gw-k');
        const bare = await submit('gw-k', 'no-airavata-ids');
        for (const state of ['QUEUED', 'ACTIVE', 'COMPLETE'] as const) await move('gw-k', k, state);
        await move('gw-k', k2, 'QUEUED');
        await move('gw-k', bare, 'QUEUED');
        // Started after the writes, so every refused post carries the same whole batch: the
        // oldest event of each job (one event per job per batch).
        const { port } = server.address() as AddressInfo;
        publisher({ kafkaRestUrl: `http://127.0.0.1:${port}/`, kafkaTopic: 'airavata-monitor', reconnectMaxMs: 300 });

        await waitFor('three refused posts', () => requests.length >= 3);
        expect(await outboxCount()).toBe(8);
        // RabbitMQ took each job's oldest event once, and is not sent it again while Kafka refuses
        // it; the later events wait behind it.
        await waitFor('RabbitMQ events', () => [k, k2, bare].every((jobId) => consumer.of(jobId).length === 1));
        const refusedSoFar = requests.length;
        await waitFor('two more refused posts', () => requests.length >= refusedSoFar + 2);
        await sleep(300);
        for (const jobId of [k, k2, bare]) expect(states(consumer.of(jobId))).toEqual(['SUBMITTED']);
        expect(await outboxCount()).toBe(8);

        answer = 200;
        await waitFor('the outbox to drain', async () => (await outboxCount()) === 0);
        await sleep(300);
        expect(states(consumer.of(k))).toEqual(['SUBMITTED', 'QUEUED', 'ACTIVE', 'COMPLETE']);
        expect(states(consumer.of(k2))).toEqual(['SUBMITTED', 'QUEUED']);
        expect(states(consumer.of(bare))).toEqual(['SUBMITTED', 'QUEUED']);

        const last = requests[requests.length - 1];
        expect(last.path).toBe('/topics/airavata-monitor');
        expect(last.contentType).toBe('application/vnd.kafka.json.v2+json');
        // Every refused post carried the same records: nothing was dropped or reordered meanwhile.
        const refused = requests.filter((request) => request.answered !== 200);
        expect(refused.length).toBeGreaterThanOrEqual(5);
        for (const request of refused) expect(request.body).toEqual(refused[0]?.body);
        expect(posted().slice(0, 1)).toEqual([[[k, 'SUBMITTED'], [k2, 'SUBMITTED']]]);
        // What the proxy took: every event of each job with a task, once, in order, one per request.
        const taken = requests.filter((request) => request.answered === 200).flatMap((request) => request.body.records);
        const recordsOf = (jobId: string, statuses: string[]): Posted[] => {
          const n = Number(jobId.split('-').pop());
          return statuses.map((status) => ({ key: jobId, value: { jobName: `name-${n}`, status, task: `task-${n}` } }));
        };
        expect(taken.filter((record) => record.key === k)).toEqual(recordsOf(k, ['SUBMITTED', 'QUEUED', 'RUNNING', 'COMPLETED']));
        expect(taken.filter((record) => record.key === k2)).toEqual(recordsOf(k2, ['SUBMITTED', 'QUEUED']));
        // The job without an Airavata task has no record: the monitor could not place it.
        expect(taken.map((record) => record.key).filter((key) => key !== k && key !== k2)).toEqual([]);
        expectOneRecordPerJobPerRequest();
      } finally {
        await consumer.close();
      }
    });

    it('deletes only the prefix the proxy took when a record in the middle is refused', async () => {
      const consumer = await consume();
      try {
        // One batch holds each job's oldest event, in id order: a, b, c. The proxy refuses b's.
        const a = await submit('gw-k');
        const b = await submit('gw-k');
        const c = await submit('gw-k');
        for (const state of ['QUEUED', 'ACTIVE', 'COMPLETE'] as const) await move('gw-k', b, state);
        await move('gw-k', c, 'QUEUED');
        answer = 200;
        refuses = (key) => key === b;
        const { port } = server.address() as AddressInfo;
        publisher({ kafkaRestUrl: `http://127.0.0.1:${port}`, kafkaTopic: 'airavata-monitor', reconnectMaxMs: 300 });

        await waitFor('three partly refused posts', () => requests.length >= 3);
        expect(posted()[0]).toEqual([[a, 'SUBMITTED'], [b, 'SUBMITTED'], [c, 'SUBMITTED']]);
        // a's event left; b's was refused, and c's, though taken, waits behind it, as do the
        // later events of b and c.
        expect(await rowsOf(a)).toBe(0);
        const left = await database.db('job_event_outbox').whereIn('job_id', [b, c]).orderBy('id') as { job_id: string; state: string }[];
        expect(left.map((row) => [row.job_id, row.state])).toEqual([
          [b, 'SUBMITTED'], [c, 'SUBMITTED'], [b, 'QUEUED'], [b, 'ACTIVE'], [b, 'COMPLETE'], [c, 'QUEUED'],
        ]);
        for (const records of posted(1)) expect(records).toEqual([[b, 'SUBMITTED'], [c, 'SUBMITTED']]);

        refuses = undefined;
        await waitFor('the outbox to drain', async () => (await outboxCount()) === 0);
        await sleep(300);
        // RabbitMQ confirmed the three at the first round and was not sent them again.
        expect(states(consumer.of(a))).toEqual(['SUBMITTED']);
        expect(states(consumer.of(b))).toEqual(['SUBMITTED', 'QUEUED', 'ACTIVE', 'COMPLETE']);
        expect(states(consumer.of(c))).toEqual(['SUBMITTED', 'QUEUED']);
        // The proxy got a's once, and the rest in order, each after what it waited behind.
        expect(statusesOf(a)).toEqual(['SUBMITTED']);
        expect(statusesOf(b).filter((status) => status !== 'SUBMITTED')).toEqual(['QUEUED', 'RUNNING', 'COMPLETED']);
        expect(statusesOf(c).filter((status) => status !== 'SUBMITTED')).toEqual(['QUEUED']);
        expectOneRecordPerJobPerRequest();
      } finally {
        await consumer.close();
      }
    });

    it('parks a record the proxy refuses for good, but only once others of the same request got through', async () => {
      const { log, lines } = capturingLog();
      const consumer = await consume();
      try {
        const k = await submit('gw-k');
        answer = 200;
        refuses = (key, status) => key === k && status === 'SUBMITTED';
        refuseCode = 50002;
        const { port } = server.address() as AddressInfo;
        publisher({ log, kafkaRestUrl: `http://127.0.0.1:${port}`, kafkaTopic: 'airavata-monitor', reconnectMaxMs: 300 });

        // Alone in its request, a refusal may be the proxy's fault as much as the record's: kept.
        await waitFor('three refused posts', () => requests.length >= 3);
        expect(await parkedRows()).toEqual([]);
        expect(await rowsOf(k)).toBe(1);

        // k's later events wait behind its oldest (one event per job per batch); another job's
        // event joins it in a request.
        for (const state of ['QUEUED', 'ACTIVE'] as const) await move('gw-k', k, state);
        const other = await submit('gw-k');
        await waitFor('the jobs\' rows to leave the waiting line', async () => {
          const waiting = await database.db('job_event_outbox').whereIn('job_id', [k, other]).whereNull('parked_at');
          return waiting.length === 0;
        });
        const parked = await parkedRows();
        expect(parked.map((row) => [row.job_id, row.state])).toEqual([[k, 'SUBMITTED']]);
        expect(parked[0]?.park_reason).toBe('kafka-rest: Kafka refused a record (error 50002): record too large');
        expect(lines.filter((line) => line.includes('job event parked'))).toHaveLength(1);
        // Every request with k's SUBMITTED had it alone, but the last, where the other job's got through.
        const withRefused = posted().filter((records) => records.some(([key, status]) => key === k && status === 'SUBMITTED'));
        expect(withRefused.slice(0, -1)).toEqual(withRefused.slice(0, -1).map(() => [[k, 'SUBMITTED']]));
        expect(withRefused[withRefused.length - 1]).toEqual([[k, 'SUBMITTED'], [other, 'SUBMITTED']]);

        // The parked record is not sent again with later ones.
        const before = requests.length;
        await move('gw-k', k, 'COMPLETE');
        await waitFor('the last row to leave', async () => (await rowsOf(k)) === 1);
        await sleep(300);
        expect(posted(before)).toEqual([[[k, 'COMPLETED']]]);
        // RabbitMQ took every event; the proxy took each one after the parked one, once, and the other job's once.
        expect(states(consumer.of(k))).toEqual(['SUBMITTED', 'QUEUED', 'ACTIVE', 'COMPLETE']);
        expect(states(consumer.of(other))).toEqual(['SUBMITTED']);
        expect(statusesOf(k).filter((status) => status !== 'SUBMITTED')).toEqual(['QUEUED', 'RUNNING', 'COMPLETED']);
        expect(statusesOf(other)).toEqual(['SUBMITTED']);
        expect(lines.filter((line) => line.includes('job event parked'))).toHaveLength(1);
        expectOneRecordPerJobPerRequest();
      } finally {
        await consumer.close();
        await dropParked();
      }
    });
  });
});
