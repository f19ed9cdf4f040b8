// JSON over Node's fetch, with what every OpenStack call needs: a deadline per attempt, a few
// retries with backoff when the service is throttling (429), unavailable (503) or not reached, the
// wait the service asks for in Retry-After, and no second POST when the first may have arrived.
// Answers that are not successes become OpenStackErrors carrying the service's own code and message.
import { setTimeout as delay } from 'node:timers/promises';
import { categorize, clip, OpenStackError, parseErrorBody, Redactor, type OpenStackService } from './errors';
import { causeCode } from '../../../net/causeCode';

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** Query values; an array repeats the key (Neutron reads ?port_id=a&port_id=b as a list). */
export type QueryValue = string | number | boolean | readonly string[] | undefined;
export type Query = Readonly<Record<string, QueryValue>>;

export interface HttpRequest {
  service: OpenStackService;
  method: HttpMethod;
  url: string;
  query?: Query;
  headers?: Readonly<Record<string, string>>;
  /** Sent as JSON. */
  json?: unknown;
  /** Statuses handed back instead of thrown: 404 on a delete (already gone), 302 on a Heat look-up. */
  accept?: readonly number[];
  /**
   * May the request be sent again when it may already have arrived (connection reset, timeout, a
   * proxy's 502/504)? By default GET, HEAD, PUT and DELETE may, POST and PATCH may not. A caller
   * sets true for a POST that is harmless twice (a token request), false for a PUT that is not (a
   * Heat update: the second one would find the first in progress). Whatever this says, a request
   * that surely never left (connection refused, name not resolved) or was turned away (429, 503)
   * is sent again.
   */
  resendable?: boolean;
  /** This attempt's deadline, replacing the client's. */
  timeoutMs?: number;
  /** Ends the call (and its waits) early; the signal's reason is thrown. */
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  headers: Headers;
  /** Parsed JSON; undefined for an empty or non-JSON body. */
  body: unknown;
  url: string;
}

export interface RetryEvent {
  service: OpenStackService;
  method: HttpMethod;
  path: string;
  /** The attempt that failed, from 1. */
  attempt: number;
  delayMs: number;
  error: OpenStackError;
}

export interface HttpClientOptions {
  /** Per attempt (30 s). */
  timeoutMs?: number;
  /** Retries after the first attempt (3). */
  maxRetries?: number;
  /** First backoff bound, doubled each retry (500 ms); used when the service names no wait. */
  baseDelayMs?: number;
  /** Largest backoff (15 s). */
  maxDelayMs?: number;
  /** A Retry-After longer than this (60 s) is not waited out here: the error goes to the caller, who can plan. */
  maxRetryAfterMs?: number;
  /** The wait between attempts; tests inject one that records instead of sleeping. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** For the jitter; Math.random when absent. */
  random?: () => number;
  fetch?: typeof fetch;
  redactor?: Redactor;
  onRetry?: (event: RetryEvent) => void;
  userAgent?: string;
  /** The clock for an HTTP-date Retry-After. */
  now?: () => number;
}

const IDEMPOTENT: ReadonlySet<HttpMethod> = new Set(['GET', 'HEAD', 'PUT', 'DELETE']);

// Failures of the connection itself: the request never reached the service.
const NEVER_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'UND_ERR_CONNECT_TIMEOUT']);

export class HttpClient {
  private readonly timeoutMs: number;
  private readonly maxRetries: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly maxRetryAfterMs: number;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  private readonly random: () => number;
  private readonly fetchFn: typeof fetch;
  private readonly now: () => number;
  readonly redactor: Redactor;

  constructor(private readonly options: HttpClientOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.maxRetries = Math.max(0, options.maxRetries ?? 3);
    this.baseDelayMs = options.baseDelayMs ?? 500;
    this.maxDelayMs = options.maxDelayMs ?? 15_000;
    this.maxRetryAfterMs = options.maxRetryAfterMs ?? 60_000;
    this.sleep = options.sleep ?? ((ms, signal) => delay(ms, undefined, { signal }));
    this.random = options.random ?? Math.random;
    this.fetchFn = options.fetch ?? fetch;
    this.now = options.now ?? Date.now;
    this.redactor = options.redactor ?? new Redactor();
  }

  async send(request: HttpRequest): Promise<HttpResponse> {
    const url = withQuery(request.url, request.query);
    const path = new URL(url).pathname;
    for (let attempt = 1; ; attempt++) {
      let error: OpenStackError;
      let retryable: boolean;
      try {
        const { response, rawText } = await this.attempt(request, url);
        if (isSuccess(response.status) || request.accept?.includes(response.status)) return response;
        error = this.errorFromResponse(request, path, response, rawText);
        retryable = retryableStatus(error, request);
      } catch (thrown) {
        if (request.signal?.aborted) throw request.signal.reason;
        if (thrown instanceof OpenStackError) throw thrown;
        const failure = connectionFailure(thrown);
        error = new OpenStackError({
          service: request.service, category: 'transient', method: request.method, path,
          code: failure.code, message: this.redactor.apply(failure.message),
        });
        retryable = !failure.maybeSent || resendable(request);
      }
      if (!retryable || attempt > this.maxRetries) throw error;
      const waitMs = error.retryAfterMs ?? this.backoff(attempt);
      if (waitMs > this.maxRetryAfterMs) throw error;
      this.options.onRetry?.({ service: request.service, method: request.method, path, attempt, delayMs: waitMs, error });
      try {
        await this.sleep(waitMs, request.signal);
      } catch (thrown) {
        throw request.signal?.aborted ? request.signal.reason : thrown;
      }
    }
  }

