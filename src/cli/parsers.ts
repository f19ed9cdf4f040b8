// commander argument parsers: a bad value is a usage error (exit 2) naming the option.
import { InvalidArgumentError } from 'commander';

export function positiveInt(value: string): number {
  const parsed = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(parsed) || parsed <= 0) {
    throw new InvalidArgumentError('must be a positive whole number');
  }
  return parsed;
}

export function nonNegativeInt(value: string): number {
  const parsed = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(parsed)) {
    throw new InvalidArgumentError('must be a whole number, 0 or more');
  }
  return parsed;
}

/** Seconds, fractions allowed (poll intervals, timeouts). */
export function seconds(value: string): number {
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isFinite(parsed) || parsed <= 0) {
    throw new InvalidArgumentError('must be a positive number of seconds');
  }
  return parsed;
}

/** Megabytes: "2048", "2048M" or "2G". */
export function megabytes(value: string): number {
  const match = /^(\d+)\s*([mMgG])?[bB]?$/.exec(value.trim());
  if (!match) throw new InvalidArgumentError('must be megabytes, e.g. 2048, 2048M or 2G');
  const amount = Number(match[1]) * (match[2]?.toLowerCase() === 'g' ? 1024 : 1);
  if (!Number.isSafeInteger(amount) || amount <= 0) throw new InvalidArgumentError('must be more than 0');
  return amount;
}

/** Repeatable K=V into a map (the last value of a key wins). */
export function keyValue(value: string, previous: Map<string, string> | undefined): Map<string, string> {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError('must be NAME=VALUE');
  const next = new Map(previous ?? []);
  next.set(value.slice(0, eq), value.slice(eq + 1));
  return next;
}
