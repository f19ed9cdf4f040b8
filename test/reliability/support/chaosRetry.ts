// A client call made the way a careful client makes it against a service that may crash at any
// moment: on a lost connection (refused while the service is down, closed under a call in flight)
// or no answer in time, the same call again, until it is answered. What the service answers on
// purpose (an invalid request, not found, not allowed) is the caller's to handle and is not retried.
// A system exception is retried too (a service that has just started may not be ready for
// everything), and counted, so the suite can print and judge how many there were.
import { base, ms } from '../../../src/rpc/wire';
import { sleep } from '../../support/until';

export interface RetryTally {
  /** Calls repeated after a transport failure (refused, dropped, timed out). */
  transport: number;
  /** Calls repeated after an AiravataSystemException: "message" -> how often. */
  system: Map<string, number>;
}

export function newTally(): RetryTally {
  return { transport: 0, system: new Map() };
}

/** Answers the service gives on purpose: thrown to the caller as they are. */
export function isDeclaredRefusal(error: unknown): boolean {
  return error instanceof base.InvalidRequestException || error instanceof base.AuthorizationException
    || error instanceof base.AiravataClientException || error instanceof ms.NotFoundException;
}

export interface RetryOptions {
  tally: RetryTally;
  /** Give up (throw, naming the call and the last error) after this long. */
  deadlineMs: number;
  /** One attempt with no answer this long counts as lost. */
  attemptTimeoutMs?: number;
  /** Pause between attempts. */
  pauseMs?: number;
  /** Checked before each retry: true stops retrying (the run is failing elsewhere). */
  abandoned?: () => boolean;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export async function retried<T>(what: string, call: () => Promise<T>, options: RetryOptions): Promise<T> {
  const deadline = Date.now() + options.deadlineMs;
  for (;;) {
    let failure: unknown;
    try {
      return await withTimeout(call(), options.attemptTimeoutMs ?? 30_000, what);
    } catch (error) {
      if (isDeclaredRefusal(error)) throw error;
      failure = error;
    }
    if (failure instanceof base.AiravataSystemException) {
      const key = failure.message ?? '(no message)';
      options.tally.system.set(key, (options.tally.system.get(key) ?? 0) + 1);
    } else {
      options.tally.transport += 1;
    }
    if (options.abandoned?.()) throw new Error(`${what}: abandoned (the run failed elsewhere)`);
    if (Date.now() > deadline) {
      const reason = failure instanceof Error ? failure.message : JSON.stringify(failure);
      throw new Error(`${what}: still not answered after ${options.deadlineMs} ms; last error: ${reason}`);
    }
    await sleep(options.pauseMs ?? 150);
  }
}
