// The system error code (ECONNREFUSED, ENOTFOUND, ...) behind a failed fetch. undici wraps it: the
// TypeError "fetch failed" carries it in `cause`, and when several addresses were tried at once
// (happy eyeballs) the cause is an AggregateError of one failure per address.

/** The first error code found down the cause chain (a few levels at most), if any. */
export function causeCode(thrown: unknown): string | undefined {
  let current: unknown = thrown;
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth++) {
    const { code, cause, errors } = current as { code?: unknown; cause?: unknown; errors?: unknown };
    if (typeof code === 'string' && code !== '') return code;
    current = cause ?? (Array.isArray(errors) ? errors[0] : undefined);
  }
  return undefined;
}
