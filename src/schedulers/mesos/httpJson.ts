// JSON over HTTP to Marathon or Metronome, on Node's fetch, with what a highly available framework
// on several masters needs:
// - a deadline per request (the body is read under it too: a master that sends headers and then
//   stalls times out as well);
// - the masters tried in turn when one cannot be reached or has no leader just now, the one that
//   answered last tried first next time;
// - leader redirects followed by hand (301/302/307/308: the same method and body to the Location),
//   a bounded number of hops, the new origin remembered as the leader;
// - a bounded number of rounds over the masters with backoff between them, for requests that may be
//   sent again;
// - HTTP basic credentials, sent only to the masters we were given and never written anywhere else.
import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from '../../log';
import { clip, errorBodyFacts, MesosApiError, type MesosApiErrorInit, type MesosService } from './errors';
import { causeCode } from '../../net/causeCode';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface BasicCredentials {
  username: string;
  password: string;
}

/** Query values; an array repeats the key (embed=activeRuns&embed=history). */
export type Query = Readonly<Record<string, string | readonly string[] | undefined>>;

export interface JsonRequest {
  method: HttpMethod;
  /** Starts with "/"; every segment taken from data already encoded by the caller. */
  path: string;
  query?: Query;
  /** Sent as JSON. */
  json?: unknown;
  /** Statuses handed back instead of thrown (404 on a look-up or a delete). */
  accept?: readonly number[];
  /**
   * May the request be sent again when it may already have arrived (no answer in time, a proxy's
   * 502/504, a master without a leader)? By default GET, PUT and DELETE may, POST and PATCH may not;
   * a caller says true for a POST whose repetition is harmless (creating an object it adopts on 409).
   * A request that surely never left (connection refused) is sent again whatever this says.
   */
  resendable?: boolean;
  /** This request's deadline, instead of the client's. */
  timeoutMs?: number;
}

export interface JsonResponse {
  status: number;
  /** Parsed JSON; undefined for an empty body. */
  body: unknown;
  headers: Headers;
  /** The master that answered. */
  endpoint: string;
}

export interface MesosHttpOptions {
  service: MesosService;
  /** Base URLs of the masters (http://host:port), tried in this order. */
  endpoints: readonly string[];
  /** Per request (10 s). */
  timeoutMs?: number;
  /** Rounds over the masters after the first (2). */
  maxRetries?: number;
  /** First backoff between rounds, doubled each round (250 ms). */
  baseDelayMs?: number;
  /** Largest backoff (5 s). */
  maxDelayMs?: number;
  /** Redirects followed for one request (3). */
  maxRedirects?: number;
  credentials?: BasicCredentials;
  log?: Logger;
  fetch?: typeof fetch;
  /** The wait between rounds; tests record instead of sleeping. */
  sleep?: (ms: number) => Promise<void>;
}

export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_RETRIES = 2;
export const DEFAULT_BASE_DELAY_MS = 250;
export const DEFAULT_MAX_DELAY_MS = 5_000;
export const DEFAULT_MAX_REDIRECTS = 3;

const IDEMPOTENT: ReadonlySet<HttpMethod> = new Set(['GET', 'PUT', 'DELETE']);
const REDIRECTS: ReadonlySet<number> = new Set([301, 302, 307, 308]);
/** A gateway or a master without a leader: another master, or the same one later, may do. */
const UNAVAILABLE: ReadonlySet<number> = new Set([502, 503, 504]);
/** Socket errors that say the request never reached the master. */
const NEVER_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'UND_ERR_CONNECT_TIMEOUT']);

/** Base URLs checked once: http(s), no credentials inside, no path beyond "/". */
export function parseEndpoints(service: MesosService, endpoints: readonly string[]): string[] {
  if (endpoints.length === 0) throw new Error(`${service}: no endpoint given`);
  return [...new Set(endpoints.map((endpoint, i) => {
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      // Not quoted: a malformed URL may still hold a password.
      throw new Error(`${service} endpoint ${i + 1} is not a URL`);
    }
    if (url.username !== '' || url.password !== '') {
      throw new Error(`${service} endpoint ${i + 1} carries credentials in its URL; pass them as credentials instead`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`${service} endpoint ${i + 1} is not http(s)`);
    return url.origin;
  }))];
}

export class MesosHttpClient {
  readonly service: MesosService;
  private readonly endpoints: string[];
  private readonly hosts: Set<string>;
  private readonly timeoutMs: number;
  private readonly maxRetries: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly maxRedirects: number;
  private readonly authorization?: string;
  private readonly secrets: string[];
  private readonly fetchFn: typeof fetch;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly log?: Logger;
  /** The origin that answered last (a redirect's target: the leader); tried first. */
  private preferred?: string;

