// Wraps every handler method: a request id, a count of calls in flight (so SIGTERM can drain them),
// a debug log line with the duration, and the one mapping of errors to Thrift exceptions.
import { randomUUID } from 'node:crypto';
import type { Logger } from '../log';
import { toWireException } from './errors';

export class InFlight {
  private count = 0;
  private waiters: (() => void)[] = [];

  enter(): void {
    this.count += 1;
  }

  leave(): void {
    this.count -= 1;
    if (this.count === 0) for (const wake of this.waiters.splice(0)) wake();
  }

  get size(): number {
    return this.count;
  }

  /** Resolves when no call is in flight, or after timeoutMs; says which. */
  async drained(timeoutMs: number): Promise<boolean> {
    if (this.count === 0) return true;
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }
}

type Method = (...args: never[]) => unknown;

/** Returns a handler with the same type whose methods are guarded. */
export function guardHandler<T extends { [K in keyof T]: Method }>(service: string, handler: T, inFlight: InFlight, log: Logger): T {
  const guarded: Record<string, Method> = {};
  for (const [name, method] of Object.entries(handler) as [string, Method][]) {
    const qualified = `${service}.${name}`;
    guarded[name] = async (...args: never[]): Promise<unknown> => {
      const requestId = randomUUID();
      const started = performance.now();
      inFlight.enter();
      try {
        return await method(...args);
      } catch (error) {
        throw toWireException(error, requestId, qualified, log);
      } finally {
        inFlight.leave();
        if (log.isLevelEnabled('debug')) {
          log.debug({ requestId, method: qualified, ms: Math.round((performance.now() - started) * 100) / 100 }, 'call');
        }
      }
    };
  }
  return guarded as unknown as T;
}
