// The AMQP routing key of a job-status event, `gatewayId.experimentId.processId.taskId.jobId`,
// kept within AMQP's limit of 255 bytes for any ids. A key over the limit cannot be published at
// all, so an unbounded key would let one job's ids stop the event stream of every gateway.
//
// The rule, exact enough for a consumer to compute the key of the ids it wants to bind to:
//   1. Each id is one segment; an unset id is Airavata's "not set" sentinel DO_NOT_SET_AT_CLIENTS.
//   2. Every "." in an id becomes "_" (a dot separates segments).
//   3. Each segment has a fixed budget of UTF-8 bytes (SEGMENT_BUDGET_BYTES): gatewayId 40,
//      experimentId 80, processId 48, taskId 44, jobId 36. A segment within its budget is kept as
//      it is; Airavata's own ids (PROCESS_<uuid>, TASK_<uuid>, an experiment name of up to 43
//      characters plus _<uuid>) and our job ids (UUIDs) fit theirs.
//   4. A longer segment becomes <prefix>~<hash>: <hash> is the first 16 lowercase hex digits of
//      the SHA-256 of the id as given (its UTF-8 bytes, dots kept), and <prefix> is the longest run
//      of whole characters from the start of the segment of step 2 that fits in budget - 17 bytes.
// The budgets add up to 248 bytes, so a key is at most 248 + 4 dots = 252 bytes. Each segment
// depends on its own id alone: a binding such as `gw.#` or `*.*.*.*.<jobId>` matches every event
// of that gateway or job whatever the other ids are.
import { createHash } from 'node:crypto';
import { base } from '../rpc/wire';

/** AMQP carries a routing key as a short string: at most 255 bytes. */
export const ROUTING_KEY_MAX_BYTES = 255;

export const SEGMENT_BUDGET_BYTES = {
  gatewayId: 40,
  experimentId: 80,
  processId: 48,
  taskId: 44,
  jobId: 36,
} as const;

/** The ids a key is made of, in key order. */
export interface RoutingKeyIds {
  gatewayId: string;
  experimentId?: string;
  processId?: string;
  taskId?: string;
  jobId: string;
}

const KEY_ORDER = ['gatewayId', 'experimentId', 'processId', 'taskId', 'jobId'] as const;

/** 64 bits of the hash: tells apart the ids that share a prefix, with room left for the prefix. */
const HASH_HEX_DIGITS = 16;
const SHORTENED_MARK = '~';

/** The longest start of `text` made of whole characters (never half a UTF-8 sequence) within maxBytes. */
function utf8Prefix(text: string, maxBytes: number): string {
  let prefix = '';
  let bytes = 0;
  // for..of walks code points, so a surrogate pair is taken or left as a whole.
  for (const character of text) {
    const size = Buffer.byteLength(character, 'utf8');
    if (bytes + size > maxBytes) break;
    prefix += character;
    bytes += size;
  }
  return prefix;
}

/** One segment of the key: steps 1 to 4 of the rule above for one id and its budget. */
export function routingKeySegment(id: string | undefined, budgetBytes: number): string {
  const original = id ?? base.DEFAULT_ID;
  const segment = original.replaceAll('.', '_');
  if (Buffer.byteLength(segment, 'utf8') <= budgetBytes) return segment;
  const hash = createHash('sha256').update(original, 'utf8').digest('hex').slice(0, HASH_HEX_DIGITS);
  const prefix = utf8Prefix(segment, budgetBytes - SHORTENED_MARK.length - HASH_HEX_DIGITS);
  return `${prefix}${SHORTENED_MARK}${hash}`;
}

/** `gatewayId.experimentId.processId.taskId.jobId`, each segment within its budget. */
export function jobRoutingKey(ids: RoutingKeyIds): string {
  return KEY_ORDER.map((name) => routingKeySegment(ids[name], SEGMENT_BUDGET_BYTES[name])).join('.');
}
