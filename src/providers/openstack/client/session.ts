// Authenticated calls to one service of the cloud: its URL from the token's catalog (or an
// override from clouds.yaml), the token in X-Auth-Token, and one more try with a new token when the
// service answers 401 (the token was revoked, or expired early) before the 401 is the caller's.
import type { CloudConfig } from './config';
import { OpenStackError, type OpenStackService } from './errors';
import { HttpClient, type HttpClientOptions, type HttpMethod, type HttpResponse, type Query } from './http';
import { KeystoneAuth, selectEndpoint, type AuthState, type KeystoneAuthOptions } from './keystone';

export interface SessionOptions extends KeystoneAuthOptions {
  http?: HttpClientOptions;
}

export interface ServiceCall {
  method: HttpMethod;
  /** Below the service's versioned root ("/servers/detail", "/networks", "/stacks"). */
  path: string;
  query?: Query;
  json?: unknown;
  headers?: Readonly<Record<string, string>>;
  accept?: readonly number[];
  resendable?: boolean;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export class OpenStackSession {
  readonly http: HttpClient;
  readonly auth: KeystoneAuth;

  constructor(readonly config: CloudConfig, options: SessionOptions = {}) {
    this.http = new HttpClient(options.http);
    this.auth = new KeystoneAuth(config.credentials, this.http, options);
  }

  async call(service: OpenStackService, call: ServiceCall): Promise<HttpResponse> {
    const state = await this.auth.current();
    try {
      return await this.send(state, service, call);
    } catch (error) {
      if (!(error instanceof OpenStackError) || error.status !== 401 || error.service === 'identity') throw error;
      this.auth.invalidate(state.token);
      const renewed = await this.auth.current();
      return await this.send(renewed, service, call);
    }
  }

  /** The versioned root URL of a service, as the calls' paths expect it. */
  async root(service: OpenStackService): Promise<string> {
    return this.rootFor(await this.auth.current(), service);
  }

  /** The project the token is scoped to (Heat's URLs and the quota calls need it). */
  async projectId(): Promise<string> {
    const state = await this.auth.current();
    if (state.projectId === undefined) {
      throw new OpenStackError({ service: 'identity', category: 'auth', code: 'Unscoped', message: 'the token is not scoped to a project' });
    }
    return state.projectId;
  }

  private send(state: AuthState, service: OpenStackService, call: ServiceCall): Promise<HttpResponse> {
    return this.http.send({
      service, method: call.method, url: this.rootFor(state, service) + call.path, query: call.query, json: call.json,
      headers: { ...call.headers, 'X-Auth-Token': state.token }, accept: call.accept, resendable: call.resendable,
      timeoutMs: call.timeoutMs, signal: call.signal,
    });
  }

  private rootFor(state: AuthState, service: OpenStackService): string {
    const listed = this.config.endpointOverrides[service]
      ?? selectEndpoint(state.catalog, { type: service, interface: this.config.interface, region: this.config.regionName });
    return versionedRoot(service, listed, state.projectId);
  }
}

/**
 * Catalogs list some services by their bare host (Neutron "http://host:9696/", Glance
 * "http://host:9292") and others with version and project (Nova ".../v2.1/<project>", Heat
 * ".../v1/<project>"): every root is brought to the form the calls' paths are written against.
 */
export function versionedRoot(service: OpenStackService, url: string, projectId: string | undefined): string {
  const base = url.replace(/\/+$/, '');
  switch (service) {
    case 'network':
      return /\/v2\.0$/.test(base) ? base : `${base}/v2.0`;
    case 'image':
      return /\/v2(\.\d+)?$/.test(base) ? base : `${base}/v2`;
    case 'identity':
      return /\/v3$/.test(base) ? base : `${base}/v3`;
    case 'orchestration':
      // Heat's URLs are per project; a catalog entry may stop at the version.
      return /\/v1$/.test(base) && projectId !== undefined ? `${base}/${projectId}` : base;
    case 'compute':
      return base;
  }
}
