// Quoting for bash: every value in a generated script goes through here.

/**
 * One bash word that stands for exactly `value`: single quotes, inside which bash expands nothing
 * ($, `, \, newlines and spaces are literal), with each ' written as '\'' (close, escaped quote,
 * reopen). A NUL byte cannot live in a bash string at all, so it is refused rather than truncated.
 */
export function shellQuote(value: string): string {
  if (value.includes('\0')) throw new Error('a NUL byte cannot be passed through a shell script');
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
