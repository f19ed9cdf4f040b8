// A counting semaphore: at most `limit` holders at once, the rest wait first come, first served.
// A waiter can give up (its AbortSignal), and everyone still waiting can be turned away at once.

export type Release = () => void;

interface Waiter {
  grant: (release: Release) => void;
  refuse: (error: unknown) => void;
}

export class Slots {
  private used = 0;
  private readonly waiting: Waiter[] = [];

  constructor(private readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new Error(`slot limit must be a positive integer, not ${limit}`);
  }

  /** Resolves with a release function (calling it twice releases once); rejects with signal.reason on abort. */
  acquire(signal?: AbortSignal): Promise<Release> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.used < this.limit) {
      this.used += 1;
      return Promise.resolve(this.releaser());
    }
    return new Promise<Release>((resolve, reject) => {
      const onAbort = (): void => {
        const index = this.waiting.indexOf(waiter);
        if (index >= 0) this.waiting.splice(index, 1);
        reject(signal?.reason);
      };
      const waiter: Waiter = {
        grant: (release) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(release);
        },
        refuse: (error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
      this.waiting.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Rejects every waiter with `error`; holders keep their slots until they release them. */
  refuseWaiting(error: unknown): void {
    for (const waiter of this.waiting.splice(0)) waiter.refuse(error);
  }

  get inUse(): number {
    return this.used;
  }

  private releaser(): Release {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      // The slot passes straight to the next waiter, so a newcomer cannot overtake the queue.
      if (next) next.grant(this.releaser());
      else this.used -= 1;
    };
  }
}
