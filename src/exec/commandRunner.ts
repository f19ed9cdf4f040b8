// Runs one command (argv, never a shell string) and hands back its output. Scheduler adapters talk
// to their cluster only through CommandRunner, so a remote (ssh) runner can stand in for the local
// one without the adapters changing.
import { execa } from 'execa';

export interface RunOptions {
  /** Written to the child's stdin, then stdin is closed. */
  input?: string;
  /** Default: the runner's default (30 s). */
  timeoutMs?: number;
  cwd?: string;
  /** Added to the runner's base environment (see LocalCommandRunner). */
  env?: Record<string, string>;
  /**
   * How stdout/stderr bytes become a string. 'latin1' maps every byte to one UTF-16 unit, so a
   * caller that counts bytes (an offset into a file) can: string length === byte length.
   */
  encoding?: 'utf8' | 'latin1';
  signal?: AbortSignal;
}

export interface CommandResult {
  stdout: string;
  stderr: string;
  /** The child's exit status; 128 + N when it was killed by signal N. */
  exitCode: number;
}

export interface CommandRunner {
  /**
   * Runs argv[0] with the rest as its arguments. A non-zero exit is a result, not an error; the
   * promise rejects (CommandError) only when the command could not run or finish: not found,
   * timed out, aborted, or output past the buffer limit.
   */
  run(argv: readonly string[], options?: RunOptions): Promise<CommandResult>;
}

export type CommandFailure = 'spawn' | 'timeout' | 'canceled' | 'maxBuffer';

export class CommandError extends Error {
  constructor(
    readonly failure: CommandFailure,
    readonly argv: readonly string[],
    message: string,
    readonly stderr = '',
  ) {
    super(message);
    this.name = 'CommandError';
  }
}

/** Variables the local runner passes on by default: enough to find and run programs, no secrets. */
export const BASE_ENV_NAMES = ['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'LC_ALL', 'TZ'] as const;

export interface LocalCommandRunnerOptions {
  /** Default timeout per command, ms (30 s). */
  defaultTimeoutMs?: number;
  /** After the timeout's SIGTERM, SIGKILL follows this many ms later (2 s). */
  killGraceMs?: number;
  /**
   * The environment every child starts from. Default: BASE_ENV_NAMES picked from process.env.
   * Never the service's whole environment: sbatch copies its environment into the job, and the
   * service's (DATABASE_URL, AUTH_HS256_SECRET, ...) must not reach users' jobs.
   */
  baseEnv?: Record<string, string>;
}

const SIGNAL_NUMBERS: Record<string, number> = {
  SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGILL: 4, SIGTRAP: 5, SIGABRT: 6, SIGBUS: 7, SIGFPE: 8, SIGKILL: 9,
  SIGUSR1: 10, SIGSEGV: 11, SIGUSR2: 12, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15,
};

export class LocalCommandRunner implements CommandRunner {
  private readonly defaultTimeoutMs: number;
  private readonly killGraceMs: number;
  private readonly baseEnv: Record<string, string>;

  constructor(options: LocalCommandRunnerOptions = {}) {
    this.defaultTimeoutMs = options.defaultTimeoutMs ?? 30_000;
    this.killGraceMs = options.killGraceMs ?? 2_000;
    this.baseEnv = options.baseEnv ?? pickEnv(process.env, BASE_ENV_NAMES);
  }

  async run(argv: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    if (argv.length === 0 || argv[0] === '') throw new CommandError('spawn', argv, 'empty command');
    const [file, ...args] = argv;
    const timeoutMs = options.timeoutMs ?? this.defaultTimeoutMs;
    const subprocess = execa(file, args, {
      reject: false,
      shell: false,
      timeout: timeoutMs,
      killSignal: 'SIGTERM',
      forceKillAfterDelay: this.killGraceMs,
      cancelSignal: options.signal,
      // Its own process group, so what it started can be killed with it (see below).
      detached: true,
      cwd: options.cwd,
      env: { ...this.baseEnv, ...options.env },
      extendEnv: false,
      input: options.input,
      stdin: options.input === undefined ? 'ignore' : 'pipe',
      encoding: options.encoding ?? 'utf8',
      // Bytes are counted by callers (file offsets): a trailing newline is data.
      stripFinalNewline: false,
    });
    // execa's timeout and cancelSignal kill only the child; a grandchild still holding stdout open
    // would keep the call waiting for as long as it lives. So the whole group gets the signal,
    // then SIGKILL after the grace period.
    const pid = subprocess.pid;
    const timers: NodeJS.Timeout[] = [];
    const killAll = (): void => {
      killGroup(pid, 'SIGTERM');
      timers.push(setTimeout(() => killGroup(pid, 'SIGKILL'), this.killGraceMs));
    };
    timers.push(setTimeout(killAll, timeoutMs));
    options.signal?.addEventListener('abort', killAll, { once: true });
    let result;
    try {
      result = await subprocess;
    } finally {
      for (const timer of timers) clearTimeout(timer);
      options.signal?.removeEventListener('abort', killAll);
    }
    if (result.timedOut || result.isCanceled || result.signal !== undefined) killGroup(pid, 'SIGKILL');

    const stdout = typeof result.stdout === 'string' ? result.stdout : '';
    const stderr = typeof result.stderr === 'string' ? result.stderr : '';
    const shown = argv.join(' ');
    if (result.timedOut) {
      throw new CommandError('timeout', argv, `${shown}: timed out after ${timeoutMs} ms`, stderr);
    }
    if (result.isCanceled) throw new CommandError('canceled', argv, `${shown}: canceled`, stderr);
    if (result.isMaxBuffer) throw new CommandError('maxBuffer', argv, `${shown}: output past the buffer limit`, stderr);
    if (result.exitCode === undefined && result.signal === undefined) {
      // execa's code is e.g. ENOENT when the program does not exist.
      throw new CommandError('spawn', argv, `${shown}: could not run (${result.code ?? result.originalMessage ?? 'unknown'})`, stderr);
    }
    const exitCode = result.exitCode ?? 128 + (result.signal ? (SIGNAL_NUMBERS[result.signal] ?? 0) : 0);
    return { stdout, stderr, exitCode };
  }
}

/** The child leads its own group (detached); whatever it started there goes too. */
function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already empty.
  }
}

function pickEnv(env: NodeJS.ProcessEnv, names: readonly string[]): Record<string, string> {
  const picked: Record<string, string> = {};
  for (const name of names) {
    const value = env[name];
    if (value !== undefined) picked[name] = value;
  }
  return picked;
}
