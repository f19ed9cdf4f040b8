// The options every service command takes (where the service is, who we are, --json) and how they
// resolve: the flag, else its environment variable, else the default. They are declared on the
// program and again on each command, so `airavata-ms --port 1 jobs list` and
// `airavata-ms jobs list --port 1` both work; the one nearer the command wins.
import type { Command } from 'commander';
import type { ThriftTransport } from '../config';
import { CliError, ExitCode } from './exitCodes';

export type Env = Record<string, string | undefined>;

export interface CommonFlags {
  host?: string;
  port?: string;
  transport?: string;
  token?: string;
  gateway?: string;
  json?: boolean;
}

export interface Target {
  host: string;
  port: number;
  transport: ThriftTransport;
}

const COMMON_KEYS: readonly (keyof CommonFlags)[] = ['host', 'port', 'transport', 'token', 'gateway', 'json'];

export function addCommonOptions(cmd: Command): Command {
  return cmd
    .option('--host <host>', 'service host (env THRIFT_HOST; default 127.0.0.1)')
    .option('--port <port>', 'service port (env THRIFT_PORT; default 9190)')
    .option('--transport <kind>', 'buffered or framed (env THRIFT_TRANSPORT; default buffered)')
    .option('--token <jwt>', 'access token (env AIRAVATA_MS_TOKEN; else one is minted from AUTH_HS256_SECRET for --gateway)')
    .option('--gateway <id>', "gateway id sent in claimsMap (env AIRAVATA_MS_GATEWAY; default the token's gatewayID claim)")
    .option('--json', 'machine-readable JSON on stdout, nothing else there');
}

/** The common flags of a command and its ancestors, the nearest one winning. */
export function commonFlags(cmd: Command): CommonFlags {
  const flags: CommonFlags = {};
  for (let at: Command | null = cmd; at; at = at.parent) {
    const opts = at.opts<Record<string, unknown>>();
    for (const key of COMMON_KEYS) {
      const value = opts[key];
      if (value === undefined || flags[key] !== undefined) continue;
      if (key === 'json') flags.json = value === true;
      else if (typeof value === 'string') flags[key] = value;
    }
  }
  return flags;
}

function nonBlank(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

export function resolveTarget(flags: CommonFlags, env: Env): Target {
  const host = nonBlank(flags.host) ?? nonBlank(env.THRIFT_HOST) ?? '127.0.0.1';
  const portText = nonBlank(flags.port) ?? nonBlank(env.THRIFT_PORT) ?? '9190';
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535) {
    throw new CliError(ExitCode.Usage, `--port: "${portText}" is not a port number (1-65535)`);
  }
  const transport = nonBlank(flags.transport) ?? nonBlank(env.THRIFT_TRANSPORT) ?? 'buffered';
  if (transport !== 'buffered' && transport !== 'framed') {
    throw new CliError(ExitCode.Usage, `--transport: "${transport}" is not one of buffered, framed`);
  }
  return { host, port, transport };
}

/** The explicitly chosen gateway, if any. */
export function explicitGateway(flags: CommonFlags, env: Env): string | undefined {
  return nonBlank(flags.gateway) ?? nonBlank(env.AIRAVATA_MS_GATEWAY);
}

export function explicitToken(flags: CommonFlags, env: Env): string | undefined {
  return nonBlank(flags.token) ?? nonBlank(env.AIRAVATA_MS_TOKEN);
}
