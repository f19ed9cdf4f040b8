// Groups concurrent requests into one database round trip. Under load, a statement per call spends
// most of its time in the round trip and the backend's wake-up, not in the work: N calls that
// arrive together become one statement, and each caller still gets its own answer or its own error.
//
// No timer is involved: requests that arrive while the previous batches are still running wait
// for one of them to finish and then go together. With nothing running, a request goes at the
// next turn of the event loop (with whatever else arrived in the same turn), so a lone caller
// waits for nothing. The number of batches running at once is bounded, which is what makes
// batches grow with the load instead of every call taking a pool connection of its own.

export interface BatcherOptions {
  /** At most this many requests in one batch. */
  maxItems: number;
  /** At most this many batches running at once. */
  maxInFlight: number;
}

/**
 * One batch's work: an answer for every request, in the same order; an Error in a slot fails
 * that request alone. When it throws, each request is run again alone (so it must be safe to run
 * twice), and the error of that lone run is the request's answer.
 */
export type BatchWork<I, O> = (items: readonly I[]) => Promise<readonly (O | Error)[]>;

interface Pending<I, O> {
  item: I;
  resolve(value: O): void;
  reject(error: unknown): void;
}

export class Batcher<I, O> {
  private queue: Pending<I, O>[] = [];
  private inFlight = 0;
  private flushScheduled = false;

  constructor(private readonly work: BatchWork<I, O>, private readonly options: BatcherOptions) {
    if (options.maxItems < 1 || options.maxInFlight < 1) throw new Error('Batcher: maxItems and maxInFlight must be at least 1');
  }

  run(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.scheduleFlush();
    });
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.inFlight >= this.options.maxInFlight) return;
    this.flushScheduled = true;
    // setImmediate, not a microtask: calls whose bytes arrived in the same read of the sockets
    // are all handled before it runs, so they share the batch.
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    while (this.queue.length > 0 && this.inFlight < this.options.maxInFlight) {
      const batch = this.queue.splice(0, this.options.maxItems);
      this.inFlight += 1;
      void this.runBatch(batch).finally(() => {
        this.inFlight -= 1;
        if (this.queue.length > 0) this.scheduleFlush();
      });
    }
  }

  private async runBatch(batch: Pending<I, O>[]): Promise<void> {
    let answers: readonly (O | Error)[];
    try {
      answers = await this.work(batch.map((pending) => pending.item));
    } catch (error) {
      // One bad request must not fail the others that happened to share its statement: each is
      // tried again alone, and only its own failure reaches it. Work is therefore required to be
      // safe to repeat (reads, and inserts that skip what is already stored).
      if (batch.length === 1) batch[0].reject(error);
      else await Promise.all(batch.map((pending) => this.runBatch([pending])));
      return;
    }
    if (answers.length !== batch.length) {
      const error = new Error(`batch answered ${answers.length} of ${batch.length} requests`);
      for (const pending of batch) pending.reject(error);
      return;
    }
    batch.forEach((pending, i) => {
      const answer = answers[i];
      if (answer instanceof Error) pending.reject(answer);
      else pending.resolve(answer);
    });
  }
}
