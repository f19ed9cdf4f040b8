// ansible-runner's job events (one JSON object per line of `ansible-runner run --json` stdout, the
// same objects it writes to artifacts/<ident>/job_events/<counter>-<uuid>.json) -> our AnsibleEvent.
import type { AnsibleEvent, AnsibleFailure, HostStats } from './runner';
import type { SecretSet } from './secrets';

/** A failure message is the task's own words, trimmed so one event never floods a log or a row. */
export const MESSAGE_LIMIT = 500;

/**
 * One job event. parseEventLine vouches for `event` and `counter` only: the rest is whatever the
 * line held, so it is read through the checks below (a wrong type here once threw out of translate,
 * stopping the run as if its listener had failed).
 */
export interface RunnerEvent {
  event: string;
  counter: number;
  created?: unknown;
  stdout?: unknown;
  /** play, name, task, host, ignore_errors, res; for playbook_on_stats per-host counters (ok, changed, failures, dark, skipped, ...). */
  event_data?: unknown;
}

/** Parses one stdout line; undefined for anything that is not a job event (ssh-add chatter etc.). */
export function parseEventLine(line: string): RunnerEvent | undefined {
  const trimmed = line.trim();
  if (!trimmed.startsWith('{')) return undefined;
  try {
    const parsed: unknown = JSON.parse(trimmed);
    if (parsed === null || typeof parsed !== 'object') return undefined;
    const obj = parsed as Record<string, unknown>;
    if (typeof obj.event !== 'string' || typeof obj.counter !== 'number') return undefined;
    return parsed as RunnerEvent;
  } catch {
    return undefined;
  }
}

function str(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === undefined || value === null) return '';
  return JSON.stringify(value);
}

/** A JSON object (not an array), or undefined. */
function asRecord(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? value as Record<string, unknown> : undefined;
}

/** An object's own field (never one of Object.prototype's, whatever the key). */
function field(value: unknown, key: string): unknown {
  const record = asRecord(value);
  return record && Object.hasOwn(record, key) ? record[key] : undefined;
}

/** A play, task or host name: ansible-runner writes strings; a number or a flag is read as text, anything else is no name. */
function name(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  return typeof value === 'number' || typeof value === 'boolean' ? String(value) : undefined;
}

/** A per-host counter of playbook_on_stats: a whole number, else 0. */
function count(value: unknown): number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : 0;
}

/** Bounded, and storable: Postgres text refuses NUL (a task's output may hold one), shown as U+FFFD. */
function trimMessage(text: string): string {
  const oneLine = text.replace(/\r/g, '').replace(/\u0000/g, '\uFFFD').trim();
  return oneLine.length > MESSAGE_LIMIT ? `${oneLine.slice(0, MESSAGE_LIMIT - 1)}…` : oneLine;
}

/** Loop items inside loop items are followed this deep, no deeper (a line can nest thousands). */
const ITEM_DEPTH = 8;

/**
 * The task's own explanation of a failure: `msg`, and for a failed command its stderr (else stdout),
 * since "non-zero return code" alone says nothing; for a loop, the first failed item's.
 */
export function failureMessage(res: Record<string, unknown> | undefined, depth = 0): string {
  if (!res) return 'failed (no result)';
  // no_log: true (Ansible's own sentence; an empty one would say nothing at all).
  if (typeof res.censored === 'string') return res.censored || 'failed (its result is hidden: no_log)';
  const msg = str(res.msg);
  const stderr = str(res.stderr).trim();
  const stdout = str(res.stdout).trim();
  const output = stderr || stdout || str(res.module_stderr).trim() || str(res.module_stdout).trim();
  let text = msg;
  if (output) text = msg ? `${msg}${typeof res.rc === 'number' ? ` (rc ${res.rc})` : ''}: ${output}` : output;
  if (Array.isArray(res.results) && depth < ITEM_DEPTH) {
    const item = res.results.find((r): r is Record<string, unknown> => r !== null && typeof r === 'object' && (r as Record<string, unknown>).failed === true);
    if (item) text = `${text ? `${text}: ` : ''}${failureMessage(item, depth + 1)}`;
  }
  return text || 'failed';
}

function eventTime(created: unknown): number {
  // ansible-runner stamps events with datetime.utcnow().isoformat(): UTC without a zone suffix.
  const t = typeof created === 'string' && created ? Date.parse(`${created}Z`) : NaN;
  return Number.isFinite(t) ? t : Date.now();
}

