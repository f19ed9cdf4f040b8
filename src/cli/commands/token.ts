// airavata-ms token: a development token minted locally with the service's HS256 secret.
import type { Command } from 'commander';
import { mintHs256Token } from '../../auth/mintToken';
import { ConfigError, loadConfig } from '../../config';
import type { CliContext } from '../context';
import { positiveInt } from '../parsers';

export function registerToken(program: Command, ctx: CliContext): void {
  program.command('token')
    .description('mint a development token (HS256, signed with AUTH_HS256_SECRET) for a gateway and user')
    .requiredOption('--gateway <id>', 'gateway id (the gatewayID claim)')
    .requiredOption('--user <name>', 'user name (the userName claim)')
    .option('--ttl <seconds>', 'lifetime in seconds', positiveInt, 3600)
    .option('--json', 'print {"accessToken", "claimsMap"} as JSON')
    .action(async (options: { gateway: string; user: string; ttl: number; json?: boolean }) => {
      const config = loadConfig(ctx.env);
      if (!config.auth.hs256Secret) {
        throw new ConfigError(['AUTH_HS256_SECRET: needed to mint a development token']);
      }
      ctx.secrets.add(config.auth.hs256Secret);
      const accessToken = await mintHs256Token({
        secret: config.auth.hs256Secret, gatewayId: options.gateway, userName: options.user, ttlSeconds: options.ttl,
      });
      const out = options.json
        ? JSON.stringify({ accessToken, claimsMap: { gatewayID: options.gateway, userName: options.user } })
        : accessToken;
      ctx.stdout.write(`${out}\n`);
    });
}
