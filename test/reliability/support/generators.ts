// Seeded random input for the fuzz suites: a small PRNG of our own (mulberry32), hostile strings,
// numbers and bytes, and mutation of real-looking samples. No fuzzing library: every case draws
// from its own stream, derived from (seed, target, case index), so one failing case is regenerated
// from the three numbers its failure message prints, whatever ran before it.

/** The seed CI runs with, so a red run is reproducible from the commit alone. */
export const DEFAULT_SEED = 0x5eed2026;

export interface FuzzSettings {
  seed: number;
  /** Cases per target (each target scales its costly kinds of case down from this). */
  iterations: number;
  /** A single call slower than this is a hang, not slowness: the only time limit asserted. */
  hangMs: number;
}

function envInteger(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = /^0x[0-9a-f]+$/i.test(raw.trim()) ? Number.parseInt(raw.trim(), 16) : Number(raw.trim());
  if (!Number.isSafeInteger(value) || value < min) throw new Error(`${name}=${raw} is not a whole number >= ${min}`);
  return value;
}

/**
 * FUZZ_SEED (decimal, 0x-hex, or "random"), FUZZ_ITERATIONS and FUZZ_HANG_MS, printed so that a
 * run, long or short, can be repeated exactly.
 */
export function fuzzSettings(file: string, defaultIterations: number): FuzzSettings {
  const rawSeed = process.env.FUZZ_SEED?.trim();
  const seed = rawSeed === 'random'
    ? (Math.floor(Math.random() * 2 ** 32) >>> 0)
    : envInteger('FUZZ_SEED', DEFAULT_SEED, 0) >>> 0;
  const settings = {
    seed,
    iterations: envInteger('FUZZ_ITERATIONS', defaultIterations, 1),
    hangMs: envInteger('FUZZ_HANG_MS', 5000, 100),
  };
  console.log(`${file}: FUZZ_SEED=${settings.seed} FUZZ_ITERATIONS=${settings.iterations} (hang = one call over ${settings.hangMs} ms)`);
  return settings;
}

