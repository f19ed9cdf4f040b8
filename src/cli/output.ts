// Where a command's result goes: JSON on stdout with --json (and nothing else there), else text.
// Plain helpers for aligned columns and times; no colours, so output pipes and greps cleanly.

export interface TextSink {
  write(text: string): unknown;
}

export class Output {
  constructor(readonly json: boolean, private readonly out: TextSink) {}

  /** The command's result: `value` as JSON, or the text rendering of it. */
  result(value: unknown, text: () => string): void {
    if (this.json) this.out.write(`${JSON.stringify(value, null, 2)}\n`);
    else {
      const rendered = text();
      if (rendered !== '') this.out.write(rendered.endsWith('\n') ? rendered : `${rendered}\n`);
    }
  }

  /** A line of text output only (progress, notes); never mixed into JSON. */
  line(text: string): void {
    if (!this.json) this.out.write(`${text}\n`);
  }
}

/** Columns padded to the widest cell; the last column is not padded. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [headers, ...rows];
  const widths = headers.map((_, i) => Math.max(...all.map((row) => (row[i] ?? '').length)));
  return all
    .map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]))).join('  ').trimEnd())
    .join('\n');
}

/** Epoch milliseconds as an ISO-8601 UTC time to the second; "-" when unknown. */
export function isoTime(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '-';
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Local wall-clock time of day, for progress lines. */
export function clockTime(ms: number): string {
  const d = new Date(ms);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}

export function duration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '-';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

/** key: value lines with aligned values. */
export function fields(pairs: readonly (readonly [string, string | undefined])[]): string {
  const shown = pairs.filter(([, v]) => v !== undefined && v !== '') as [string, string][];
  const width = Math.max(...shown.map(([k]) => k.length));
  return shown.map(([k, v]) => `${`${k}:`.padEnd(width + 1)}  ${v}`).join('\n');
}