  constructor(options: MesosHttpOptions) {
    this.service = options.service;
    this.endpoints = parseEndpoints(options.service, options.endpoints);
    this.hosts = new Set(this.endpoints.map((origin) => new URL(origin).hostname));
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.maxRetries = Math.max(0, options.maxRetries ?? DEFAULT_MAX_RETRIES);
    this.baseDelayMs = options.baseDelayMs ?? DEFAULT_BASE_DELAY_MS;
    this.maxDelayMs = options.maxDelayMs ?? DEFAULT_MAX_DELAY_MS;
    this.maxRedirects = options.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
    this.fetchFn = options.fetch ?? fetch;
    this.sleep = options.sleep ?? ((ms) => delay(ms));
    this.log = options.log;
    this.secrets = [];
    if (options.credentials) {
      const { username, password } = options.credentials;
      const token = Buffer.from(`${username}:${password}`, 'utf8').toString('base64');
      this.authorization = `Basic ${token}`;
      // Every spelling a body could echo them in: as given, JSON-escaped, and the header's token.
      this.secrets = [password, JSON.stringify(password).slice(1, -1), token].filter((s) => s.length >= 3);
    }
  }

  /** The master tried first now (the leader, once one answered or redirected). */
  get leader(): string {
    return this.preferred ?? this.endpoints[0];
  }

  async send(request: JsonRequest): Promise<JsonResponse> {
    const target = pathWithQuery(request.path, request.query);
    const resendable = request.resendable ?? IDEMPOTENT.has(request.method);
    let attempts = 0;
    let last: MesosApiError | undefined;
    for (let round = 0; round <= this.maxRetries; round++) {
      if (round > 0) {
        const waitMs = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (round - 1));
        this.log?.debug({ service: this.service, method: request.method, path: request.path, round, waitMs, error: last?.message },
          'no master could answer; trying again');
        await this.sleep(waitMs);
      }
      for (const origin of this.origins()) {
        attempts += 1;
        try {
          return await this.followRedirects(origin, target, request);
        } catch (thrown) {
          if (!(thrown instanceof MesosApiError)) throw thrown;
          last = thrown;
          if (thrown.code === 'Timeout' || thrown.code === 'ConnectionError') {
            if (this.preferred === thrown.endpoint) this.preferred = undefined;
          }
          if (!mayTryAgain(thrown, resendable)) throw attempts > 1 ? thrown.withAttempts(attempts) : thrown;
          this.log?.debug({ service: this.service, method: request.method, path: request.path, endpoint: thrown.endpoint, error: thrown.message },
            'master did not answer usefully; trying the next');
        }
      }
    }
    throw (last as MesosApiError).withAttempts(attempts);
  }

  /** The masters in the order to try them: the one that answered last, then the rest as given. */
  private origins(): string[] {
    if (this.preferred === undefined) return this.endpoints;
    return [this.preferred, ...this.endpoints.filter((e) => e !== this.preferred)];
  }

  private async followRedirects(origin: string, target: string, request: JsonRequest): Promise<JsonResponse> {
    let url = new URL(target, origin);
    for (let hops = 0; ; hops++) {
      const response = await this.once(url, request);
      const location = response.headers.get('location');
      if (REDIRECTS.has(response.status) && location !== null) {
        if (hops >= this.maxRedirects) {
          throw this.error(request, url, { code: 'TooManyRedirects', status: response.status, apiMessage: `more than ${this.maxRedirects} redirects` });
        }
        let next: URL;
        try {
          next = new URL(location, url);
        } catch {
          throw this.error(request, url, { code: 'BadRedirect', status: response.status, apiMessage: 'redirected to something that is not a URL' });
        }
        if (next.protocol !== 'http:' && next.protocol !== 'https:') {
          throw this.error(request, url, { code: 'BadRedirect', status: response.status, apiMessage: `redirected to a ${next.protocol} URL` });
        }
        next.username = '';
        next.password = '';
        this.log?.debug({ service: this.service, method: request.method, path: request.path, from: url.origin, to: next.origin }, 'following a leader redirect');
        url = next;
        continue;
      }
      // Whoever answers is the leader, or proxies to it: ask it first from now on. A master without
      // a leader just now (502/503/504) is not.
      if (!UNAVAILABLE.has(response.status)) this.preferred = url.origin;
      if ((response.status >= 200 && response.status < 300) || request.accept?.includes(response.status)) return response;
      const facts = errorBodyFacts(response.body);
      const withheld = response.status === 401 && this.authorization !== undefined && !this.hosts.has(url.hostname);
      throw this.error(request, url, {
        code: 'HTTP',
        status: response.status,
        apiMessage: facts.message ?? (withheld ? 'unauthorized (credentials are sent only to the masters configured, and this host is not one)' : `HTTP ${response.status}`),
        details: facts.details,
      });
    }
  }

  /** One request to one URL; a connection failure or a missing deadline becomes a MesosApiError. */
  private async once(url: URL, request: JsonRequest): Promise<JsonResponse> {
    const headers: Record<string, string> = { Accept: 'application/json', 'User-Agent': 'airavata-metascheduler' };
    let body: string | undefined;
    if (request.json !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(request.json);
    }
    // Credentials go to the masters we were given only, never to a host a redirect names.
    if (this.authorization !== undefined && this.hosts.has(url.hostname)) headers.Authorization = this.authorization;
    const signal = AbortSignal.timeout(request.timeoutMs ?? this.timeoutMs);
    let status: number;
    let responseHeaders: Headers;
    let text: string;
    try {
      const response = await this.fetchFn(url, { method: request.method, headers, body, signal, redirect: 'manual' });
      status = response.status;
      responseHeaders = response.headers;
      text = await response.text();
    } catch (thrown) {
      const failure = connectionFailure(thrown, request.timeoutMs ?? this.timeoutMs);
      throw this.error(request, url, { code: failure.code, apiMessage: failure.message, neverSent: failure.neverSent });
    }
    let parsed: unknown;
    if (text.trim() !== '') {
      try {
        parsed = JSON.parse(text) as unknown;
      } catch {
        // An error page that is not JSON still has its status; a success must be JSON.
        if (status >= 200 && status < 300) {
          throw this.error(request, url, { code: 'BadResponse', status, apiMessage: `answered with a body that is not JSON: ${clip(text, 120)}` });
        }
        parsed = undefined;
      }
    }
    return { status, body: parsed, headers: responseHeaders, endpoint: url.origin };
  }

  private error(request: JsonRequest, url: URL, facts: Pick<MesosApiErrorInit, 'code' | 'status' | 'apiMessage' | 'details' | 'neverSent'>): MesosApiError {
    return new MesosApiError({
      service: this.service,
      method: request.method,
      path: request.path,
      endpoint: url.origin,
      ...facts,
      apiMessage: this.redact(facts.apiMessage),
      details: facts.details === undefined ? undefined : this.redact(facts.details),
    });
  }

  /** Cuts the password and the header's token out of text that came from elsewhere. */
  private redact(text: string): string {
    let out = text;
    for (const secret of this.secrets) out = out.split(secret).join('[redacted]');
    return out;
  }
}

