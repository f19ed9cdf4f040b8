// Waiting that ends early when the service stops: the step is run again after the restart, so an
// interrupted wait throws instead of pretending the thing waited for happened.

/** Thrown when the context's signal aborts a wait; not a ProviderError, so the workflow reruns the step. */
export class Interrupted extends Error {
  constructor(what: string) {
    super(`${what}: interrupted by the service stopping`);
    this.name = 'Interrupted';
  }
}

export function pause(ms: number, signal: AbortSignal | undefined, what: string): Promise<void> {
  if (signal?.aborted) return Promise.reject(new Interrupted(what));
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new Interrupted(what));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
