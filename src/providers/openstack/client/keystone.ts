// Keystone v3 tokens: the auth request for a password or an application credential, the token from
// the X-Subject-Token header, the service catalog it comes with, and its renewal. One token serves
// every caller; it is renewed a few minutes before it expires, or when a service rejects it, and
// callers that need one while a request for it is out wait for that request instead of sending theirs.
import type { Credentials, EndpointInterface } from './config';
import { OpenStackError } from './errors';
import type { HttpClient } from './http';

// ---------------------------------------------------------------------------------------------
// Wire shapes

export interface CatalogEndpoint {
  id?: string;
  interface: string;
  region?: string | null;
  region_id?: string | null;
  url: string;
}

export interface CatalogService {
  id?: string;
  type: string;
  name?: string;
  endpoints: CatalogEndpoint[];
}

export interface NamedRef {
  id?: string;
  name?: string;
  domain?: { id?: string; name?: string };
}

export interface KeystoneToken {
  methods: string[];
  /** ISO 8601; null would be a token that never expires. */
  expires_at: string | null;
  issued_at?: string;
  project?: NamedRef;
  user?: NamedRef;
  roles?: Array<{ id?: string; name?: string }>;
  catalog?: CatalogService[];
  application_credential?: { id: string; name?: string; restricted?: boolean };
}

export interface TokenResponse {
  token: KeystoneToken;
}

interface UserRef {
  id?: string;
  name?: string;
  domain?: { id: string } | { name: string };
}

export interface PasswordIdentity {
  methods: ['password'];
  password: { user: UserRef & { password: string } };
}

export interface ApplicationCredentialIdentity {
  methods: ['application_credential'];
  application_credential: { id: string; secret: string } | { name: string; secret: string; user: UserRef };
}

export interface ProjectScope {
  project: { id: string } | { name: string; domain: { id: string } | { name: string } };
}

export interface AuthRequest {
  auth: { identity: PasswordIdentity | ApplicationCredentialIdentity; scope?: ProjectScope };
}

// ---------------------------------------------------------------------------------------------
// The auth request

function domainRef(id: string | undefined, name: string | undefined): { id: string } | { name: string } | undefined {
  if (id !== undefined) return { id };
  if (name !== undefined) return { name };
  return undefined;
}

function userRef(c: { userId?: string; username?: string; userDomainId?: string; userDomainName?: string }): UserRef {
  // An id names the user on its own; a name only within its domain.
  if (c.userId !== undefined) return { id: c.userId };
  return { name: c.username, domain: domainRef(c.userDomainId, c.userDomainName) };
}

/** The body of POST /v3/auth/tokens for these credentials. */
export function authRequest(credentials: Credentials): AuthRequest {
  if (credentials.method === 'application_credential') {
    // The credential is bound to one project: Keystone refuses a scope beside it.
    const application_credential = credentials.id !== undefined
      ? { id: credentials.id, secret: credentials.secret }
      : { name: credentials.name ?? '', secret: credentials.secret, user: userRef(credentials) };
    return { auth: { identity: { methods: ['application_credential'], application_credential } } };
  }
  const scope: ProjectScope = credentials.projectId !== undefined
    ? { project: { id: credentials.projectId } }
    : {
      project: {
        name: credentials.projectName ?? '',
        // loadCloudConfig insists on a domain; credentials built by hand fall back to Keystone's default one.
        domain: domainRef(credentials.projectDomainId, credentials.projectDomainName) ?? { id: 'default' },
      },
    };
  return {
    auth: {
      identity: { methods: ['password'], password: { user: { ...userRef(credentials), password: credentials.password } } },
      scope,
    },
  };
}

/** The tokens URL for an auth_url as users write it: ".../v3", ".../identity" (devstack) or "host:5000". */
export function tokensUrl(authUrl: string): string {
  const base = authUrl.replace(/\/+$/, '');
  return /\/v3$/.test(base) ? `${base}/auth/tokens` : `${base}/v3/auth/tokens`;
}

// ---------------------------------------------------------------------------------------------
// The catalog

export interface EndpointQuery {
  type: string;
  interface: EndpointInterface;
  region?: string;
}

/** The URL of a service in the catalog by type, interface and (when given) region. */
export function selectEndpoint(catalog: readonly CatalogService[], query: EndpointQuery): string {
  const services = catalog.filter((service) => service.type === query.type);
  if (services.length === 0) {
    throw new OpenStackError({
      service: 'identity', category: 'bad_request', code: 'EndpointNotFound',
      message: `the service catalog has no "${query.type}" service (it has: ${catalog.map((s) => s.type).join(', ') || 'nothing'})`,
    });
  }
  const endpoints = services.flatMap((service) => service.endpoints)
    .filter((endpoint) => endpoint.interface === query.interface)
    .filter((endpoint) => query.region === undefined || endpoint.region_id === query.region || endpoint.region === query.region);
  if (endpoints.length === 0) {
    const region = query.region === undefined ? '' : ` in region "${query.region}"`;
    throw new OpenStackError({
      service: 'identity', category: 'bad_request', code: 'EndpointNotFound',
      message: `the service catalog has no ${query.interface} "${query.type}" endpoint${region}`,
    });
  }
  // Without a region every region's endpoint qualifies; like the OpenStack clients, take the first.
  return endpoints[0].url;
}