  private async attempt(request: HttpRequest, url: string): Promise<{ response: HttpResponse; rawText: string }> {
    const headers: Record<string, string> = { Accept: 'application/json', ...request.headers };
    // Names us in the services' access logs, for the cloud's operators.
    headers['User-Agent'] = this.options.userAgent ?? 'airavata-metascheduler';
    let body: string | undefined;
    if (request.json !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(request.json);
    }
    const deadline = AbortSignal.timeout(request.timeoutMs ?? this.timeoutMs);
    const signal = request.signal === undefined ? deadline : AbortSignal.any([deadline, request.signal]);
    // Redirects are handed back, not followed: a Location from the service is read by the caller,
    // and the token is never sent to a host the catalog did not name.
    const response = await this.fetchFn(url, { method: request.method, headers, body, signal, redirect: 'manual' });
    // The body is read under the same deadline: a service that sends headers and then stalls times out too.
    const rawText = await response.text();
    return { response: { status: response.status, headers: response.headers, body: parseBody(rawText, response, request), url }, rawText };
  }

  private errorFromResponse(request: HttpRequest, path: string, response: HttpResponse, rawText: string): OpenStackError {
    const facts = parseErrorBody(rawText);
    const retryAfterMs = retryAfterOf(response.headers.get('retry-after'), this.now()) ??
      (facts.retryAfterSeconds !== undefined ? facts.retryAfterSeconds * 1000 : undefined);
    const message = clip(this.redactor.apply(facts.message ?? `HTTP ${response.status}`));
    const detail = facts.detail !== undefined ? clip(this.redactor.apply(facts.detail)) : undefined;
    return new OpenStackError({
      service: request.service, method: request.method, path, status: response.status, code: facts.code, message, detail,
      retryAfterMs, requestId: response.headers.get('x-openstack-request-id') ?? response.headers.get('x-compute-request-id') ?? undefined,
      category: categorize({ status: response.status, code: facts.code, message, retryAfterMs }),
    });
  }

  /** Full jitter: a random wait up to base * 2^(attempt-1), capped. */
  private backoff(attempt: number): number {
    return Math.round(this.random() * Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 1)));
  }
}

function isSuccess(status: number): boolean {
  return status >= 200 && status < 300;
}

// Throttling (429, or Nova's older 413 with a wait) and 503 say the request was turned away
// unprocessed, so even a POST is sent again. A 502 or 504 from a proxy says nothing of whether the
// service acted: only requests that may be resent are.
function retryableStatus(error: OpenStackError, request: HttpRequest): boolean {
  if (error.category === 'throttled' || error.status === 503) return true;
  if (error.status === 502 || error.status === 504) return resendable(request);
  return false;
}

function resendable(request: HttpRequest): boolean {
  return request.resendable ?? IDEMPOTENT.has(request.method);
}

function parseBody(raw: string, response: Response, request: HttpRequest): unknown {
  if (raw.trim() === '') return undefined;
  const type = response.headers.get('content-type') ?? '';
  const looksJson = /json/i.test(type) || /^\s*[[{]/.test(raw);
  if (!looksJson) return undefined;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    // An error page that is not JSON is read as text by the error path; a success must be JSON.
    if (!isSuccess(response.status)) return undefined;
    throw new OpenStackError({
      service: request.service, category: 'transient', method: request.method, path: new URL(response.url || request.url).pathname,
      status: response.status, code: 'BadResponse', message: 'the service answered with a body that is not JSON',
    });
  }
}

/** Retry-After as milliseconds: delta-seconds or an HTTP date (RFC 9110 10.2.3). */
export function retryAfterOf(value: string | null, now: number): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

export function withQuery(url: string, query: Query | undefined): string {
  if (query === undefined) return url;
  const parsed = new URL(url);
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const item of value as readonly string[]) parsed.searchParams.append(key, item);
    else parsed.searchParams.set(key, String(value));
  }
  return parsed.toString();
}

interface ConnectionFailure {
  code: string;
  message: string;
  /** The request may have reached the service (reset mid-way, timed out waiting for the answer). */
  maybeSent: boolean;
}

/** What fetch threw, read down its cause chain (undici wraps the socket error in "fetch failed"). */
function connectionFailure(thrown: unknown): ConnectionFailure {
  // By name: the DOMException fetch throws need not be an instance of this realm's Error.
  const name = typeof thrown === 'object' && thrown !== null ? (thrown as { name?: unknown }).name : undefined;
  if (name === 'TimeoutError' || name === 'AbortError') {
    return { code: 'Timeout', message: 'no answer before the deadline', maybeSent: true };
  }
  const code = causeCode(thrown);
  if (code !== undefined) {
    return { code, message: `connection failed (${code})`, maybeSent: !NEVER_SENT.has(code) };
  }
  const message = thrown instanceof Error ? thrown.message : String(thrown);
  return { code: 'ConnectionError', message: `connection failed (${message})`, maybeSent: true };
}
