// Every failure becomes one line and one exit code here, in one place: Thrift exceptions from the
// service by their type, socket errors as "cannot reach", anything else as internal. Secrets (the
// access token) are masked out of the line whatever produced it.
import { CommanderError } from 'commander';
import { ConfigError } from '../config';
import { base, ms } from '../rpc/wire';
import { CliError, ExitCode } from './exitCodes';

export interface Failure {
  exitCode: ExitCode;
  line: string;
}

const AUTH_ERROR_TYPES: ReadonlySet<base.AiravataErrorType> = new Set([
  base.AiravataErrorType.PERMISSION_DENIED,
  base.AiravataErrorType.AUTHENTICATION_FAILURE,
  base.AiravataErrorType.INVALID_AUTHORIZATION,
  base.AiravataErrorType.AUTHORIZATION_EXPIRED,
  base.AiravataErrorType.UNKNOWN_GATEWAY_ID,
]);

function errorCode(error: unknown): string | undefined {
  if (error === null || typeof error !== 'object') return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/** The socket-level errors that mean the service is not there (or went away). */
export function isNetworkError(error: unknown): boolean {
  const code = errorCode(error);
  return code !== undefined && /^(ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EPIPE|EADDRNOTAVAIL)$/.test(code);
}

function classify(error: unknown): Failure {
  if (error instanceof CliError) return { exitCode: error.exitCode, line: error.message };
  if (error instanceof ConfigError) return { exitCode: ExitCode.Usage, line: error.message };
  if (error instanceof base.InvalidRequestException) {
    // The service already says "invalid request: <field>: <problem>; ...".
    const text = error.message ?? 'invalid request';
    return { exitCode: ExitCode.Usage, line: text.startsWith('invalid request') ? text : `invalid request: ${text}` };
  }
  if (error instanceof ms.NotFoundException) {
    const what = error.resourceType && error.resourceId
      ? `${error.resourceType} ${JSON.stringify(error.resourceId)}` : error.message;
    return { exitCode: ExitCode.NotFound, line: `not found: ${what}` };
  }
  if (error instanceof base.AuthorizationException) {
    return { exitCode: ExitCode.Unauthorized, line: `not authorized: ${error.message}` };
  }
  if (error instanceof base.AiravataClientException) {
    const type = base.AiravataErrorType[error.airavataErrorType] ?? String(error.airavataErrorType);
    const detail = error.parameter ? `: ${error.parameter}` : '';
    if (error.airavataErrorType === base.AiravataErrorType.UNSUPPORTED_OPERATION) {
      return { exitCode: ExitCode.Failed, line: `unsupported by the service${detail}` };
    }
    if (AUTH_ERROR_TYPES.has(error.airavataErrorType)) {
      return { exitCode: ExitCode.Unauthorized, line: `not authorized (${type})${detail}` };
    }
    return { exitCode: ExitCode.Failed, line: `refused (${type})${detail}` };
  }
  if (error instanceof base.AiravataSystemException) {
    return { exitCode: ExitCode.Unavailable, line: `service error: ${error.message ?? base.AiravataErrorType[error.airavataErrorType]}` };
  }
  if (error instanceof CommanderError) {
    return { exitCode: ExitCode.Usage, line: error.message.replace(/^error: /, '') };
  }
  const message = error instanceof Error ? error.message : String(error);
  // TApplicationException and protocol errors: the service answered something we cannot use.
  return { exitCode: ExitCode.Unavailable, line: `internal error: ${message}` };
}

/** One line for stderr (without the "airavata-ms: " prefix) and the exit code for any failure. */
export function describeFailure(error: unknown, secrets: readonly string[] = []): Failure {
  const failure = classify(error);
  let line = failure.line.replace(/\s*\n\s*/g, ' ').trim();
  for (const secret of secrets) {
    if (secret.length >= 8) line = line.split(secret).join('[redacted]');
  }
  // Any JWT, ours or one quoted back by a library, stays out of logs and terminals.
  line = line.replace(/eyJ[\w-]+\.[\w-]+\.[\w-]*/g, '[redacted]');
  return { exitCode: failure.exitCode, line };
}