// ---------------------------------------------------------------------------------------------
// Tokens

export interface AuthState {
  token: string;
  catalog: CatalogService[];
  projectId?: string;
  userId?: string;
  /** Local clock (ms) after which the token is renewed before use. */
  renewAt: number;
}

export interface KeystoneAuthOptions {
  /** Renew this long before expiry (5 min), but never more than half the token's life before. */
  renewBeforeMs?: number;
  now?: () => number;
}

export class KeystoneAuth {
  private state: AuthState | undefined;
  private pending: Promise<AuthState> | undefined;
  private readonly renewBeforeMs: number;
  private readonly now: () => number;

  constructor(private readonly credentials: Credentials, private readonly http: HttpClient, options: KeystoneAuthOptions = {}) {
    this.renewBeforeMs = options.renewBeforeMs ?? 5 * 60_000;
    this.now = options.now ?? Date.now;
    http.redactor.addCredential(credentials.method === 'password' ? credentials.password : credentials.secret);
  }

  /**
   * A token good for a while yet; one auth request at a time, shared by everyone waiting. It takes
   * no caller's signal: one caller giving up must not fail the others waiting on the same request.
   */
  async current(): Promise<AuthState> {
    if (this.state !== undefined && this.now() < this.state.renewAt) return this.state;
    this.pending ??= this.authenticate().then(
      (state) => {
        this.state = state;
        this.pending = undefined;
        return state;
      },
      (error: unknown) => {
        this.pending = undefined;
        throw error;
      },
    );
    return this.pending;
  }

  /**
   * A service refused this token: forget it, unless another caller has already replaced it (many
   * requests refused at once then lead to one new token, not one each).
   */
  invalidate(token: string): void {
    if (this.state?.token === token) this.state = undefined;
  }

  private async authenticate(): Promise<AuthState> {
    const response = await this.http.send({
      service: 'identity', method: 'POST', url: tokensUrl(this.credentials.authUrl),
      json: authRequest(this.credentials),
      // A second token request does no harm; it may be sent again after any connection failure.
      resendable: true,
    }).catch((error: unknown) => {
      throw refusedCredentials(error);
    });
    const token = response.headers.get('x-subject-token');
    if (token === null || token === '') {
      throw new OpenStackError({
        service: 'identity', category: 'auth', status: response.status, code: 'NoSubjectToken', method: 'POST',
        path: new URL(response.url).pathname, message: 'Keystone answered without an X-Subject-Token header',
      });
    }
    this.http.redactor.addToken(token);
    const body = response.body;
    if (!isTokenResponse(body)) {
      throw new OpenStackError({
        service: 'identity', category: 'transient', status: response.status, code: 'BadResponse', method: 'POST',
        path: new URL(response.url).pathname, message: 'Keystone answered without a "token" object',
      });
    }
    return {
      token,
      catalog: body.token.catalog ?? [],
      projectId: body.token.project?.id,
      userId: body.token.user?.id,
      renewAt: this.renewAt(body.token),
    };
  }

  /**
   * When to renew, on the local clock. The token's lifetime is taken from Keystone's own
   * issued_at/expires_at and counted from now, so a skew between the two clocks neither renews
   * every token at once nor uses one past its end.
   */
  private renewAt(token: KeystoneToken): number {
    const now = this.now();
    if (token.expires_at === null) return Number.POSITIVE_INFINITY;
    const expires = Date.parse(token.expires_at);
    const issued = token.issued_at !== undefined ? Date.parse(token.issued_at) : Number.NaN;
    if (Number.isNaN(expires)) return now;
    const lifetime = Number.isNaN(issued) ? expires - now : expires - issued;
    const margin = Math.min(this.renewBeforeMs, Math.max(0, lifetime) / 2);
    return now + lifetime - margin;
  }
}

// Keystone refuses some credentials with more than 401: a deleted application credential is a 404
// ("Could not find Application Credential: ..."), as is an auth_url with a wrong path; an auth body
// it cannot read is a 400. None of these clears until the operator fixes the cloud's credentials.
// (401 and 403 are read as auth failures already.)
const REFUSED_CREDENTIALS = new Set([400, 404]);

/** A token request Keystone turned down with 400 or 404, as the auth failure it is. */
function refusedCredentials(error: unknown): unknown {
  if (!(error instanceof OpenStackError) || error.category !== 'bad_request' || !REFUSED_CREDENTIALS.has(error.status ?? 0)) return error;
  return new OpenStackError({
    service: error.service, category: 'auth', message: error.serviceMessage, status: error.status, code: error.code,
    method: error.method, path: error.path, requestId: error.requestId, retryAfterMs: error.retryAfterMs, detail: error.detail,
  });
}

function isTokenResponse(body: unknown): body is TokenResponse {
  if (typeof body !== 'object' || body === null) return false;
  const token = (body as { token?: unknown }).token;
  return typeof token === 'object' && token !== null;
}
