// The single place where errors become Thrift exceptions. Only the declared Airavata exceptions (and
// our NotFoundException) leave the server; anything unexpected is logged with the request id and
// answered as AiravataSystemException carrying that id, never as a dropped socket.
import { InvalidRequestError, NotFoundError, QuotaExceededError, UnauthorizedError, UnsupportedError } from '../domain/errors';
import type { Logger } from '../log';
import { isDatabaseUnavailable } from '../store/databaseUnavailable';
import { base, ms } from './wire';

export type WireException =
  | base.InvalidRequestException
  | base.AuthorizationException
  | base.AiravataClientException
  | base.AiravataSystemException
  | ms.NotFoundException;

export function toWireException(error: unknown, requestId: string, method: string, log: Logger): WireException {
  if (error instanceof InvalidRequestError) {
    return new base.InvalidRequestException({ message: `invalid request: ${error.message}` });
  }
  if (error instanceof UnauthorizedError) {
    return new base.AuthorizationException({ message: error.message });
  }
  if (error instanceof NotFoundError) {
    return new ms.NotFoundException({
      message: error.message, resourceType: error.resourceType, resourceId: error.resourceId,
    });
  }
  if (error instanceof UnsupportedError) {
    return new base.AiravataClientException({
      airavataErrorType: base.AiravataErrorType.UNSUPPORTED_OPERATION,
      parameter: error.message,
    });
  }
  if (error instanceof QuotaExceededError) {
    // Not UNSUPPORTED_OPERATION: the same request fits once quota is raised or something ends.
    return new base.AiravataClientException({ airavataErrorType: base.AiravataErrorType.UNKNOWN, parameter: `quota exceeded: ${error.message}` });
  }
  if (isDatabaseUnavailable(error)) {
    // Not a bug of ours: say what happened, so the caller knows the same call can be retried.
    log.warn({ err: error, requestId, method }, 'a call failed: the database is unavailable');
    return new base.AiravataSystemException({
      airavataErrorType: base.AiravataErrorType.INTERNAL_ERROR,
      message: `the database is unavailable (request id ${requestId}); retry the call`,
    });
  }
  log.error({ err: error, requestId, method }, 'unexpected error in a call');
  return new base.AiravataSystemException({
    airavataErrorType: base.AiravataErrorType.INTERNAL_ERROR,
    message: `internal error (request id ${requestId}); the service log has the details`,
  });
}
