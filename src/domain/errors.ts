// Errors by category. Domain and store code throw these; src/rpc/ maps them to Thrift exceptions in
// one place, so no other layer knows the wire types.

export interface FieldError {
  field: string;
  message: string;
}

/** Bad input: every offending field is named, all at once. */
export class InvalidRequestError extends Error {
  constructor(readonly fieldErrors: FieldError[]) {
    super(fieldErrors.map((e) => `${e.field}: ${e.message}`).join('; '));
    this.name = 'InvalidRequestError';
  }

  static of(field: string, message: string): InvalidRequestError {
    return new InvalidRequestError([{ field, message }]);
  }
}

export type ResourceType = 'cluster' | 'job' | 'allocation' | 'application';

/** The resource does not exist for the caller's gateway (it may exist for another one). */
export class NotFoundError extends Error {
  constructor(readonly resourceType: ResourceType, readonly resourceId: string) {
    super(`${resourceType} ${JSON.stringify(resourceId)} not found`);
    this.name = 'NotFoundError';
  }
}

/** forbidden: a valid caller asking for what its gateway may not have (this machine as a host). */
export type UnauthorizedReason = 'missing' | 'invalid' | 'expired' | 'gateway-mismatch' | 'forbidden';

export class UnauthorizedError extends Error {
  constructor(readonly reason: UnauthorizedReason, message: string) {
    super(message);
    this.name = 'UnauthorizedError';
  }
}

/** A call this version does not carry out (yet); said plainly rather than pretended. */
export class UnsupportedError extends Error {
  constructor(readonly operation: string, message: string) {
    super(message);
    this.name = 'UnsupportedError';
  }
}

/**
 * The account the provider bills cannot hold what was asked (a cloud quota): the request is well
 * formed, the world says no. Each error names the field that asks too much and the quota's numbers.
 */
export class QuotaExceededError extends Error {
  constructor(readonly fieldErrors: FieldError[]) {
    super(fieldErrors.map((e) => `${e.field}: ${e.message}`).join('; '));
    this.name = 'QuotaExceededError';
  }
}
