// What every command gets from main: the environment, the output streams and the set of secrets to
// mask in error lines. No globals, so tests can run commands in-process with their own streams.
import type { Command } from 'commander';
import { commonFlags, type CommonFlags, type Env } from './options';
import { Output } from './output';
import { Session } from './session';

export type CliStream = NodeJS.WritableStream & { isTTY?: boolean };

export interface CliContext {
  env: Env;
  stdout: CliStream;
  stderr: CliStream;
  /** Tokens and keys seen in this run, masked from any error line. */
  secrets: Set<string>;
}

export interface CommandScope {
  session: Session;
  out: Output;
  flags: CommonFlags;
}

/** Opens a session for the command, runs `fn`, and always closes the connection. */
export async function withSession<T>(ctx: CliContext, cmd: Command, fn: (scope: CommandScope) => Promise<T>): Promise<T> {
  const flags = commonFlags(cmd);
  const session = await Session.open(flags, ctx.env, ctx.secrets);
  try {
    return await fn({ session, out: new Output(flags.json === true, ctx.stdout), flags });
  } finally {
    session.close();
  }
}
