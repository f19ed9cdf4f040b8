// A replay server set up as a small cloud: Keystone issues numbered tokens with the sample's
// full catalog (compute, network, image, orchestration...), and a client points at it with a
// sleep that records instead of waiting and a fetch that stays on 127.0.0.1.
import type { CloudConfig, Credentials } from '../../../src/providers/openstack/client/config';
import { OpenStackClient, type OpenStackClientOptions } from '../../../src/providers/openstack/client/index';
import { loopbackOnlyFetch, ReplayServer, type RecordedRequest, type Reply } from './replayServer';

/** The project of auth-password-project-scoped-response.json; its catalog's compute and Heat URLs end in it. */
export const PROJECT_ID = 'a6944d763bf64ee6a275f1263fae0352';
/** The sample request's user and password (project-id-password.json). */
export const USER_ID = 'ee4dfb6e5540447cb3741905149d9b6e';
export const PASSWORD = 'devstacker';
export const TOKENS_PATH = '/identity/v3/auth/tokens';

export const COMPUTE = `/compute/v2.1/${PROJECT_ID}`;
export const NETWORK = '/network/v2.0';
export const IMAGE = '/image/v2';
export const ORCHESTRATION = `/orchestration/v1/${PROJECT_ID}`;

/** Token n (from 1) as Keystone hands it out here. */
export function tokenNumber(n: number): string {
  return `gAAAAAB-test-token-${n}`;
}

export interface TestCloud {
  server: ReplayServer;
  config: CloudConfig;
  client: OpenStackClient;
  /** Every wait the client asked for, in ms. */
  sleeps: number[];
  /** Tokens issued so far. */
  issued(): number;
  /** The X-Auth-Token a recorded request carried. */
  tokenOf(request: RecordedRequest): string | undefined;
  close(): Promise<void>;
}

export interface TestCloudOptions {
  /** Credentials for the client, given this server's URL; the sample user by id with project by id otherwise. */
  credentials?: (serverUrl: string) => Credentials;
  /** The Keystone sample to answer auth with (auth-password-project-scoped-response.json). */
  tokenFixture?: string;
  /** Applied to each auth reply (a delay, a missing header). */
  shapeAuthReply?: (reply: Reply, n: number) => Reply;
  client?: OpenStackClientOptions;
  regionName?: string;
}

export async function startTestCloud(options: TestCloudOptions = {}): Promise<TestCloud> {
  const server = await ReplayServer.start();
  let issued = 0;
  const tokenFixture = options.tokenFixture ?? 'keystone/auth-password-project-scoped-response.json';
  server.on('POST', TOKENS_PATH, () => {
    issued += 1;
    const reply = server.fixture(tokenFixture, 201, { 'X-Subject-Token': tokenNumber(issued) });
    return options.shapeAuthReply?.(reply, issued) ?? reply;
  });
  const config: CloudConfig = {
    source: 'test cloud',
    credentials: options.credentials?.(server.url) ?? { method: 'password', authUrl: `${server.url}/identity`, userId: USER_ID, password: PASSWORD, projectId: PROJECT_ID },
    interface: 'public',
    regionName: options.regionName ?? 'RegionOne',
    endpointOverrides: {},
  };
  const sleeps: number[] = [];
  const client = new OpenStackClient(config, {
    ...options.client,
    http: {
      fetch: loopbackOnlyFetch,
      sleep: async (ms: number) => {
        sleeps.push(ms);
      },
      timeoutMs: 2000,
      ...options.client?.http,
    },
  });
  return {
    server, config, client, sleeps,
    issued: () => issued,
    tokenOf: (request) => {
      const value = request.headers['x-auth-token'];
      return Array.isArray(value) ? value[0] : value;
    },
    close: () => server.close(),
  };
}

/** A JSON reply. */
export function json(status: number, body: unknown, headers: Record<string, string> = {}): Reply {
  return { status, body: JSON.stringify(body), headers: { 'Content-Type': 'application/json', ...headers } };
}
