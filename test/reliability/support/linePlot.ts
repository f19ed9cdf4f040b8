// Line charts of sampled metrics, one panel per metric on a shared time axis, as a PNG: each panel
// is scaled from 0 to its own largest value (so growth shows in proportion, whatever the unit) and
// names its metric with the smallest, largest and last value; phase markers (load start, load end)
// cross every panel as dashed lines.
import { encodePng } from './pngEncoder';
import { RasterCanvas, textWidth, type Rgb } from './rasterCanvas';

export interface PlotPanel {
  name: string;
  /** Sample times (seconds) and values; a value that could not be sampled is NaN (a gap). */
  points: readonly { t: number; v: number }[];
}

export interface PlotOptions {
  title: string;
  panels: readonly PlotPanel[];
  markers?: readonly { t: number; label: string }[];
  columns?: number;
  panelWidth?: number;
  panelHeight?: number;
}

const INK: Rgb = [30, 30, 30];
const AXIS: Rgb = [90, 90, 90];
const GRID: Rgb = [225, 225, 225];
const MARK: Rgb = [200, 60, 60];
const LINE: Rgb = [20, 90, 200];
const DOT: Rgb = [10, 40, 120];

/** A short form of a value for a 3x5 font label. */
export function compact(value: number): string {
  if (!Number.isFinite(value)) return '-';
  const magnitude = Math.abs(value);
  if (magnitude >= 1e9) return `${(value / 1e9).toFixed(1)}G`;
  if (magnitude >= 1e6) return `${(value / 1e6).toFixed(1)}M`;
  if (magnitude >= 1e4) return `${(value / 1e3).toFixed(1)}K`;
  if (Number.isInteger(value)) return String(value);
  return magnitude >= 100 ? value.toFixed(0) : value.toFixed(magnitude >= 10 ? 1 : 2);
}

/** Draws the panels into an RGB canvas (exported for tests that look at pixels). */
export function drawPlot(options: PlotOptions): RasterCanvas {
  const columns = options.columns ?? 2;
  const panelWidth = options.panelWidth ?? 460;
  const panelHeight = options.panelHeight ?? 150;
  const rows = Math.max(1, Math.ceil(options.panels.length / columns));
  const top = 30;
  const canvas = new RasterCanvas(columns * panelWidth, top + rows * panelHeight);
  canvas.text(10, 8, options.title, INK, 2);

  const times = options.panels.flatMap((p) => p.points.map((point) => point.t)).filter(Number.isFinite);
  const t0 = times.length > 0 ? Math.min(...times) : 0;
  const t1 = times.length > 0 ? Math.max(...times) : 1;
  const span = t1 > t0 ? t1 - t0 : 1;

  options.panels.forEach((panel, index) => {
    const ox = (index % columns) * panelWidth;
    const oy = top + Math.floor(index / columns) * panelHeight;
    // The plot area inside the panel: room for the label above and the time labels below.
    const left = ox + 46;
    const right = ox + panelWidth - 14;
    const upper = oy + 22;
    const lower = oy + panelHeight - 22;
    const values = panel.points.map((p) => p.v).filter(Number.isFinite);
    const max = values.length > 0 ? Math.max(...values) : 0;
    const min = values.length > 0 ? Math.min(...values) : 0;
    const last = values.length > 0 ? values[values.length - 1] : Number.NaN;
    const yTop = max > 0 ? max : 1;
    const x = (t: number): number => left + ((t - t0) / span) * (right - left);
    const y = (v: number): number => lower - (Math.max(0, v) / yTop) * (lower - upper);

    canvas.text(ox + 8, oy + 6, `${panel.name}  MIN ${compact(min)}  MAX ${compact(max)}  LAST ${compact(last)}`, INK, 2);
    for (const fraction of [0.25, 0.5, 0.75, 1]) canvas.line(left, y(yTop * fraction), right, y(yTop * fraction), GRID);
    // Axes as lines: time along the bottom, value up the left side.
    canvas.line(left, upper, left, lower, AXIS);
    canvas.line(left, lower, right, lower, AXIS);
    canvas.text(left - textWidth(compact(yTop), 1) - 4, upper - 2, compact(yTop), AXIS, 1);
    canvas.text(left - textWidth('0', 1) - 4, lower - 4, '0', AXIS, 1);
    canvas.text(left, lower + 5, `${Math.round(t0)}S`, AXIS, 1);
    const endLabel = `${Math.round(t1)}S`;
    canvas.text(right - textWidth(endLabel, 1), lower + 5, endLabel, AXIS, 1);

    for (const marker of options.markers ?? []) {
      canvas.line(x(marker.t), upper, x(marker.t), lower, MARK, 3);
      // A label that would run off the panel goes left of its line.
      const labelX = x(marker.t) + 3 + textWidth(marker.label, 1) > right ? x(marker.t) - 3 - textWidth(marker.label, 1) : x(marker.t) + 3;
      canvas.text(labelX, lower + 5, marker.label, MARK, 1);
    }

    let previous: { x: number; y: number } | undefined;
    for (const point of panel.points) {
      if (!Number.isFinite(point.v) || !Number.isFinite(point.t)) {
        previous = undefined; // a gap: no line across a missing sample
        continue;
      }
      const here = { x: x(point.t), y: y(point.v) };
      if (previous) canvas.line(previous.x, previous.y, here.x, here.y, LINE);
      canvas.fillRect(Math.round(here.x) - 1, Math.round(here.y) - 1, 3, 3, DOT);
      previous = here;
    }
  });
  return canvas;
}

/** The panels as PNG bytes. */
export function plotPng(options: PlotOptions): Buffer {
  const canvas = drawPlot(options);
  return encodePng(canvas.width, canvas.height, canvas.pixels);
}
