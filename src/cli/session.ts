// A CLI session: one connection through the generated client (src/client/connect.ts) and the
// AuthzToken every call carries. The token is --token / AIRAVATA_MS_TOKEN, or a short-lived one
// minted here when the operator holds the service's HS256 secret (AUTH_HS256_SECRET) and names a
// gateway; claimsMap's gatewayID is the --gateway, else the token's own claim (read, not verified:
// verifying is the service's job).
import { userInfo } from 'node:os';
import { decodeJwt } from 'jose';
import { mintHs256Token } from '../auth/mintToken';
import { GATEWAY_CLAIM, USER_CLAIM } from '../auth/tokenVerifier';
import { connectClients, type ServiceClients } from '../client/connect';
import { base } from '../rpc/wire';
import { isNetworkError } from './errors';
import { CliError, ExitCode } from './exitCodes';
import { explicitGateway, explicitToken, resolveTarget, type CommonFlags, type Env, type Target } from './options';

/** Long enough for any call; a service that does not answer by then is treated as unreachable. */
const CALL_TIMEOUT_MS = 30_000;
const CONNECT_TIMEOUT_MS = 5_000;
/** Lifetime of a token minted for one CLI run. */
const MINTED_TTL_SECONDS = 600;

export interface Credentials {
  accessToken: string;
  gatewayId: string;
  userName: string;
  minted: boolean;
}

function claimOf(token: string, claim: string): string | undefined {
  try {
    const value = decodeJwt(token)[claim];
    return typeof value === 'string' && value !== '' ? value : undefined;
  } catch {
    return undefined;
  }
}

/** Finds the token and gateway to call with; registers the token as a secret to mask. */
export async function resolveCredentials(flags: CommonFlags, env: Env, secrets: Set<string>): Promise<Credentials> {
  const gateway = explicitGateway(flags, env);
  const given = explicitToken(flags, env);
  if (given !== undefined) {
    secrets.add(given);
    const gatewayId = gateway ?? claimOf(given, GATEWAY_CLAIM);
    if (gatewayId === undefined) {
      throw new CliError(ExitCode.Unauthorized,
        `the token carries no readable ${GATEWAY_CLAIM} claim; pass --gateway (or AIRAVATA_MS_GATEWAY)`);
    }
    return { accessToken: given, gatewayId, userName: claimOf(given, USER_CLAIM) ?? 'unknown', minted: false };
  }
  const secret = env.AUTH_HS256_SECRET?.trim();
  if (secret && gateway) {
    secrets.add(secret);
    const userName = env.AIRAVATA_MS_USER?.trim() || safeUserName();
    const accessToken = await mintHs256Token({ secret, gatewayId: gateway, userName, ttlSeconds: MINTED_TTL_SECONDS });
    secrets.add(accessToken);
    return { accessToken, gatewayId: gateway, userName, minted: true };
  }
  throw new CliError(ExitCode.Unauthorized, secret
    ? 'no gateway to mint a token for: pass --gateway (or set AIRAVATA_MS_GATEWAY), or give --token'
    : 'no token: pass --token or set AIRAVATA_MS_TOKEN (or set AUTH_HS256_SECRET and --gateway to mint one)');
}

function safeUserName(): string {
  try {
    return userInfo().username || 'admin';
  } catch {
    return 'admin';
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export class Session {
  private constructor(
    readonly target: Target,
    readonly credentials: Credentials,
    private readonly clients: ServiceClients,
  ) {}

  static async open(flags: CommonFlags, env: Env, secrets: Set<string>): Promise<Session> {
    const target = resolveTarget(flags, env);
    const credentials = await resolveCredentials(flags, env, secrets);
    const where = `${target.host}:${target.port}`;
    let clients: ServiceClients;
    try {
      clients = await withTimeout(
        connectClients({ host: target.host, port: target.port, transport: target.transport, timeoutMs: CALL_TIMEOUT_MS }),
        CONNECT_TIMEOUT_MS,
        () => new CliError(ExitCode.Unavailable, `cannot connect to ${where}: no answer within ${CONNECT_TIMEOUT_MS / 1000} s`),
      );
    } catch (error) {
      if (error instanceof CliError) throw error;
      const code = (error as { code?: unknown }).code;
      const reason = typeof code === 'string' ? code : error instanceof Error ? error.message : String(error);
      throw new CliError(ExitCode.Unavailable, `cannot connect to ${where}: ${reason}`);
    }
    return new Session(target, credentials, clients);
  }

  /** The AuthzToken of every call; a fresh struct each time since the generated code may keep it. */
  get authz(): base.AuthzToken {
    return new base.AuthzToken({
      accessToken: this.credentials.accessToken,
      claimsMap: new Map([[GATEWAY_CLAIM, this.credentials.gatewayId], [USER_CLAIM, this.credentials.userName]]),
    });
  }

  /**
   * Runs one call. The thrift connection does not fail calls in flight when the socket drops (it
   * just stops answering), so every call has its own deadline.
   */
  async call<T>(fn: (clients: ServiceClients, authz: base.AuthzToken) => Promise<T>): Promise<T> {
    const where = `${this.target.host}:${this.target.port}`;
    try {
      return await withTimeout(fn(this.clients, this.authz), CALL_TIMEOUT_MS,
        () => new CliError(ExitCode.Unavailable, `cannot reach ${where}: no answer within ${CALL_TIMEOUT_MS / 1000} s`));
    } catch (error) {
      if (isNetworkError(error)) {
        throw new CliError(ExitCode.Unavailable, `cannot reach ${where}: ${(error as { code: string }).code}`);
      }
      throw error;
    }
  }

  close(): void {
    this.clients.close();
  }
}
