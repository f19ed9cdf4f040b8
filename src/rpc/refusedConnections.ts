// Connections refused for being over THRIFT_MAX_CONNECTIONS, logged at most once per interval with
// how many were refused since the last line: a flood of connections must not become a flood of logs.
import type { Logger } from '../log';

export class RefusedConnections {
  private refused = 0;
  private lastLine = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly log: Logger, private readonly maxConnections: number, private readonly intervalMs = 1000) {}

  record(): void {
    this.refused += 1;
    if (this.timer !== undefined) return;
    const wait = this.lastLine + this.intervalMs - performance.now();
    if (wait <= 0) {
      this.report();
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.report();
    }, wait);
    this.timer.unref();
  }

  /** Reports what is still uncounted; for shutdown. */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.refused > 0) this.report();
  }

  private report(): void {
    this.lastLine = performance.now();
    this.log.warn({ refused: this.refused, maxConnections: this.maxConnections },
      `THRIFT_MAX_CONNECTIONS reached: refused ${this.refused} new connection(s)`);
    this.refused = 0;
  }
}
