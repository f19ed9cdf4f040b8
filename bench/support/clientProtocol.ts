// What bench/rpc and its client processes (bench/rpcClients.ts) say to each other over the fork IPC
// channel. The channel uses the "advanced" serialization so latency samples cross as a Float64Array.
import type { ThriftTransport } from '../../src/config';

export type ScenarioName = 'raw no-op' | 'getAPIVersion' | 'submitJob' | 'getJob';

export interface RunPlan {
  scenario: ScenarioName;
  transport: ThriftTransport;
  host: string;
  /** One port per connection this process opens: spreading over replicas is decided by the bench process. */
  ports: number[];
  /** Index of this process's first connection among all of the run's, so job names and tokens never collide. */
  firstConnection: number;
  accessToken: string;
  gatewayId: string;
  /** Jobs the getJob scenario reads. */
  jobIds: string[];
  /** Makes every submitJob's clientToken unique across runs of one bench. */
  runTag: string;
  /** Latency slots for this process's share of the run. */
  sampleCapacity: number;
  /** How long after the window a call may still be waited for. */
  stallMs: number;
}

/** Times are epoch milliseconds with sub-millisecond precision (see epochNow), comparable across processes. */
export interface Go {
  type: 'go';
  /** When the loops start (warm-up begins). */
  startAt: number;
  measureStart: number;
  measureEnd: number;
}

export type ToClientProcess = { type: 'prepare'; plan: RunPlan } | Go | { type: 'abort' };

export interface ClientReport {
  /** Calls started inside the window that completed: recorded samples plus overflow. */
  calls: number;
  /** Latencies (ms) of those calls, unsorted. */
  samples: Float64Array;
  overflow: number;
  errors: number;
  /** Connections still waiting for a reply stallMs after the window. */
  stalled: number;
  firstError?: string;
  /** When the last call counted in the window completed; 0 when none did. */
  lastDone: number;
}

export type FromClientProcess =
  | { type: 'ready' }
  | { type: 'prepared' }
  | { type: 'result'; report: ClientReport }
  | { type: 'failed'; error: string };

/**
 * Wall-clock time with performance.now()'s resolution. Every process reads the same system clock
 * for its timeOrigin, so a window set by the bench process means the same instants in its clients.
 */
export function epochNow(): number {
  return performance.timeOrigin + performance.now();
}
