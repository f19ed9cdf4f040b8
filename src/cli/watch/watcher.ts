// Follows a cluster until its build (or teardown) ends: polls getClusterEvents(afterSeq) and
// getCluster about once a second, folds the events into BuildProgress for the renderer, and ends
// with a summary and the exit code the outcome means.
import { setTimeout as delay } from 'node:timers/promises';
import Int64 from 'node-int64';
import { ExitCode } from '../exitCodes';
import type { Session } from '../session';
import { clusterView, eventView, type ClusterView, type EventView, type FailureView } from '../views';
import { BuildProgress, type Happening } from './progress';

export type WatchMode = 'build' | 'delete';

/** What the watcher reads; a Session in the CLI, a scripted double in unit tests. */
export interface ClusterSource {
  cluster(): Promise<ClusterView>;
  /** Events after `afterSeq`, in order (all pages). */
  events(afterSeq: number): Promise<EventView[]>;
}

export interface HostSummary {
  host: string;
  tasks: number;
  ok: number;
  changed: number;
  skipped: number;
  failed: number;
  unreachable: number;
}

export interface WatchSummary {
  clusterId: string;
  name: string;
  state: string;
  stateReason?: string;
  /** From the start of the build (or of the teardown) to the state it ended in. */
  durationMs?: number;
  hosts: HostSummary[];
  failures: FailureView[];
}

export interface WatchRenderer {
  start(cluster: ClusterView, progress: BuildProgress): void;
  update(happenings: readonly Happening[], progress: BuildProgress, cluster: ClusterView): void;
  finish(summary: WatchSummary): void;
}

export interface WatchOptions {
  mode: WatchMode;
  intervalMs: number;
  renderer: WatchRenderer;
  sleep?: (ms: number) => Promise<unknown>;
}

export interface WatchResult {
  summary: WatchSummary;
  exitCode: ExitCode;
}

/** The exit code once the watch is over, or undefined while the cluster is still on its way. */
export function outcomeOf(mode: WatchMode, state: string): ExitCode | undefined {
  if (mode === 'delete') {
    if (state === 'TERMINATED') return ExitCode.Ok;
    if (state === 'FAILED') return ExitCode.Failed;
    return undefined;
  }
  if (state === 'READY' || state === 'SCALING') return ExitCode.Ok;
  // DEGRADED: built once but unhealthy now; TERMINATED: deleted before it was ever READY.
  if (state === 'FAILED' || state === 'TERMINATED' || state === 'DEGRADED') return ExitCode.Failed;
  return undefined;
}

const EVENT_PAGE = 1000;

export function sessionSource(session: Session, clusterId: string): ClusterSource {
  return {
    cluster: async () => clusterView(await session.call((c, authz) => c.cluster.getCluster(authz, clusterId))),
    events: async (afterSeq) => {
      const all: EventView[] = [];
      let after = afterSeq;
      for (;;) {
        const page = await session.call((c, authz) => c.cluster.getClusterEvents(authz, clusterId, new Int64(after)));
        const views = page.map(eventView);
        all.push(...views);
        if (views.length < EVENT_PAGE) return all;
        after = views[views.length - 1].seq;
      }
    },
  };
}

function summarize(mode: WatchMode, cluster: ClusterView, progress: BuildProgress, failuresBefore: number): WatchSummary {
  const states = progress.stateChanges;
  const startState = mode === 'delete'
    ? [...states].reverse().find((s) => s.state === 'TEARING_DOWN')
    : states.find((s) => s.state === 'REQUESTED');
  const start = startState?.time ?? (mode === 'build' ? cluster.createdAt : undefined);
  const end = states.at(-1)?.time ?? cluster.updatedAt;
  return {
    clusterId: cluster.clusterId,
    name: cluster.name,
    state: cluster.state,
    stateReason: cluster.stateReason,
    durationMs: start !== undefined && end !== undefined ? Math.max(0, end - start) : undefined,
    hosts: progress.hosts.map((h) => ({
      host: h.host, tasks: h.done, ok: h.ok, changed: h.changed, skipped: h.skipped, failed: h.failed, unreachable: h.unreachable,
    })),
    // A delete reports the failures of its own teardown, not those of an earlier failed build.
    failures: cluster.failures.slice(failuresBefore),
  };
}

export async function watchCluster(source: ClusterSource, options: WatchOptions): Promise<WatchResult> {
  const sleep = options.sleep ?? ((ms: number) => delay(ms));
  let cluster = await source.cluster();
  const failuresBefore = options.mode === 'delete' ? cluster.failures.length : 0;
  const progress = new BuildProgress(cluster.nodes.map((n) => n.address));
  options.renderer.start(cluster, progress);
  for (let first = true; ; first = false) {
    // The cluster first, then its events: a state change is written with its event, so the events
    // read after it include everything up to that state.
    if (!first) cluster = await source.cluster();
    const events = await source.events(progress.lastSeq);
    const happenings = events.flatMap((event) => progress.apply(event));
    options.renderer.update(happenings, progress, cluster);
    const exitCode = outcomeOf(options.mode, cluster.state);
    if (exitCode !== undefined) {
      const summary = summarize(options.mode, cluster, progress, failuresBefore);
      options.renderer.finish(summary);
      return { summary, exitCode };
    }
    await sleep(options.intervalMs);
  }
}
