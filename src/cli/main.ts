#!/usr/bin/env node
// airavata-ms: the operator's command line. Speaks to the service only through the generated
// Thrift client, as any admin script would; `token` mints a development token locally.
import { Command, InvalidArgumentError } from 'commander';
import { mintHs256Token } from '../auth/mintToken';
import { ConfigError, loadConfig } from '../config';

function positiveInt(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed <= 0) throw new InvalidArgumentError('must be a positive whole number');
  return parsed;
}

export function buildCli(): Command {
  const program = new Command('airavata-ms')
    .description('Admin command line of the Airavata meta-scheduler')
    .showHelpAfterError();

  program.command('token')
    .description('mint a development token (HS256, signed with AUTH_HS256_SECRET) for a gateway and user')
    .requiredOption('--gateway <id>', 'gateway id (the gatewayID claim)')
    .requiredOption('--user <name>', 'user name (the userName claim)')
    .option('--ttl <seconds>', 'lifetime in seconds', positiveInt, 3600)
    .option('--json', 'print {"accessToken", "claimsMap"} as JSON')
    .action(async (options: { gateway: string; user: string; ttl: number; json?: boolean }) => {
      const config = loadConfig();
      if (!config.auth.hs256Secret) {
        throw new ConfigError(['AUTH_HS256_SECRET: needed to mint a development token']);
      }
      const accessToken = await mintHs256Token({
        secret: config.auth.hs256Secret, gatewayId: options.gateway, userName: options.user, ttlSeconds: options.ttl,
      });
      const out = options.json
        ? JSON.stringify({ accessToken, claimsMap: { gatewayID: options.gateway, userName: options.user } })
        : accessToken;
      process.stdout.write(`${out}\n`);
    });
  return program;
}

if (require.main === module) {
  buildCli().parseAsync(process.argv).catch((error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`airavata-ms: ${message}\n`);
    process.exitCode = error instanceof ConfigError ? 2 : 1;
  });
}
