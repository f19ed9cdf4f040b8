// ansible-runner's job events (one JSON object per line of `ansible-runner run --json` stdout, the
// same objects it writes to artifacts/<ident>/job_events/<counter>-<uuid>.json) -> our AnsibleEvent.
import type { AnsibleEvent, AnsibleFailure, HostStats } from './runner';
import type { SecretSet } from './secrets';

/** A failure message is the task's own words, trimmed so one event never floods a log or a row. */
export const MESSAGE_LIMIT = 500;

export interface RunnerEvent {
  event: string;
  counter: number;
  created?: string;
  stdout?: string;
  event_data?: EventData;
}

interface EventData {
  play?: string;
  name?: string;
  task?: string;
  host?: string;
  ignore_errors?: boolean | null;
  res?: Record<string, unknown>;
  // playbook_on_stats: per-host counters
  ok?: Record<string, number>;
  changed?: Record<string, number>;
  failures?: Record<string, number>;
  dark?: Record<string, number>;
  skipped?: Record<string, number>;
  ignored?: Record<string, number>;
  rescued?: Record<string, number>;
  processed?: Record<string, number>;
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

function trimMessage(text: string): string {
  const oneLine = text.replace(/\r/g, '').trim();
  return oneLine.length > MESSAGE_LIMIT ? `${oneLine.slice(0, MESSAGE_LIMIT - 1)}…` : oneLine;
}

/**
 * The task's own explanation of a failure: `msg`, and for a failed command its stderr (else stdout),
 * since "non-zero return code" alone says nothing; for a loop, the first failed item's.
 */
export function failureMessage(res: Record<string, unknown> | undefined): string {
  if (!res) return 'failed (no result)';
  if (typeof res.censored === 'string') return res.censored; // no_log: true
  const msg = str(res.msg);
  const stderr = str(res.stderr).trim();
  const stdout = str(res.stdout).trim();
  const output = stderr || stdout || str(res.module_stderr).trim() || str(res.module_stdout).trim();
  let text = msg;
  if (output) text = msg ? `${msg}${typeof res.rc === 'number' ? ` (rc ${res.rc})` : ''}: ${output}` : output;
  if (Array.isArray(res.results)) {
    const item = res.results.find((r): r is Record<string, unknown> => r !== null && typeof r === 'object' && (r as Record<string, unknown>).failed === true);
    if (item) text = `${text ? `${text}: ` : ''}${failureMessage(item)}`;
  }
  return text || 'failed';
}

function eventTime(created: string | undefined): number {
  // ansible-runner stamps events with datetime.utcnow().isoformat(): UTC without a zone suffix.
  const t = created ? Date.parse(`${created}Z`) : NaN;
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
    const data = ev.event_data ?? {};
    const time = eventTime(ev.created);
    const base = { time, play: data.play, task: data.task, host: data.host };
    const mask = (s: string): string => trimMessage(this.secrets.mask(s));
    switch (ev.event) {
      case 'playbook_on_play_start':
        return { kind: 'play_start', time, play: data.name ?? data.play, message: mask(data.name ?? data.play ?? '') };
      case 'playbook_on_task_start':
      case 'playbook_on_handler_task_start':
        return { kind: 'task_start', time, play: data.play, task: data.task ?? data.name, message: mask(data.task ?? data.name ?? '') };
      case 'runner_on_ok':
        return data.res?.changed === true ? { ...base, kind: 'task_changed', message: 'changed' } : { ...base, kind: 'task_ok', message: 'ok' };
      case 'runner_on_skipped':
        return { ...base, kind: 'task_skipped', message: 'skipped' };
      case 'runner_on_failed': {
        const message = mask(failureMessage(data.res));
        // ignore_errors: the play goes on and Ansible counts it as ignored, not failed.
        if (data.ignore_errors) return { ...base, kind: 'task_ok', message: `failed, ignored: ${message}` };
        this.failures.push({ host: data.host, task: data.task, message, unreachable: false });
        return { ...base, kind: 'task_failed', message };
      }
      case 'runner_on_unreachable': {
        const message = mask(`${data.host ?? 'host'} unreachable: ${failureMessage(data.res)}`);
        this.failures.push({ host: data.host, task: data.task, message, unreachable: true });
        return { ...base, kind: 'host_unreachable', message };
      }
      case 'playbook_on_stats':
        return { kind: 'stats', time, message: this.takeStats(data) };
      case 'verbose':
      case 'error':
        if (ev.stdout?.trim()) {
          this.verboseTail.push(mask(ev.stdout));
          if (this.verboseTail.length > 10) this.verboseTail.shift();
        }
        return undefined;
      default:
        return undefined;
    }
  }

  private takeStats(data: EventData): string {
    this.sawStats = true;
    const hosts = new Set<string>();
    for (const key of ['processed', 'ok', 'changed', 'failures', 'dark', 'skipped'] as const) {
      for (const h of Object.keys(data[key] ?? {})) hosts.add(h);
    }
    this.hostStats = {};
    this.changed = 0;
    for (const h of [...hosts].sort()) {
      const s: HostStats = {
        ok: data.ok?.[h] ?? 0,
        changed: data.changed?.[h] ?? 0,
        failures: data.failures?.[h] ?? 0,
        unreachable: data.dark?.[h] ?? 0,
        skipped: data.skipped?.[h] ?? 0,
      };
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
