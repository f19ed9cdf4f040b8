// The build's progress, folded from the cluster's events (getClusterEvents) alone, so a watcher that
// starts late or reconnects replays to the same picture. Pure: no I/O, unit-tested.
//
// Events (src/workflows/clusterWorkflow.ts): `state` ("READY: reason"), `step` ("configure:
// slurm.yml started" / "... successful in 12 s, 3 changed"), `provider`, `verify`, `task_start`
// (a task begins on every host; no host given) and `task` (one host's result: "ok: ...",
// "changed: ...", "skipped: ...", "failed: <message>", "unreachable: <message>").
import type { EventView } from '../views';

export type TaskOutcome = 'ok' | 'changed' | 'skipped' | 'failed' | 'unreachable';
const OUTCOMES: readonly TaskOutcome[] = ['ok', 'changed', 'skipped', 'failed', 'unreachable'];

export interface HostProgress {
  host: string;
  /** Tasks with a result on this host in the current playbook run. */
  done: number;
  ok: number;
  changed: number;
  skipped: number;
  failed: number;
  unreachable: number;
  currentTask?: string;
  lastOutcome?: TaskOutcome;
}

/** Something worth a line of its own as it happens. */
export type Happening =
  | { type: 'state'; time: number; state: string; reason: string }
  | { type: 'step'; time: number; message: string }
  | { type: 'note'; time: number; kind: string; message: string }
  | { type: 'task-start'; time: number; task: string }
  | { type: 'task-done'; time: number; host: string; task: string; outcome: TaskOutcome; message: string; done: number; total: number };

export interface StateChange {
  state: string;
  time: number;
}

function emptyHost(host: string): HostProgress {
  return { host, done: 0, ok: 0, changed: 0, skipped: 0, failed: 0, unreachable: 0 };
}

/** "failed: boom: more" -> outcome "failed", message "boom: more"; unknown prefixes count as ok. */
export function parseTaskResult(message: string): { outcome: TaskOutcome; message: string } {
  const colon = message.indexOf(':');
  const head = (colon < 0 ? message : message.slice(0, colon)).trim();
  const rest = colon < 0 ? '' : message.slice(colon + 1).trim();
  const outcome = OUTCOMES.find((o) => o === head);
  return outcome ? { outcome, message: rest } : { outcome: 'ok', message: message.trim() };
}

export class BuildProgress {
  private readonly hostMap = new Map<string, HostProgress>();
  private readonly states: StateChange[] = [];
  lastSeq = 0;
  step?: string;

  /** Hosts in the order the cluster lists its nodes; hosts first seen in events are added after. */
  constructor(hosts: readonly string[] = []) {
    for (const host of hosts) this.hostMap.set(host, emptyHost(host));
  }

  get hosts(): HostProgress[] {
    return [...this.hostMap.values()];
  }

  /** The expected task count: the most any host has done so far in this run. */
  get total(): number {
    return Math.max(0, ...this.hosts.map((h) => h.done));
  }

  get stateChanges(): readonly StateChange[] {
    return this.states;
  }

  private host(name: string): HostProgress {
    let entry = this.hostMap.get(name);
    if (!entry) {
      entry = emptyHost(name);
      this.hostMap.set(name, entry);
    }
    return entry;
  }

  /** Folds one event in (events at or below lastSeq are ignored) and says what to show for it. */
  apply(event: EventView): Happening[] {
    if (event.seq <= this.lastSeq) return [];
    this.lastSeq = event.seq;
    const { time } = event;
    switch (event.kind) {
      case 'state': {
        const colon = event.message.indexOf(':');
        const state = (colon < 0 ? event.message : event.message.slice(0, colon)).trim();
        const reason = colon < 0 ? '' : event.message.slice(colon + 1).trim();
        this.states.push({ state, time });
        return [{ type: 'state', time, state, reason }];
      }
      case 'step': {
        const started = /^(\S+): \S+ started$/.exec(event.message);
        if (started) {
          // A new playbook run (a retry after a restart, or the teardown): count it afresh.
          this.step = started[1];
          for (const name of this.hostMap.keys()) this.hostMap.set(name, emptyHost(name));
        }
        return [{ type: 'step', time, message: event.message }];
      }
      case 'task_start': {
        const task = event.task ?? event.message;
        const targets = event.host ? [this.host(event.host)] : this.hosts;
        for (const h of targets) h.currentTask = task;
        return [{ type: 'task-start', time, task }];
      }
      case 'task': {
        if (!event.host) return [{ type: 'note', time, kind: event.kind, message: event.message }];
        const h = this.host(event.host);
        const { outcome, message } = parseTaskResult(event.message);
        h.done += 1;
        h[outcome] += 1;
        h.lastOutcome = outcome;
        const task = event.task ?? h.currentTask ?? '';
        h.currentTask = task;
        return [{ type: 'task-done', time, host: h.host, task, outcome, message, done: h.done, total: this.total }];
      }
      default:
        return [{ type: 'note', time, kind: event.kind, message: event.message }];
    }
  }
}
