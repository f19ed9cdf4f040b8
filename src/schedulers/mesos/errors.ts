// Failures of a call to Marathon or Metronome as one typed error: which service, which request,
// the HTTP status and the API's own words ({"message": ..., "details": [...]}), or what went wrong
// on the way (no answer in time, connection refused, too many redirects). Credentials never reach
// it: the request line and the API's words are all it holds, and the client cuts its secrets out of
// those before they are stored (a proxy may echo request headers in an error page).

export type MesosService = 'Marathon' | 'Metronome';

/** HTTP: the API answered with an error status. The rest: no usable answer came. */
export type MesosErrorCode = 'HTTP' | 'Timeout' | 'ConnectionError' | 'TooManyRedirects' | 'BadRedirect' | 'BadResponse';

export interface MesosApiErrorInit {
  service: MesosService;
  code: MesosErrorCode;
  method: string;
  /** URL path of the request, without the query. */
  path: string;
  /** The master that answered or could not be reached (scheme://host:port, never with credentials). */
  endpoint?: string;
  status?: number;
  /** The API's "message", or what went wrong on the way. */
  apiMessage: string;
  /** The API's "details" (field errors), one line. */
  details?: string;
  /** Requests sent before giving up, redirects not counted. */
  attempts?: number;
  /** The connection failed before the request could have arrived (refused, name unknown). */
  neverSent?: boolean;
}

export class MesosApiError extends Error {
  readonly service: MesosService;
  readonly code: MesosErrorCode;
  readonly method: string;
  readonly path: string;
  readonly endpoint?: string;
  readonly status?: number;
  readonly apiMessage: string;
  readonly details?: string;
  readonly attempts: number;
  readonly neverSent: boolean;

  constructor(init: MesosApiErrorInit) {
    super(describe(init));
    this.name = 'MesosApiError';
    this.service = init.service;
    this.code = init.code;
    this.method = init.method;
    this.path = init.path;
    this.endpoint = init.endpoint;
    this.status = init.status;
    this.apiMessage = init.apiMessage;
    this.details = init.details;
    this.attempts = init.attempts ?? 1;
    this.neverSent = init.neverSent ?? false;
  }

  /** The same failure, saying how many requests were sent in all. */
  withAttempts(attempts: number): MesosApiError {
    return new MesosApiError({ ...this.init(), attempts });
  }

  /** Only these fields: a logger serialising the error gets nothing else. */
  toJSON(): Record<string, unknown> {
    return { name: this.name, message: this.message, ...this.init() };
  }

  private init(): MesosApiErrorInit {
    return {
      service: this.service, code: this.code, method: this.method, path: this.path, endpoint: this.endpoint,
      status: this.status, apiMessage: this.apiMessage, details: this.details, attempts: this.attempts, neverSent: this.neverSent,
    };
  }
}

function describe(init: MesosApiErrorInit): string {
  const at = init.endpoint !== undefined ? ` at ${init.endpoint}` : '';
  const status = init.status !== undefined ? `${init.status} ` : '';
  const details = init.details !== undefined && init.details !== '' ? ` (${init.details})` : '';
  const tries = (init.attempts ?? 1) > 1 ? `; gave up after ${init.attempts} attempts` : '';
  return `${init.service} ${init.method} ${init.path}${at}: ${status}${init.apiMessage}${details}${tries}`;
}

const MAX_TEXT = 500;

export function clip(text: string, max = MAX_TEXT): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max)}...` : flat;
}

/**
 * The message and details of an error body. Marathon and Metronome both answer
 * {"message": "...", "details": [{"path": "/id", "errors": ["..."]}]}; anything else (a proxy's
 * HTML page) gives no message, and the caller falls back on the status.
 */
export function errorBodyFacts(body: unknown): { message?: string; details?: string } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return {};
  const { message, details } = body as { message?: unknown; details?: unknown };
  const facts: { message?: string; details?: string } = {};
  if (typeof message === 'string' && message.trim() !== '') facts.message = clip(message);
  if (typeof details === 'string' && details.trim() !== '') facts.details = clip(details);
  if (Array.isArray(details)) {
    const lines = details.map(detailLine).filter((line) => line !== '');
    if (lines.length > 0) facts.details = clip(lines.join('; '));
  }
  return facts;
}

function detailLine(detail: unknown): string {
  if (typeof detail === 'string') return detail;
  if (typeof detail !== 'object' || detail === null) return '';
  const { path, errors } = detail as { path?: unknown; errors?: unknown };
  const words = Array.isArray(errors) ? errors.filter((e): e is string => typeof e === 'string').join(', ') : '';
  if (typeof path === 'string' && path !== '') return words === '' ? path : `${path}: ${words}`;
  return words;
}
