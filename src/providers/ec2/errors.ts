// AWS errors as ProviderErrors. The category decides what the workflow does (wait and retry, try
// other capacity, or fail the cluster with the message), so it is read from the AWS error code: EC2
// models no error shapes, every error reaches the SDK as a generic exception named by its <Code>.
import { ProviderError, type ProviderErrorCategory } from '../provider';
import { Interrupted, pause } from '../pause';

const THROTTLED = new Set([
  'RequestLimitExceeded', 'Throttling', 'ThrottlingException', 'ThrottledException', 'TooManyRequestsException',
  'RequestThrottled', 'RequestThrottledException', 'EC2ThrottledException', 'SlowDown', 'BandwidthLimitExceeded',
  'PriorRequestNotComplete', 'ProvisionedThroughputExceededException', 'TransactionInProgressException',
]);

// Another instance type, subnet (availability zone) or market may have what this one lacks.
const CAPACITY = new Set([
  'InsufficientInstanceCapacity', 'InsufficientHostCapacity', 'InsufficientAddressCapacity', 'InsufficientCapacity',
  'InsufficientReservedInstanceCapacity', 'InsufficientCapacityOnHost', 'InsufficientFreeAddressesInSubnet',
  'SpotMaxPriceTooLow', 'MaxSpotInstanceCountExceeded', 'Unsupported',
]);

const AUTH = new Set([
  'AuthFailure', 'UnauthorizedOperation', 'AccessDenied', 'AccessDeniedException', 'InvalidClientTokenId',
  'ExpiredToken', 'ExpiredTokenException', 'SignatureDoesNotMatch', 'IncompleteSignature', 'MissingAuthenticationToken',
  'UnrecognizedClientException', 'InvalidAccessKeyId', 'OptInRequired', 'Blocked', 'PendingVerification',
  'CredentialsProviderError', 'NoAWSAccountException',
]);

const BAD_REQUEST = new Set([
  'MissingParameter', 'ValidationError', 'ValidationException', 'IdempotentParameterMismatch', 'IdempotentInstanceTerminated',
  'UnknownParameter', 'UnsupportedOperation', 'OperationNotPermitted', 'IllegalArgumentException', 'NoSuchResourceException',
  'MalformedQueryString', 'InvalidAction', 'DryRunOperation',
]);

const TRANSIENT = new Set([
  'InternalError', 'InternalFailure', 'ServiceUnavailable', 'Unavailable', 'ServiceException', 'ServiceUnavailableException',
  'RequestTimeout', 'RequestTimeoutException', 'TimeoutError', 'RequestExpired', 'IDPCommunicationError',
]);

// Node's socket and DNS failures: the endpoint was not reached, nothing happened there.
const NETWORK = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH',
  'ECONNABORTED', 'ENETDOWN', 'EPROTO', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT',
]);

/** What we read off an SDK exception, a Node system error or anything else thrown. */
interface ErrorFacts {
  code?: string;
  message: string;
  status?: number;
  fault?: string;
}

function factsOf(error: unknown): ErrorFacts {
  if (typeof error !== 'object' || error === null) return { message: String(error) };
  const e = error as { name?: unknown; code?: unknown; Code?: unknown; message?: unknown; $fault?: unknown; $metadata?: { httpStatusCode?: unknown } };
  const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
  // A Node system error carries its errno name in `code`; an SDK exception's name is the AWS code.
  const system = str(e.code);
  const awsCode = str(e.Code) ?? (e.$metadata !== undefined || e.$fault !== undefined ? str(e.name) : undefined);
  const code = awsCode ?? (system !== undefined && NETWORK.has(system) ? system : undefined) ?? namedCode(str(e.name));
  const status = typeof e.$metadata?.httpStatusCode === 'number' ? e.$metadata.httpStatusCode : undefined;
  return { code, message: str(e.message) ?? code ?? 'unknown error', status, fault: str(e.$fault) };
}