/** FNV-1a over the parts' text, then a murmur3 finaliser: independent streams per (seed, target, case). */
export function mix(...parts: readonly (number | string)[]): number {
  let h = 0x811c9dc5;
  for (const ch of parts.join('\u0001')) {
    h ^= ch.codePointAt(0) ?? 0;
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  static forCase(seed: number, target: string, index: number): Rng {
    return new Rng(mix(seed, target, index));
  }

  /** mulberry32: 32 bits of state, good enough spread for choosing inputs. */
  uint32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** [0, 1). */
  float(): number {
    return this.uint32() / 2 ** 32;
  }

  /** [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** [min, max], both ends included. */
  range(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }

  bool(p = 0.5): boolean {
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  /** One of the makers, chosen by weight. */
  weighted<T>(choices: readonly (readonly [number, () => T])[]): T {
    const total = choices.reduce((sum, [w]) => sum + w, 0);
    let at = this.float() * total;
    for (const [w, make] of choices) {
      if (at < w) return make();
      at -= w;
    }
    return choices[choices.length - 1][1]();
  }

  /** A length skewed towards small (log-uniform in [0, max]): mostly short, now and then long. */
  size(max: number): number {
    if (this.bool(0.03)) return max;
    return Math.min(max, Math.floor(Math.exp(this.float() * Math.log(max + 1))) - 1);
  }

  fork(label: string | number): Rng {
    return new Rng(mix(this.uint32(), label));
  }
}

const range = (from: number, to: number): string => String.fromCharCode(...Array.from({ length: to - from + 1 }, (_, i) => from + i));

/** Character pools the generators mix. */
export const POOLS = {
  printable: range(0x20, 0x7e),
  word: `${range(0x61, 0x7a)}${range(0x41, 0x5a)}${range(0x30, 0x39)}_-.`,
  digits: '0123456789',
  /** Everything JavaScript's \s matches that a line parser might meet, and more. */
  spaces: [' ', '\t', '\n', '\r', '\v', '\f', '\u00a0', '\u1680', '\u2007', '\u2028', '\u2029', '\u3000', '\ufeff'].join(''),
  controls: `${range(0x00, 0x1f)}\u007f`,
  unicode: 'éßøЖ中文✓€ΩÅ\u0301\u200b\u200d',
} as const;

/** Keys an object-as-map must not trip over. */
export const PROTOTYPE_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__', 'then'] as const;

/** Special strings: each is a known way to break naive code. */
const NASTY = [
  '', ' ', '\n', '\r\n', '\u0000', 'a\u0000b', '\ud800', '\udfff', 'x\ud83d', '\ud83d\ude00', '😀', '𝄞',
  '%s%n%d', '${PATH}', '$(id)', '`id`', "'", '"', '\\', '../..', '/', '~', '*', '|', ';', '&&', '\u202e',
  'null', 'undefined', 'NaN', 'Infinity', '-1', '0', '00', '1e309', '9'.repeat(400), '-0', '0x10',
  '{}', '[]', '{"a":', '\\u0000', 'JobId=1 ', '@ms', '+', '-', '=', ':',
  ...PROTOTYPE_KEYS,
];

/** Random text from the pools; `pools` chooses which (default: a mixture). */
export function text(rng: Rng, maxLength: number, pools: readonly (keyof typeof POOLS)[] = ['printable', 'word', 'spaces', 'unicode']): string {
  const length = rng.size(maxLength);
  let out = '';
  while (out.length < length) {
    const pool = POOLS[rng.pick(pools)];
    const run = 1 + rng.int(12);
    for (let i = 0; i < run && out.length < length; i += 1) out += pool[rng.int(pool.length)];
  }
  return out;
}

/** A string from anywhere in UTF-16, lone surrogates included. */
export function anyUnits(rng: Rng, maxLength: number): string {
  const length = rng.size(maxLength);
  const units = new Array<number>(length);
  for (let i = 0; i < length; i += 1) units[i] = rng.bool(0.7) ? rng.int(0x80) : rng.int(0x10000);
  let out = '';
  for (let i = 0; i < units.length; i += 4096) out += String.fromCharCode(...units.slice(i, i + 4096));
  return out;
}

/** A string meant to hurt: special values, controls, surrogates, long runs, or a mixture. */
export function hostileString(rng: Rng, maxLength: number): string {
  return rng.weighted<string>([
    [3, () => rng.pick(NASTY)],
    [4, () => text(rng, maxLength, ['printable', 'word', 'spaces', 'controls', 'unicode'])],
    [2, () => anyUnits(rng, maxLength)],
    [1, () => rng.pick(NASTY).repeat(1 + rng.size(Math.max(1, Math.floor(maxLength / 4))))],
    [1, () => `${text(rng, 16)}${rng.pick(NASTY)}${text(rng, 16)}`],
  ]).slice(0, Math.max(maxLength, 1));
}

/** An i32 as the Thrift decoder can produce, weighted to boundaries. */
export function int32(rng: Rng): number {
  return rng.weighted<number>([
    [3, () => rng.range(-2, 10)],
    [2, () => rng.pick([0, 1, -1, 2 ** 31 - 1, -(2 ** 31), 255, 256, 65535, 65536, 1024, 1025, 4096, 100_000, 1_000_000, 1_000_001])],
    [2, () => rng.range(-1000, 100_000)],
    [1, () => rng.uint32() | 0],
  ]);
}

/** Any JavaScript number, the ones that break arithmetic included. */
export function anyNumber(rng: Rng): number {
  return rng.weighted<number>([
    [3, () => int32(rng)],
    [2, () => rng.pick([Number.NaN, Infinity, -Infinity, -0, 0.5, -0.5, 1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, Number.MIN_VALUE, 2 ** 53, 1.0000001])],
    [1, () => (rng.float() - 0.5) * 10 ** rng.int(20)],
  ]);
}

export function bytes(rng: Rng, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let i = 0;
  for (; i + 4 <= length; i += 4) out.writeUInt32LE(rng.uint32(), i);
  for (; i < length; i += 1) out[i] = rng.int(256);
  return out;
}

/**
 * A few edits of a real-looking sample: characters changed, cut, repeated, or tokens of the format
 * (the dictionary) spliced in, so the result is mostly well formed and breaks somewhere.
 */
export function mutate(rng: Rng, sample: string, dictionary: readonly string[], maxEdits = 4): string {
  let out = sample;
  const edits = 1 + rng.int(maxEdits);
  const at = (): number => rng.int(out.length + 1);
  for (let e = 0; e < edits; e += 1) {
    const i = at();
    out = rng.weighted<string>([
      [3, () => `${out.slice(0, i)}${rng.pick(dictionary)}${out.slice(i)}`],
      [2, () => `${out.slice(0, i)}${out.slice(i + 1 + rng.int(8))}`],
      [2, () => `${out.slice(0, i)}${hostileString(rng, 8)}${out.slice(i + 1)}`],
      [1, () => out.slice(0, i)],
      [1, () => { const j = Math.min(out.length, i + 1 + rng.int(40)); return `${out.slice(0, j)}${out.slice(i, j)}${out.slice(j)}`; }],
      [1, () => `${out.slice(0, i)}${rng.pick(dictionary).repeat(2 + rng.int(50))}${out.slice(i)}`],
      [1, () => out.replace(/\d+/, () => rng.pick(['', '-1', '9'.repeat(1 + rng.int(400)), '0x1f', '1.5', 'NaN']))],
      [1, () => out.replace(/ /g, () => (rng.bool(0.1) ? rng.pick([...POOLS.spaces]) : ' '))],
    ]);
  }
  return out;
}

export function mutateBytes(rng: Rng, sample: Buffer, maxEdits = 4): Buffer {
  let out: Buffer = Buffer.from(sample);
  const edits = 1 + rng.int(maxEdits);
  for (let e = 0; e < edits; e += 1) {
    const i = rng.int(out.length + 1);
    out = rng.weighted<Buffer>([
      [3, () => { const copy = Buffer.from(out); if (i < copy.length) copy[i] = rng.int(256); return copy; }],
      [2, () => Buffer.concat([out.subarray(0, i), bytes(rng, 1 + rng.int(8)), out.subarray(i)])],
      [2, () => Buffer.concat([out.subarray(0, i), out.subarray(i + 1 + rng.int(8))])],
      [1, () => out.subarray(0, i)],
      [2, () => {
        // A four-byte big-endian integer (a length, a size, a version) set to a boundary value.
        const copy = Buffer.from(out);
        if (i + 4 <= copy.length) copy.writeInt32BE(rng.pick([0, -1, 1, 0x7fffffff, -(2 ** 31), 0x10000, 0x1000000, rng.uint32() | 0]), i);
        return copy;
      }],
      [1, () => { const j = Math.min(out.length, i + 1 + rng.int(64)); return Buffer.concat([out.subarray(0, j), out.subarray(i, j), out.subarray(j)]); }],
    ]);
  }
  return out;
}

/** A value as a failure message shows it: JSON, cut short, with its length. */
export function preview(value: unknown, max = 160): string {
  const json = typeof value === 'string' ? JSON.stringify(value) : JSON.stringify(value, (_k, v: unknown) => (v instanceof Map ? Object.fromEntries(v) : v));
  const shown = json === undefined ? String(value) : json;
  const length = typeof value === 'string' ? ` (${value.length} characters)` : '';
  return `${shown.length > max ? `${shown.slice(0, max)}...` : shown}${length}`;
}
