// A local stand-in for an OpenStack cloud: one node:http server on 127.0.0.1 whose routes answer
// with the official API samples in test/fixtures/openstack (or whatever a test scripts), and which
// records every request so a test can check what the client sent.
//
// The samples name hosts that are not ours (23.253.248.171, example.com, ...): every URL in a
// served fixture is rewritten to this server first, and a fetch that tries any other host fails,
// so nothing leaves the machine.
import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import * as path from 'node:path';

export const FIXTURES = path.join(__dirname, '..', '..', 'fixtures', 'openstack');

export function fixtureText(name: string): string {
  return readFileSync(path.join(FIXTURES, name), 'utf8');
}

export function fixtureJson<T = unknown>(name: string): T {
  return JSON.parse(fixtureText(name)) as T;
}

export interface RecordedRequest {
  method: string;
  /** The URL path, without the query. */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: string;
  /** The body parsed as JSON; undefined when empty. */
  json: unknown;
}

export interface Reply {
  status: number;
  body?: string;
  headers?: Record<string, string>;
  /** Wait this long before answering (to let concurrent callers pile up). */
  delayMs?: number;
}

/** 'hang': never answer; 'reset': drop the connection once the request has arrived. */
export type Outcome = Reply | 'hang' | 'reset';
export type Handler = (request: RecordedRequest) => Outcome;

interface Route {
  method: string;
  path: string | RegExp;
  handler: Handler;
}

// Catalog ports of the samples -> the service's prefix on this server.
const SERVICE_BY_PORT: Record<string, string> = {
  '5000': 'identity', '35357': 'identity', '8774': 'compute', '9696': 'network', '9292': 'image', '8004': 'orchestration',
};
const FOREIGN_HOST = /https?:\/\/(23\.253\.248\.171|192\.168\.123\.200|openstack\.example\.com|example\.com|hostname|localhost)(:(\d+))?/g;

export class ReplayServer {
  readonly requests: RecordedRequest[] = [];
  private readonly routes: Route[] = [];
  private readonly sockets = new Set<Socket>();

  private constructor(private readonly server: Server, readonly url: string) {}

  static async start(): Promise<ReplayServer> {
    let replay: ReplayServer | undefined;
    const server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => replay?.answer(request.method ?? 'GET', request.url ?? '/', request.headers, Buffer.concat(chunks).toString('utf8'), response));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    replay = new ReplayServer(server, `http://127.0.0.1:${port}`);
    const sockets = replay.sockets;
    server.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    return replay;
  }

  /** Adds a route; a later route for the same request wins, so a test can override a default. */
  on(method: string, route: string | RegExp, outcome: Handler | Outcome): this {
    const handler: Handler = typeof outcome === 'function' ? outcome : () => outcome;
    this.routes.unshift({ method, path: route, handler });
    return this;
  }

  /** Requests to paths matching this (and method), in arrival order. */
  seen(method: string, route: string | RegExp): RecordedRequest[] {
    return this.requests.filter((r) => r.method === method && matches(route, r.path));
  }

  /** The sample's text with every foreign URL pointing at this server ("http://23.253.248.171:8774" -> "<us>/compute"). */
  localize(text: string): string {
    const out = text.replace(FOREIGN_HOST, (_all, _host: string, _port: string | undefined, port: string | undefined) => {
      const prefix = port === undefined ? '' : `/${SERVICE_BY_PORT[port] ?? `port-${port}`}`;
      return `${this.url}${prefix}`;
    });
    const stray = /https?:\/\/(?!127\.0\.0\.1)[^\s"]+/.exec(out);
    if (stray !== null) throw new Error(`fixture still names a foreign URL after localizing: ${stray[0]}`);
    return out;
  }

  /** A reply with a sample as its body, URLs localized. */
  fixture(name: string, status = 200, headers: Record<string, string> = {}): Reply {
    return { status, body: this.localize(fixtureText(name)), headers: { 'Content-Type': 'application/json', ...headers } };
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private answer(method: string, rawUrl: string, headers: IncomingHttpHeaders, body: string, response: ServerResponse): void {
    const url = new URL(rawUrl, this.url);
    let json: unknown;
    try {
      json = body === '' ? undefined : JSON.parse(body);
    } catch {
      json = undefined;
    }
    const recorded: RecordedRequest = { method, path: url.pathname, query: url.searchParams, headers, body, json };
    this.requests.push(recorded);
    const route = this.routes.find((r) => r.method === method && matches(r.path, url.pathname));
    const outcome: Outcome = route === undefined
      ? { status: 599, body: `no route for ${method} ${url.pathname}`, headers: { 'Content-Type': 'text/plain' } }
      : route.handler(recorded);
    if (outcome === 'hang') return;
    if (outcome === 'reset') {
      response.socket?.destroy();
      return;
    }
    const send = (): void => {
      const payload = Buffer.from(outcome.body ?? '', 'utf8');
      response.writeHead(outcome.status, { 'Content-Length': String(payload.length), ...outcome.headers }).end(payload);
    };
    if (outcome.delayMs === undefined) send();
    else setTimeout(send, outcome.delayMs);
  }
}

function matches(route: string | RegExp, pathname: string): boolean {
  return typeof route === 'string' ? route === pathname : route.test(pathname);
}

/** fetch that refuses any host but 127.0.0.1: a URL the localizing missed fails the test instead of leaving the machine. */
export const loopbackOnlyFetch: typeof fetch = (input, init) => {
  const target = input instanceof Request ? input.url : String(input);
  const host = new URL(target).hostname;
  if (host !== '127.0.0.1') return Promise.reject(new Error(`test client tried to reach ${host}`));
  return fetch(input, init);
};