/** A plain Error's name is no code; the SDK's own client-side errors (TimeoutError, CredentialsProviderError) are. */
function namedCode(name: string | undefined): string | undefined {
  return name === undefined || name === 'Error' || name === 'TypeError' || name === 'RangeError' ? undefined : name;
}

export function categoryOf(code: string | undefined, status: number | undefined, fault: string | undefined): ProviderErrorCategory {
  if (code !== undefined) {
    if (THROTTLED.has(code)) return 'throttled';
    if (CAPACITY.has(code)) return 'capacity';
    if (AUTH.has(code) || code.startsWith('AccessDenied')) return 'auth';
    // InstanceLimitExceeded, VcpuLimitExceeded, CloudFormation's LimitExceededException (stack count)...
    if (/LimitExceeded/.test(code) || code === 'ServiceQuotaExceededException') return 'quota';
    if (BAD_REQUEST.has(code) || code.startsWith('Invalid')) return 'bad_request';
    if (TRANSIENT.has(code) || NETWORK.has(code)) return 'transient';
  }
  if (status === 429) return 'throttled';
  if ((status !== undefined && status >= 500) || fault === 'server') return 'transient';
  if (status !== undefined && status >= 400) return 'bad_request';
  // Nothing says the request was even answered: worth another go.
  return 'transient';
}

// Some services echo the request's credential scope in a signature error: an access key id is not
// the secret, but neither belongs in a cluster's failure for every user of the gateway to read.
const ACCESS_KEY_ID = /\b(AKIA|ASIA|AROA|AIDA)[A-Z0-9]{12,}\b/g;
const MAX_MESSAGE = 1000;

/** The message with anything credential-like removed, cut to a readable length. */
export function scrubbed(message: string): string {
  let out = message.replace(ACCESS_KEY_ID, '<access key id>');
  for (const name of ['AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_ACCESS_KEY_ID']) {
    const secret = process.env[name];
    if (secret && secret.length >= 8) out = out.split(secret).join('<redacted>');
  }
  return out.length > MAX_MESSAGE ? `${out.slice(0, MAX_MESSAGE)}...` : out;
}

export function asProviderError(error: unknown): ProviderError {
  if (error instanceof ProviderError) return error;
  const facts = factsOf(error);
  return new ProviderError(categoryOf(facts.code, facts.status, facts.fault), scrubbed(facts.message), facts.code);
}

export interface BackoffOptions {
  /** Calls in all, the first one included (5). */
  attempts?: number;
  /** The first wait's upper bound; it doubles each time (500 ms). */
  baseMs?: number;
  /** No wait is longer (20 s). */
  maxMs?: number;
  note?: (message: string) => Promise<void>;
  signal?: AbortSignal;
}

/**
 * The call, retried a few times with full jitter (a random wait up to base * 2^n) while AWS
 * throttles or fails in passing. The SDK has already retried within each call; this outer loop
 * outlasts a longer burst of RequestLimitExceeded when many nodes are bought at once. Every error
 * leaves as a ProviderError.
 */
export async function withBackoff<T>(what: string, call: () => Promise<T>, options: BackoffOptions = {}): Promise<T> {
  const attempts = Math.max(1, options.attempts ?? 5);
  const baseMs = options.baseMs ?? 500;
  const maxMs = options.maxMs ?? 20_000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (raw) {
      // A call cut short by the service stopping is no AWS failure: the step runs again later.
      if (raw instanceof Interrupted) throw raw;
      if (options.signal?.aborted) throw new Interrupted(what);
      const error = asProviderError(raw);
      if (!error.retryable || attempt >= attempts) throw error;
      const waitMs = Math.round(Math.random() * Math.min(maxMs, baseMs * 2 ** (attempt - 1)));
      await options.note?.(`${what}: ${error.category} (${error.code ?? 'no code'}: ${error.message}); `
        + `retrying in ${waitMs} ms (attempt ${attempt + 1} of ${attempts})`);
      await pause(waitMs, options.signal, what);
    }
  }
}
