// Two ways to show a watch: live bars (cli-progress, one per host) when the stream is a terminal,
// and plain timestamped lines otherwise (CI logs, pipes, tests), where redrawing would only garble.
import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import { failureLine } from '../format';
import { clockTime, duration, table, type TextSink } from '../output';
import type { ClusterView } from '../views';
import type { BuildProgress, Happening, HostProgress } from './progress';
import type { WatchRenderer, WatchSummary } from './watcher';

function happeningLine(h: Happening): string | undefined {
  const at = `[${clockTime(h.time)}]`;
  switch (h.type) {
    case 'state':
      return `${at} state ${h.state}${h.reason ? `: ${h.reason}` : ''}`;
    case 'step':
      return `${at} step ${h.message}`;
    case 'note':
      return `${at} ${h.kind} ${h.message}`;
    case 'task-start':
      return `${at} task ${JSON.stringify(h.task)}`;
    case 'task-done': {
      const progress = `${h.host} ${h.done}/${h.total}`;
      if (h.outcome === 'failed' || h.outcome === 'unreachable') {
        return `${at} ${progress} ${h.outcome.toUpperCase()} ${JSON.stringify(h.task)}: ${h.message}`;
      }
      return `${at} ${progress} ${h.outcome} ${JSON.stringify(h.task)}`;
    }
  }
}

function heading(cluster: ClusterView, progress: BuildProgress): string {
  const hosts = progress.hosts.map((h) => h.host).join(', ') || 'none yet';
  return `watching cluster ${cluster.clusterId} "${cluster.name}" (${cluster.state}); hosts: ${hosts}`;
}

export function summaryText(summary: WatchSummary): string {
  const took = summary.durationMs === undefined ? '' : ` after ${duration(summary.durationMs)}`;
  const lines = [`cluster ${summary.clusterId} "${summary.name}" ${summary.state}${took}${summary.stateReason ? `: ${summary.stateReason}` : ''}`];
  if (summary.hosts.length > 0) {
    lines.push(table(['HOST', 'TASKS', 'OK', 'CHANGED', 'SKIPPED', 'FAILED', 'UNREACHABLE'], summary.hosts.map((h) => [
      h.host, String(h.tasks), String(h.ok), String(h.changed), String(h.skipped), String(h.failed), String(h.unreachable),
    ])));
  }
  if (summary.failures.length > 0) {
    lines.push('failures:', ...summary.failures.map((f) => `  ${failureLine(f)}`));
  }
  return lines.join('\n');
}

/** One line per happening; never moves the cursor. */
export class PlainRenderer implements WatchRenderer {
  constructor(private readonly out: TextSink) {}

  start(cluster: ClusterView, progress: BuildProgress): void {
    this.out.write(`${heading(cluster, progress)}\n`);
  }

  update(happenings: readonly Happening[]): void {
    for (const h of happenings) {
      const line = happeningLine(h);
      if (line) this.out.write(`${line}\n`);
    }
  }

  finish(summary: WatchSummary): void {
    this.out.write(`${summaryText(summary)}\n`);
  }
}

type TtyStream = NodeJS.WritableStream & { isTTY?: boolean };

/** A bar per host (done/total and the current task); events worth reading are logged above them. */
export class BarsRenderer implements WatchRenderer {
  private readonly multibar: MultiBar;
  private readonly bars = new Map<string, SingleBar>();
  private hostWidth = 8;

  constructor(private readonly stream: TtyStream) {
    this.multibar = new MultiBar({
      stream: stream as NodeJS.WritableStream,
      format: '{host} |{bar}| {value}/{total} {status} {task}',
      barsize: 24,
      hideCursor: false,
      clearOnComplete: false,
      autopadding: true,
      fps: 5,
    }, Presets.shades_classic);
  }

  private payload(h: HostProgress): Record<string, string> {
    return {
      host: h.host.padEnd(this.hostWidth),
      status: (h.lastOutcome ?? 'waiting').padEnd(11),
      task: h.currentTask ?? '',
    };
  }

  private sync(progress: BuildProgress): void {
    this.hostWidth = Math.max(8, ...progress.hosts.map((h) => h.host.length));
    const total = Math.max(1, progress.total);
    for (const h of progress.hosts) {
      let bar = this.bars.get(h.host);
      if (!bar) {
        bar = this.multibar.create(total, h.done, this.payload(h));
        this.bars.set(h.host, bar);
      }
      bar.setTotal(total);
      bar.update(h.done, this.payload(h));
    }
  }

  start(cluster: ClusterView, progress: BuildProgress): void {
    this.multibar.log(`${heading(cluster, progress)}\n`);
    this.sync(progress);
  }

  update(happenings: readonly Happening[], progress: BuildProgress): void {
    for (const h of happenings) {
      // Task results are what the bars show; only failures deserve a line of their own.
      if (h.type === 'task-start' || (h.type === 'task-done' && h.outcome !== 'failed' && h.outcome !== 'unreachable')) continue;
      const line = happeningLine(h);
      if (line) this.multibar.log(`${line}\n`);
    }
    this.sync(progress);
  }

  finish(summary: WatchSummary): void {
    this.multibar.stop();
    this.stream.write(`${summaryText(summary)}\n`);
  }
}

/** Bars on a terminal, plain lines anywhere else (or when CI is set, as CI logs are not terminals). */
export function rendererFor(stream: TtyStream, env: Record<string, string | undefined>): WatchRenderer {
  return stream.isTTY && !env.CI && env.TERM !== 'dumb' ? new BarsRenderer(stream) : new PlainRenderer(stream);
}

const SILENT: WatchRenderer = { start: () => undefined, update: () => undefined, finish: () => undefined };

/**
 * With --json stdout carries only the final JSON: progress goes to stderr, and only when that is a
 * terminal someone watches (in a pipe it would just be noise around the error line).
 */
export function watchRenderer(
  json: boolean, stdout: TtyStream, stderr: TtyStream, env: Record<string, string | undefined>,
): WatchRenderer {
  if (!json) return rendererFor(stdout, env);
  return stderr.isTTY && !env.CI ? new BarsRenderer(stderr) : SILENT;
}
