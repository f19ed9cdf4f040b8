// Job-status records for Airavata's real-time monitor, through a Confluent Kafka REST proxy (v2
// API): POST /topics/<topic> with {"records":[{"key": jobId, "value": {...}}]}.
import { maskUrl } from '../log';
import { kafkaRecord, type JobEvent, type KafkaJobRecord } from './jobStatusMessage';
import { asError, scrubSecrets, type Delivery, type EventSink } from './sink';

export interface KafkaRestSinkOptions {
  /** The proxy's base URL, e.g. http://kafka-rest:8082; user:password in it becomes Basic auth. */
  url: string;
  topic: string;
  timeoutMs?: number;
}

/** The v2 proxy's answer: one offset per record, in order, each with its own error. */
interface ProduceResponse {
  offsets?: { error_code?: number | null; error?: string | null }[];
}

/**
 * The v2 proxy's per-record code for a Kafka error its producer will not retry (a record too large,
 * an invalid record); 50003 is a retriable one.
 */
const NON_RETRIABLE_RECORD_ERROR = 50002;

/** null: the proxy took the record; otherwise why not, and whether the record itself is at fault. */
type RecordOutcome = null | { error: Error; permanent: boolean };

export class KafkaRestSink implements EventSink {
  readonly name = 'kafka-rest';
  private readonly endpoint: string;
  private readonly authorization: string | undefined;
  private readonly timeoutMs: number;

  constructor(private readonly options: KafkaRestSinkOptions) {
    // fetch refuses a URL with credentials in it: move them into a header.
    const url = new URL(options.url);
    this.authorization = url.username || url.password
      ? `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`
      : undefined;
    url.username = '';
    url.password = '';
    this.endpoint = `${url.toString().replace(/\/+$/, '')}/topics/${encodeURIComponent(options.topic)}`;
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  get where(): string {
    return maskUrl(this.options.url);
  }

  async prepare(): Promise<void> {
    // Stateless HTTP: nothing to open.
  }

  async deliver(events: readonly JobEvent[]): Promise<Delivery> {
    const records = events.map(kafkaRecord);
    const sent = records.filter((record): record is KafkaJobRecord => record !== undefined);
    // Events without a record (no Airavata task) are not for this sink: taken as they are.
    let recordOutcomes: RecordOutcome[] = [];
    if (sent.length > 0) {
      try {
        recordOutcomes = await this.post(events.filter((_, index) => records[index] !== undefined), sent);
      } catch (error) {
        recordOutcomes = sent.map(() => ({ error: asError(error), permanent: false }));
      }
    }
    // Per event, why the proxy did not take it; undefined when it did, or when it has no record.
    const refusals: (Exclude<RecordOutcome, null> | undefined)[] = [];
    let next = 0;
    for (const record of records) {
      if (record === undefined) {
        refusals.push(undefined);
        continue;
      }
      const outcome = recordOutcomes[next];
      next += 1;
      refusals.push(outcome === null ? undefined : outcome ?? { error: new Error('no answer for the record'), permanent: false });
    }
    const rejected = new Map<number, Error>();
    refusals.forEach((refusal, index) => {
      const event = events[index];
      if (refusal?.permanent && event) rejected.set(event.id, refusal.error);
    });
    const found = rejected.size > 0 ? { rejected } : {};
    const stop = refusals.findIndex((refusal) => refusal !== undefined && !refusal.permanent);
    if (stop < 0) return { delivered: events.length, ...found };
    return { delivered: stop, error: refusals[stop]?.error ?? new Error('no answer for the record'), ...found };
  }

  async close(): Promise<void> {
    // Nothing held open.
  }

  /** One request for the batch; the outcome of each record, in order. */
  private async post(events: readonly JobEvent[], values: readonly KafkaJobRecord[]): Promise<RecordOutcome[]> {
    const response = await fetch(this.endpoint, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/vnd.kafka.json.v2+json',
        Accept: 'application/vnd.kafka.v2+json',
        ...(this.authorization ? { Authorization: this.authorization } : {}),
      },
      // Keyed by job: Kafka keeps order per partition, and one key always maps to one partition.
      body: JSON.stringify({ records: values.map((value, index) => ({ key: events[index]?.jobId, value })) }),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    const text = await response.text();
    if (!response.ok) {
      // The request as a whole was refused: it does not say which record, if any, is at fault.
      const error = new Error(`Kafka REST proxy answered ${response.status}: ${scrubSecrets(text.slice(0, 200), this.options.url)}`);
      return values.map(() => ({ error, permanent: false }));
    }
    let parsed: ProduceResponse = {};
    try {
      parsed = JSON.parse(text) as ProduceResponse;
    } catch {
      // A 2xx without the v2 body: the proxy took the request as a whole.
    }
    const offsets = parsed.offsets;
    if (!Array.isArray(offsets) || offsets.length !== values.length) return values.map(() => null);
    // A non-retriable refusal is the record's own fault only when the same request got others
    // through: when every record is refused, the proxy or the cluster is what is wrong, and
    // parking would throw away events during an outage.
    const someTaken = offsets.some((offset) => !offset?.error_code);
    return offsets.map((offset): RecordOutcome => (offset?.error_code
      ? {
        error: new Error(`Kafka refused a record (error ${offset.error_code}): ${offset.error ?? ''}`),
        permanent: someTaken && offset.error_code === NON_RETRIABLE_RECORD_ERROR,
      }
      : null));
  }
}
