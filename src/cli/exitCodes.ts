// What each exit code of airavata-ms means. Scripts branch on these, so they are part of the CLI's
// contract and printed by --help.

export const ExitCode = {
  /** Done; for waits, the awaited outcome happened (job COMPLETE, cluster READY or TERMINATED). */
  Ok: 0,
  /** The operation ran but failed: a job ended FAILED or CANCELED, a cluster FAILED, unsupported call. */
  Failed: 1,
  /** Bad usage or input: unknown flag, unreadable or invalid spec file, InvalidRequestException. */
  Usage: 2,
  /** The cluster, job or allocation does not exist for this gateway (NotFoundException). */
  NotFound: 3,
  /** The token is missing, forged, expired or for another gateway (AuthorizationException). */
  Unauthorized: 4,
  /** The service cannot be reached or answered with an internal error. */
  Unavailable: 5,
} as const;

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export const EXIT_CODES_HELP = `
Exit codes:
  0  ok (a wait ended as hoped: job COMPLETE, cluster READY, or TERMINATED after delete --wait)
  1  the operation failed (job FAILED or CANCELED, cluster FAILED, call unsupported by the service)
  2  usage or invalid input (bad flag, unreadable or invalid spec file, invalid request)
  3  not found (no such cluster, job or allocation for this gateway)
  4  authorization (missing, forged, expired or mismatched token)
  5  cannot reach the service, or it answered with an internal error`;

/** An error that ends the command with a meaningful exit code and one line on stderr. */
export class CliError extends Error {
  constructor(readonly exitCode: ExitCode, message: string) {
    super(message);
    this.name = 'CliError';
  }
}