/** Folds a run's events into the AnsibleEvents to publish and the figures of the result. */
export class EventTranslator {
  readonly failures: AnsibleFailure[] = [];
  hostStats: Record<string, HostStats> = {};
  changed = 0;
  sawStats = false;
  /** Last lines ansible-playbook printed outside tasks (e.g. "ERROR! ..."), for runs that fail early. */
  readonly verboseTail: string[] = [];
  private lastCounter = 0;

  constructor(private readonly secrets: SecretSet) {}

  /** Returns the event to publish, or undefined for runner events that have no AnsibleEvent. */
  translate(ev: RunnerEvent): AnsibleEvent | undefined {
    // Each event is printed once; a counter seen before would be a duplicate, never a new event.
    if (ev.counter <= this.lastCounter) return undefined;
    this.lastCounter = ev.counter;
    const data = ev.event_data;
    const time = eventTime(ev.created);
    const mask = (s: string): string => trimMessage(this.secrets.mask(s));
    // Names are shown and stored as messages are: a templated task name can carry a variable's value.
    const shown = (key: string): string | undefined => {
      const text = name(field(data, key));
      return text === undefined ? undefined : mask(text);
    };
    const [play, task, host, playName] = [shown('play'), shown('task'), shown('host'), shown('name')];
    const res = asRecord(field(data, 'res'));
    const base = { time, play, task, host };
    switch (ev.event) {
      case 'playbook_on_play_start':
        return { kind: 'play_start', time, play: playName ?? play, message: playName ?? play ?? '' };
      case 'playbook_on_task_start':
      case 'playbook_on_handler_task_start':
        return { kind: 'task_start', time, play, task: task ?? playName, message: task ?? playName ?? '' };
      case 'runner_on_ok':
        return field(res, 'changed') === true ? { ...base, kind: 'task_changed', message: 'changed' } : { ...base, kind: 'task_ok', message: 'ok' };
      case 'runner_on_skipped':
        return { ...base, kind: 'task_skipped', message: 'skipped' };
      case 'runner_on_failed': {
        const message = mask(failureMessage(res));
        // ignore_errors: the play goes on and Ansible counts it as ignored, not failed.
        if (field(data, 'ignore_errors')) return { ...base, kind: 'task_ok', message: mask(`failed, ignored: ${message}`) };
        this.failures.push({ host, task, message, unreachable: false });
        return { ...base, kind: 'task_failed', message };
      }
      case 'runner_on_unreachable': {
        const message = mask(`${host ?? 'host'} unreachable: ${failureMessage(res)}`);
        this.failures.push({ host, task, message, unreachable: true });
        return { ...base, kind: 'host_unreachable', message };
      }
      case 'playbook_on_stats':
        return { kind: 'stats', time, message: mask(this.takeStats(data)) };
      case 'verbose':
      case 'error': {
        const stdout = typeof ev.stdout === 'string' ? ev.stdout : '';
        if (stdout.trim()) {
          this.verboseTail.push(mask(stdout));
          if (this.verboseTail.length > 10) this.verboseTail.shift();
        }
        return undefined;
      }
      default:
        return undefined;
    }
  }

  private takeStats(data: unknown): string {
    this.sawStats = true;
    const counters = (key: string): Record<string, unknown> => asRecord(field(data, key)) ?? {};
    const hosts = new Set<string>();
    for (const key of ['processed', 'ok', 'changed', 'failures', 'dark', 'skipped'] as const) {
      for (const h of Object.keys(counters(key))) hosts.add(h);
    }
    this.hostStats = {};
    this.changed = 0;
    for (const h of [...hosts].sort()) {
      const of = (key: string): number => count(field(counters(key), h));
      const s: HostStats = { ok: of('ok'), changed: of('changed'), failures: of('failures'), unreachable: of('dark'), skipped: of('skipped') };
      this.hostStats[h] = s;
      this.changed += s.changed;
    }
    // A failure inside a block with `rescue` is reported as runner_on_failed too, but the stats count
    // it as rescued, not failed: drop failures of hosts the stats say neither failed nor were unreachable.
    const kept = this.failures.filter((f) => !f.host || !this.hostStats[f.host]
      || this.hostStats[f.host].failures > 0 || this.hostStats[f.host].unreachable > 0);
    this.failures.splice(0, this.failures.length, ...kept);
    return Object.entries(this.hostStats)
      .map(([h, s]) => `${h}: ok=${s.ok} changed=${s.changed} failed=${s.failures} unreachable=${s.unreachable} skipped=${s.skipped}`)
      .join('; ');
  }
}
