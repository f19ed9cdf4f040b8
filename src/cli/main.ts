#!/usr/bin/env node
// airavata-ms: the operator's command line. Speaks to the service only through the generated
// Thrift client, as any admin script would; `token` mints a development token locally.
import { Command, CommanderError } from 'commander';
import { registerAllocations } from './commands/allocations';
import { registerClusters } from './commands/clusters';
import { registerJobs } from './commands/jobs';
import { registerToken } from './commands/token';
import type { CliContext } from './context';
import { describeFailure } from './errors';
import { EXIT_CODES_HELP, ExitCode } from './exitCodes';
import { addCommonOptions } from './options';

const ENV_HELP = `
Environment:
  THRIFT_HOST, THRIFT_PORT, THRIFT_TRANSPORT   where the service is (as the service reads them)
  AIRAVATA_MS_TOKEN                            access token (JWT) to call with
  AUTH_HS256_SECRET + AIRAVATA_MS_GATEWAY      without a token: mint a 10-minute one for that gateway
  AIRAVATA_MS_USER                             user name in a minted token (default: the OS user)`;

export function buildCli(ctx: CliContext): Command {
  const program = new Command('airavata-ms')
    .description('Admin command line of the Airavata meta-scheduler')
    // Options before the command are the program's, after it the command's: `token --gateway`
    // and the common `--gateway` then never collide.
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({
      writeOut: (text) => ctx.stdout.write(text),
      writeErr: (text) => ctx.stderr.write(text),
      // One line on stderr, not commander's message plus the whole help.
      outputError: (text, write) => write(`airavata-ms: ${text.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ').trim()} (see --help)\n`),
    })
    .addHelpText('after', `${ENV_HELP}\n${EXIT_CODES_HELP}`);
  addCommonOptions(program);
  registerToken(program, ctx);
  registerClusters(program, ctx);
  registerJobs(program, ctx);
  registerAllocations(program, ctx);
  return program;
}

/** Runs the CLI with `argv` (node's: the first two are skipped) and resolves with the exit code. */
export async function run(argv: readonly string[], ctx: CliContext): Promise<number> {
  const program = buildCli(ctx);
  try {
    await program.parseAsync([...argv]);
    return ExitCode.Ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version end with code 0 and have been printed; everything else was a usage error
      // that commander has already reported in one line.
      return error.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage;
    }
    const failure = describeFailure(error, [...ctx.secrets]);
    ctx.stderr.write(`airavata-ms: ${failure.line}\n`);
    return failure.exitCode;
  }
}

if (require.main === module) {
  void run(process.argv, { env: process.env, stdout: process.stdout, stderr: process.stderr, secrets: new Set() })
    .then((code) => {
      process.exitCode = code;
      // A socket the thrift client never managed to close must not keep a finished command alive.
      setTimeout(() => process.exit(code), 2000).unref();
    });
}
