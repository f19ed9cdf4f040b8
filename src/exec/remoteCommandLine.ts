// Turns argv (plus cwd and env) into the one command line an SSH "exec" request carries. There is
// no argv in the SSH protocol: the remote sshd hands the line to the account's login shell as
// `$SHELL -c LINE`, so every element is quoted for that shell and nothing in argv is ever parsed
// as shell syntax. The quoting is POSIX shell quoting (sh, bash, dash, ksh, zsh); an account whose
// login shell is csh or fish would read it differently and is not supported.
import { shellQuote } from '../schedulers/slurm/shellQuote';

export interface RemoteCommandOptions {
  cwd?: string;
  env?: Record<string, string>;
  /**
   * When set, the line first prints "<pidMarker> <pid>\n" on stderr: the pid of the shell, which
   * `exec` makes the command's. sshd starts each session in a process group of its own led by
   * that pid, so the runner can stop the command and what it started with `kill -- -PID`.
   */
  pidMarker?: string;
}

/** Names a POSIX shell accepts in `export NAME=...`; anything else is refused, never quoted. */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export class RemoteCommandLineError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RemoteCommandLineError';
  }
}

/**
 * `[printf '%s %s\n' 'MARKER' "$$" >&2 &&] cd -- 'DIR' && export NAME='value' && exec 'argv0' 'arg1' ...`
 *
 * - `exec`: the command replaces the shell, so the process sshd signals on a timeout or abort is
 *   the command itself, and its exit status or signal is what comes back.
 * - env goes on the line, not in SSH "env" requests: sshd drops every variable not named in its
 *   AcceptEnv (by default only LANG and LC_*).
 * - `&&`: a directory that cannot be entered or a variable that cannot be set stops the line with
 *   the shell's message on stderr and a non-zero status, instead of running the command elsewhere.
 */
export function remoteCommandLine(argv: readonly string[], options: RemoteCommandOptions = {}): string {
  if (argv.length === 0 || argv[0] === '') throw new RemoteCommandLineError('empty command');
  const steps: string[] = [];
  if (options.pidMarker !== undefined) steps.push(`printf '%s %s\\n' ${quote(options.pidMarker)} "$$" >&2`);
  if (options.cwd !== undefined) steps.push(`cd -- ${quote(options.cwd)}`);
  for (const [name, value] of Object.entries(options.env ?? {})) {
    if (!ENV_NAME.test(name)) throw new RemoteCommandLineError(`not an environment variable name: ${JSON.stringify(name)}`);
    steps.push(`export ${name}=${quote(value)}`);
  }
  steps.push(`exec ${argv.map(quote).join(' ')}`);
  return steps.join(' && ');
}

function quote(value: string): string {
  try {
    return shellQuote(value);
  } catch (error) {
    throw new RemoteCommandLineError(error instanceof Error ? error.message : String(error));
  }
}
