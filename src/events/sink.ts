// Where job-status events go. The publisher drains the outbox through every enabled sink and
// deletes an event only once each of them took it.
import type { JobEvent } from './jobStatusMessage';

/** How far a sink got with the events it was given, in order. */
export interface Delivery {
  /**
   * The number of leading events the sink is done with (a prefix: never a gap): each was taken for
   * good, or is in `rejected`.
   */
  delivered: number;
  /** Why it stopped short, when delivered < events given: a passing failure, retried later. */
  error?: Error;
  /**
   * Events this sink can never take, by outbox id, with the reason: their own content is at fault
   * (not the sink's health), so retrying them would fail forever. The publisher parks them. Never
   * reported for a sink or broker outage, which must leave every event waiting.
   */
  rejected?: ReadonlyMap<number, Error>;
}

export interface EventSink {
  /** Names the sink in logs and in the outbox's last_error. */
  readonly name: string;
  /**
   * Makes the sink ready (connects), before the publisher delivers (nothing is held in Postgres meanwhile); throws
   * when it cannot. Idempotent: a ready sink returns at once.
   */
  prepare(): Promise<void>;
  /**
   * Delivers events in the order given and reports the prefix that is durably taken. A prefix,
   * because a later event of a job must never overtake an earlier one that will be sent again.
   * An event it can never take is reported in `rejected` and does not end the prefix. Must not
   * throw for a delivery failure: it reports it.
   */
  deliver(events: readonly JobEvent[]): Promise<Delivery>;
  /** Releases connections; the sink may be prepared again afterwards. */
  close(): Promise<void>;
}

export function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/**
 * Removes a URL's password (raw and percent-decoded) from a text that may quote it, such as an
 * error message; the outbox's last_error and the log must never hold it.
 */
export function scrubSecrets(text: string, url: string): string {
  let password = '';
  try {
    password = new URL(url).password;
  } catch {
    return text.replaceAll(url, '[url]');
  }
  if (password === '') return text;
  let decoded = password;
  try {
    decoded = decodeURIComponent(password);
  } catch {
    // keep the raw form only
  }
  return text.replaceAll(password, '***').replaceAll(decoded, '***');
}
