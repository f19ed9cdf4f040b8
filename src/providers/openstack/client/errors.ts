// OpenStack failures as one typed error. Each service words its error body its own way (Nova wraps
// it in a key named after the fault, Neutron in "NeutronError", Keystone in "error", Heat adds an
// "explanation"); the service's code and message are kept, and the category the provider workflow
// acts on (wait, try elsewhere, fail) is read from the status, the code and, where the services give
// nothing better, the message. Secrets the client holds are cut out of every message it builds.
import { ProviderError, type ProviderErrorCategory } from '../../provider';

/** Catalog service types the client talks to. */
export type OpenStackService = 'identity' | 'compute' | 'image' | 'network' | 'orchestration';

export interface OpenStackErrorInit {
  service: OpenStackService;
  category: ProviderErrorCategory;
  /** The service's own message, or what went wrong on the way (timeout, refused connection). */
  message: string;
  /** HTTP status; absent when no answer came. */
  status?: number;
  /** The service's fault name (Nova "itemNotFound", Neutron "OverQuota", Heat "EntityNotFound") or a network code. */
  code?: string;
  method?: string;
  /** URL path of the request, without the query. */
  path?: string;
  /** The service's request id header, for the operator's look-up in the service logs. */
  requestId?: string;
  /** What Retry-After (or Nova's retryAfter) asked for. */
  retryAfterMs?: number;
  /** Extra text the service gave (Neutron "detail"). */
  detail?: string;
}

export class OpenStackError extends Error {
  readonly service: OpenStackService;
  readonly category: ProviderErrorCategory;
  readonly serviceMessage: string;
  readonly status?: number;
  readonly code?: string;
  readonly method?: string;
  readonly path?: string;
  readonly requestId?: string;
  readonly retryAfterMs?: number;
  readonly detail?: string;

  constructor(init: OpenStackErrorInit) {
    super(describe(init));
    this.name = 'OpenStackError';
    this.service = init.service;
    this.category = init.category;
    this.serviceMessage = init.message;
    this.status = init.status;
    this.code = init.code;
    this.method = init.method;
    this.path = init.path;
    this.requestId = init.requestId;
    this.retryAfterMs = init.retryAfterMs;
    this.detail = init.detail;
  }

  get retryable(): boolean {
    return this.category === 'throttled' || this.category === 'transient';
  }

  /** Only the fields above: a logger serialising the error gets nothing else. */
  toJSON(): Record<string, unknown> {
    return {
      name: this.name, service: this.service, category: this.category, status: this.status, code: this.code,
      message: this.message, method: this.method, path: this.path, requestId: this.requestId,
      retryAfterMs: this.retryAfterMs, detail: this.detail,
    };
  }
}

function describe(init: OpenStackErrorInit): string {
  const where = init.method !== undefined && init.path !== undefined ? ` ${init.method} ${init.path}` : '';
  const what = [init.status, init.code].filter((part) => part !== undefined).join(' ');
  return `${init.service}${where}: ${what === '' ? '' : `${what}: `}${init.message}`;
}

/**
 * The cloud configuration cannot be used: a file that does not parse, a missing or bad key. `key`
 * names it the way the user wrote it ("auth.password", "OS_AUTH_URL"); values are never quoted,
 * because most of the keys that can be missing or wrong hold credentials.
 */
export class OpenStackConfigError extends Error {
  constructor(readonly key: string, message: string) {
    super(message);
    this.name = 'OpenStackConfigError';
  }

  toJSON(): Record<string, unknown> {
    return { name: this.name, key: this.key, message: this.message };
  }
}

// ---------------------------------------------------------------------------------------------
// Error bodies

export interface ErrorBodyFacts {
  code?: string;
  message?: string;
  detail?: string;
  /** Nova's overLimit carries the wait in the body too. */
  retryAfterSeconds?: number;
}

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}

/** Reads the code and message out of any of the services' error bodies (JSON, or webob's text/HTML). */
export function parseErrorBody(body: string): ErrorBodyFacts {
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch {
    return { message: plainText(body) };
  }
  if (!isObject(doc)) return { message: plainText(body) };

  const neutron = doc.NeutronError;
  if (isObject(neutron)) {
    return { code: text(neutron.type), message: text(neutron.message), detail: text(neutron.detail) };
  }
  // Heat: {code, title, explanation, error: {type, message, traceback}}; message only for "safe" errors.
  if ('explanation' in doc) {
    const inner = isObject(doc.error) ? doc.error : {};
    return { code: text(inner.type) ?? text(doc.title), message: text(inner.message) ?? text(doc.explanation) };
  }
  // Keystone: {error: {code: 401, title: "Unauthorized", message}}.
  if (isObject(doc.error)) {
    return { code: text(doc.error.title), message: text(doc.error.message) };
  }
  // Nova: {"<faultName>": {code, message[, retryAfter]}}, one key.
  const keys = Object.keys(doc);
  const only = keys.length === 1 ? doc[keys[0]] : undefined;
  if (isObject(only) && ('message' in only || 'code' in only)) {
    const retryAfter = Number(only.retryAfter);
    return {
      code: keys[0],
      message: text(only.message),
      retryAfterSeconds: only.retryAfter !== undefined && Number.isFinite(retryAfter) ? retryAfter : undefined,
    };
  }
  return { message: text(doc.message) ?? text(doc.title) ?? text(doc.explanation) };
}

