// The routing key rule: every key fits AMQP's 255 bytes, short ids are kept as they are, and each
// segment can be computed from its own id alone (so a consumer can bind to it).
import { createHash } from 'node:crypto';
import {
  jobRoutingKey, ROUTING_KEY_MAX_BYTES, routingKeySegment, SEGMENT_BUDGET_BYTES, type RoutingKeyIds,
} from '../../src/events/routingKey';
import { base } from '../../src/rpc/wire';

const JOB_ID = '3f2b8c1e-5d4a-4e6b-9c7d-1a2b3c4d5e6f';
const ID_LIMIT = 128; // LIMITS.idLength: the longest experiment, process and task id a gateway may send
const bytes = (text: string): number => Buffer.byteLength(text, 'utf8');
const ids = (overrides: Partial<RoutingKeyIds> = {}): RoutingKeyIds => ({
  gatewayId: 'seagrid', experimentId: 'exp', processId: 'proc', taskId: 'task', jobId: JOB_ID, ...overrides,
});

/** How a consumer would compute a shortened segment from the documented rule, independently. */
function documentedShortening(id: string): { prefix: string; hash: string } {
  return {
    prefix: id.replaceAll('.', '_'),
    hash: createHash('sha256').update(Buffer.from(id, 'utf8')).digest('hex').slice(0, 16),
  };
}

/** The segment is whole characters: decoding its bytes gives it back, with no replacement character. */
function isWholeCharacters(segment: string): boolean {
  return Buffer.from(segment, 'utf8').toString('utf8') === segment && !segment.includes('\uFFFD');
}

describe('jobRoutingKey', () => {
  it('keeps short ids as they are', () => {
    expect(jobRoutingKey(ids())).toBe(`seagrid.exp.proc.task.${JOB_ID}`);
  });

  it('keeps Airavata-shaped ids as they are', () => {
    const airavata = ids({
      gatewayId: 'default',
      experimentId: 'Clone_of_Gaussian_on_Oct_25_2019_f2b0bf4b-3b3a-4a5e-8f5d-1a2b3c4d5e6f',
      processId: 'PROCESS_5a6b7c8d-1e2f-4a3b-8c9d-0e1f2a3b4c5d',
      taskId: 'TASK_9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d',
    });
    expect(jobRoutingKey(airavata)).toBe([
      airavata.gatewayId, airavata.experimentId, airavata.processId, airavata.taskId, JOB_ID,
    ].join('.'));
  });

  it('names unset ids with Airavata\'s not-set sentinel and turns dots into underscores', () => {
    const key = jobRoutingKey({ gatewayId: 'seagrid.org', jobId: 'a.b' });
    expect(key).toBe(`seagrid_org.${base.DEFAULT_ID}.${base.DEFAULT_ID}.${base.DEFAULT_ID}.a_b`);
  });

  it('keeps every component at its budget as it is, and shortens one byte more to the budget', () => {
    for (const [name, budget] of Object.entries(SEGMENT_BUDGET_BYTES) as [keyof RoutingKeyIds, number][]) {
      const atLimit = 'a'.repeat(budget);
      expect(jobRoutingKey(ids({ [name]: atLimit })).split('.')).toContain(atLimit);
      const over = 'a'.repeat(budget + 1);
      const segment = routingKeySegment(over, budget);
      expect(segment).not.toBe(over);
      expect(bytes(segment)).toBe(budget);
      const { prefix, hash } = documentedShortening(over);
      expect(segment).toBe(`${prefix.slice(0, budget - 17)}~${hash}`);
    }
  });

  it('fits 255 bytes with every id at 128 characters, ASCII or multi-byte', () => {
    for (const character of ['x', 'é', '中', '😀']) {
      const long = character.repeat(ID_LIMIT);
      const all = ids({ gatewayId: long, experimentId: long, processId: long, taskId: long, jobId: long });
      const key = jobRoutingKey(all);
      expect(bytes(key)).toBeLessThanOrEqual(ROUTING_KEY_MAX_BYTES);
      expect(key.split('.')).toHaveLength(5);
      expect(isWholeCharacters(key)).toBe(true);
      // The same ids give the same key: a consumer can compute it.
      expect(jobRoutingKey({ ...all })).toBe(key);
    }
    // The old key (ids joined as they are) did not fit.
    expect(bytes(['gw', 'é'.repeat(ID_LIMIT), 'p', 't', JOB_ID].join('.'))).toBeGreaterThan(ROUTING_KEY_MAX_BYTES);
  });

  it('counts UTF-8 bytes, not characters, and never cuts a character in two', () => {
    // 30 characters, 60 bytes: over the gateway's 40-byte budget.
    const gateway = 'é'.repeat(30);
    const segment = routingKeySegment(gateway, SEGMENT_BUDGET_BYTES.gatewayId);
    expect(segment).not.toBe(gateway);
    expect(bytes(segment)).toBeLessThanOrEqual(SEGMENT_BUDGET_BYTES.gatewayId);
    // 23 bytes of prefix room hold 11 two-byte characters, not 11.5.
    expect(segment).toBe(`${'é'.repeat(11)}~${documentedShortening(gateway).hash}`);
    // Four-byte characters (surrogate pairs in JavaScript) are kept or left whole.
    const emoji = routingKeySegment('a😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀', SEGMENT_BUDGET_BYTES.jobId);
    expect(isWholeCharacters(emoji)).toBe(true);
    expect(emoji.startsWith('a😀😀😀😀~')).toBe(true);
  });

  it('shortens a 1000-character gateway id the same way whatever the other ids are', () => {
    const gateway = `gw-${'g'.repeat(997)}`;
    const segment = routingKeySegment(gateway, SEGMENT_BUDGET_BYTES.gatewayId);
    expect(bytes(segment)).toBe(SEGMENT_BUDGET_BYTES.gatewayId);
    const keys = [ids({ gatewayId: gateway }), ids({ gatewayId: gateway, experimentId: 'é'.repeat(ID_LIMIT), jobId: 'other' })]
      .map(jobRoutingKey);
    for (const key of keys) {
      expect(bytes(key)).toBeLessThanOrEqual(ROUTING_KEY_MAX_BYTES);
      // A consumer bound to `<segment>.#` gets every event of the gateway.
      expect(key.split('.')[0]).toBe(segment);
    }
  });

  it('leaves an ordinary job id matchable by `*.*.*.*.<jobId>` however long the other ids are', () => {
    const long = 'é'.repeat(ID_LIMIT);
    const key = jobRoutingKey(ids({ gatewayId: 'x'.repeat(1000), experimentId: long, processId: long, taskId: long }));
    expect(key.split('.')[4]).toBe(JOB_ID);
  });

  it('tells apart long ids that share their prefix or differ only by a dot', () => {
    const base128 = 'p'.repeat(120);
    const segments = [`${base128}-a`, `${base128}-b`, `${base128}.c`, `${base128}_c`]
      .map((id) => routingKeySegment(id, SEGMENT_BUDGET_BYTES.processId));
    expect(new Set(segments).size).toBe(4);
    for (const segment of segments) expect(segment).not.toContain('.');
  });
});
