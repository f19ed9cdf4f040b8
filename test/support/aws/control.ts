// The test's levers on the double: injected latency, fault rules and held calls. The double asks
// these before (and, for holds, after) it applies a call's effect.
import type { FaultRule, HeldCall } from './double';
import { ApiError, type Params } from './wire';

// Statuses EC2 uses for the codes tests inject most; anything else is a client error.
const DEFAULT_STATUS: Record<string, number> = {
  RequestLimitExceeded: 503,
  InsufficientInstanceCapacity: 500,
  InsufficientAddressCapacity: 500,
  InsufficientHostCapacity: 500,
  InternalError: 500,
  ServiceUnavailable: 503,
  Unavailable: 503,
};

export type Latency = number | { min: number; max: number };

interface ActiveRule { rule: FaultRule; remaining: number }

interface PendingHold {
  action: string;
  after: boolean;
  match?: (params: Params) => boolean;
  claimed: boolean;
  params: Params;
  arrive(): void;
  release(): void;
  released: Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class Control {
  private readonly rules: ActiveRule[] = [];
  private readonly holds: PendingHold[] = [];
  private latency: Latency;
  private waitedMs = 0;

  constructor(latency: Latency = 0) {
    this.latency = latency;
  }

  setLatency(latency: Latency): void { this.latency = latency; }
  injectedWaitMs(): number { return this.waitedMs; }

  async delay(): Promise<void> {
    const { latency } = this;
    const ms = typeof latency === 'number' ? latency : latency.min + Math.random() * (latency.max - latency.min);
    if (ms <= 0) return;
    this.waitedMs += ms;
    await sleep(ms);
  }

  fail(rule: FaultRule): void {
    this.rules.push({ rule, remaining: rule.times ?? 1 });
  }

  /** The first live rule for this action whose match accepts the call, used up by one. */
  takeFault(action: string, params: Params): ApiError | undefined {
    const active = this.rules.find((r) => r.remaining > 0 && r.rule.action === action && (r.rule.match?.(params) ?? true));
    if (active === undefined) return undefined;
    active.remaining -= 1;
    const { code, message, status } = active.rule;
    return new ApiError(code, message ?? `Injected ${code}`, status ?? DEFAULT_STATUS[code] ?? 400);
  }

  hold(action: string, options: { after?: boolean; match?: (params: Params) => boolean } = {}): HeldCall {
    let arrive = (): void => {};
    let release = (): void => {};
    const arrived = new Promise<void>((resolve) => { arrive = resolve; });
    const released = new Promise<void>((resolve) => { release = resolve; });
    const pending: PendingHold = { action, after: options.after ?? false, match: options.match, claimed: false, params: {}, arrive, release, released };
    this.holds.push(pending);
    return { action, params: pending.params, arrived, release };
  }

  /** Parks the call on the first unclaimed hold for this point, until the test releases it. */
  async passHolds(action: string, params: Params, after: boolean): Promise<void> {
    const hold = this.holds.find((h) => !h.claimed && h.action === action && h.after === after && (h.match?.(params) ?? true));
    if (hold === undefined) return;
    hold.claimed = true;
    Object.assign(hold.params, params);
    hold.arrive();
    await hold.released;
  }

  /** Lets every parked call go, so closing never leaves a request hanging. */
  releaseAll(): void {
    for (const hold of this.holds) {
      hold.claimed = true;
      hold.release();
    }
  }
}