/**
 * What may be tried again (on the next master, or in the next round): a request that never left;
 * and, when it may be sent twice, one that had no answer in time or met a master or proxy that
 * could not serve it.
 */
function mayTryAgain(error: MesosApiError, resendable: boolean): boolean {
  if (error.neverSent) return true;
  if (error.code === 'Timeout' || error.code === 'ConnectionError') return resendable;
  if (error.code === 'HTTP' && error.status !== undefined && UNAVAILABLE.has(error.status)) return resendable;
  return false;
}

export function pathWithQuery(path: string, query: Query | undefined): string {
  if (!path.startsWith('/')) throw new Error(`request path must start with "/": ${path}`);
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value === undefined) continue;
    if (typeof value === 'string') params.append(key, value);
    else for (const item of value) params.append(key, item);
  }
  const search = params.toString();
  return search === '' ? path : `${path}?${search}`;
}

interface ConnectionFailure {
  code: 'Timeout' | 'ConnectionError';
  message: string;
  neverSent: boolean;
}

/** What fetch threw, read down its cause chain (undici wraps the socket's error in "fetch failed"). */
function connectionFailure(thrown: unknown, timeoutMs: number): ConnectionFailure {
  // By name: the DOMException fetch throws need not be an instance of this realm's Error.
  const name = typeof thrown === 'object' && thrown !== null ? (thrown as { name?: unknown }).name : undefined;
  if (name === 'TimeoutError' || name === 'AbortError') {
    return { code: 'Timeout', message: `no answer within ${timeoutMs} ms`, neverSent: false };
  }
  const code = causeCode(thrown);
  if (code !== undefined) return { code: 'ConnectionError', message: `connection failed (${code})`, neverSent: NEVER_SENT.has(code) };
  return { code: 'ConnectionError', message: 'connection failed', neverSent: false };
}