const MAX_MESSAGE = 1000;

/** webob's error pages: "404 Not Found\n\nThe resource could not be found." in text or HTML. */
function plainText(body: string): string | undefined {
  const flat = body.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim();
  return flat === '' ? undefined : flat;
}

export function clip(message: string): string {
  return message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE)}...` : message;
}

// ---------------------------------------------------------------------------------------------
// Categories

// Another flavor, zone or network may have what this one lacks.
const CAPACITY_CODES = new Set(['NoValidHost', 'IpAddressGenerationFailure', 'InsufficientComputeResources']);
const CAPACITY_TEXT = /no valid host was found|insufficient compute resources|no more ip addresses available/i;
const QUOTA_CODES = new Set(['OverQuota', 'QuotaExceeded', 'TooManyInstances']);
const QUOTA_TEXT = /\bquota\b[^.]*\bexceed|\bexceed\w*\b[^.]*\bquota\b|\bover ?quota\b/i;

export interface CategoryFacts {
  status?: number;
  code?: string;
  message?: string;
  retryAfterMs?: number;
}

/** The provider category of a failure; see src/providers/provider.ts for what each one makes the workflow do. */
export function categorize(facts: CategoryFacts): ProviderErrorCategory {
  const { status } = facts;
  const code = facts.code ?? '';
  const message = facts.message ?? '';
  if (status === 429) return 'throttled';
  if (CAPACITY_CODES.has(code) || CAPACITY_TEXT.test(message)) return 'capacity';
  // Nova's overLimit is a rate limit when it says when to come back, a quota when it does not.
  if (code === 'overLimit' || status === 413) return facts.retryAfterMs !== undefined ? 'throttled' : 'quota';
  // Nova answers an exceeded quota with 403 "forbidden", Neutron with 409 "OverQuota".
  if (QUOTA_CODES.has(code) || QUOTA_TEXT.test(message)) return 'quota';
  if (status === 401 || status === 403) return 'auth';
  if (status !== undefined && status >= 500) return 'transient';
  // 4xx, and a redirect nobody asked for (an http auth_url sent to https, say): the request must change.
  if (status !== undefined && status >= 300) return 'bad_request';
  // No answer at all (timeout, connection lost): worth another go.
  return 'transient';
}

// ---------------------------------------------------------------------------------------------
// Secrets

/**
 * The secrets this client holds (password, application credential secret, recent tokens), cut out
 * of any text before it becomes part of an error. Services do not echo them, but a proxy's error
 * page or a misconfigured endpoint might.
 */
export class Redactor {
  private readonly lasting: string[] = [];
  private readonly tokens: string[] = [];

  constructor(private readonly tokensKept = 8) {}

  /** A credential held for the client's life (password, application credential secret). */
  addCredential(secret: string | undefined): void {
    if (usable(secret) && !this.lasting.includes(secret)) this.lasting.push(secret);
  }

  /** A token; only the last few are kept, older ones have expired long ago. */
  addToken(token: string | undefined): void {
    if (!usable(token) || this.tokens.includes(token)) return;
    this.tokens.push(token);
    if (this.tokens.length > this.tokensKept) this.tokens.shift();
  }

  apply(input: string): string {
    let out = input;
    for (const secret of [...this.lasting, ...this.tokens]) out = out.split(secret).join('<redacted>');
    return out;
  }
}

// Very short values would blank out ordinary words; no real credential is that short.
function usable(secret: string | undefined): secret is string {
  return secret !== undefined && secret.length >= 4;
}

// ---------------------------------------------------------------------------------------------
// Provider errors

const NETWORK_CODES = /^(E[A-Z]+|UND_ERR_[A-Z_]+)$/;

/** Any failure out of this client as the provider layer's error, category and code kept. */
export function toProviderError(error: unknown): ProviderError {
  if (error instanceof ProviderError) return error;
  if (error instanceof OpenStackError) return new ProviderError(error.category, error.message, error.code);
  // A cloud that cannot be reached with the configured credentials needs the operator, like a 401.
  if (error instanceof OpenStackConfigError) return new ProviderError('auth', error.message, 'ConfigError');
  const message = error instanceof Error ? error.message : String(error);
  const code = typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'string'
    ? (error as { code: string }).code : undefined;
  return new ProviderError('transient', clip(message), code !== undefined && NETWORK_CODES.test(code) ? code : undefined);
}
