// CommandRunner for a host reached over SSH: each command is one "exec" channel on the host's
// shared connection (sshConnection.ts). Same contract as LocalCommandRunner: a non-zero exit (or
// 128+N for a signal) is a result; the promise rejects with a CommandError only when the command
// could not run or finish: timeout, canceled, maxBuffer, or SshCommandError (failure 'spawn')
// when SSH itself failed, with its reason (network, auth, hostKey, ...).
//
// One difference: a program that does not exist, or a cwd that cannot be entered, is reported by
// the remote shell as `sh -c` would report it (exit 127, or 1 for cd, with its message on stderr),
// not as a rejection: over SSH nothing else tells the two apart from the command's own exit.
import { randomBytes } from 'node:crypto';
import { constants as osConstants } from 'node:os';
import type { Client, ClientChannel } from 'ssh2';
import { CommandError, type CommandResult, type CommandRunner, type RunOptions } from './commandRunner';
import { CommandOutput, StderrWithPid } from './commandOutput';
import { remoteCommandLine, RemoteCommandLineError } from './remoteCommandLine';
import type { Lease, SshConnection } from './sshConnection';
import { sshCommandError, SshLinkError } from './sshErrors';

export interface SshCommandRunnerOptions {
  /** Default timeout per command, ms (30 s), counted from the call: waiting to connect counts. */
  defaultTimeoutMs?: number;
  /** After a timeout's or abort's SIGTERM to the remote process group, SIGKILL follows this many ms later (2 s). */
  killGraceMs?: number;
  /** Bytes of stdout, and of stderr, kept before the command is stopped (100 MB: execa's default). */
  maxBuffer?: number;
}

type StopReason = 'timeout' | 'canceled';

/** How often a channel sshd refused is asked for again (see NotStarted 'later'). */
const CHANNEL_ATTEMPTS = 6;

/**
 * The command was never sent, so trying again cannot run it twice. 'reconnect': the connection
 * had died unnoticed. 'later': sshd refused the channel; it frees a session slot only after it has
 * processed the close of the previous channel, a little after we saw that close, so a channel
 * opened right then can be refused although our count of open channels is below its MaxSessions.
 */
class NotStarted extends Error {
  constructor(readonly cause: SshLinkError, readonly retry: 'reconnect' | 'later') {
    super(cause.message);
  }
}

export class SshCommandRunner implements CommandRunner {
  private readonly defaultTimeoutMs: number;
  private readonly killGraceMs: number;
  private readonly maxBuffer: number;

  constructor(private readonly connection: SshConnection, options: SshCommandRunnerOptions = {}) {
    this.defaultTimeoutMs = options.defaultTimeoutMs ?? 30_000;
    this.killGraceMs = options.killGraceMs ?? 2_000;
    this.maxBuffer = options.maxBuffer ?? 100_000_000;
  }

  async run(argv: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    const pidMarker = `ms-ssh-pid-${randomBytes(8).toString('hex')}`;
    let line: string;
    try {
      line = remoteCommandLine(argv, { cwd: options.cwd, env: options.env, pidMarker });
    } catch (error) {
      if (error instanceof RemoteCommandLineError) throw new CommandError('spawn', argv, `${argv.join(' ')}: ${error.message}`);
      throw error;
    }
    const timeoutMs = options.timeoutMs ?? this.defaultTimeoutMs;
    const stop = stopSignal(timeoutMs, options.signal);
    try {
      for (let attempt = 1; ; attempt += 1) {
        const lease = await this.lease(argv, stop.signal, timeoutMs);
        try {
          return await this.execute(lease, { argv, line, pidMarker, options, signal: stop.signal, timeoutMs });
        } catch (error) {
          if (!(error instanceof NotStarted)) throw error;
          if (error.retry === 'reconnect') this.connection.forget(lease.client);
          const again = error.retry === 'reconnect' ? attempt < 2 : attempt < CHANNEL_ATTEMPTS;
          if (!again) throw sshCommandError(error.cause, argv, false);
          if (error.retry === 'later' && !(await pause(50 * attempt, stop.signal))) throw stopError(stop.signal, argv, timeoutMs, '');
        }
      }
    } finally {
      stop.dispose();
    }
  }

  private async lease(argv: readonly string[], signal: AbortSignal, timeoutMs: number): Promise<Lease> {
    try {
      return await this.connection.lease(signal);
    } catch (error) {
      if (signal.aborted) throw stopError(signal, argv, timeoutMs, '');
      if (error instanceof SshLinkError) throw sshCommandError(error, argv, false);
      throw error;
    }
  }

  /** Runs the line on one channel. The lease is released when the channel has closed. */
  private execute(lease: Lease, run: {
    argv: readonly string[]; line: string; pidMarker: string; options: RunOptions; signal: AbortSignal; timeoutMs: number;
  }): Promise<CommandResult> {
    const { argv, line, options, signal, timeoutMs } = run;
    const { client } = lease;
    const encoding = options.encoding ?? 'utf8';
    const target = `${this.connection.target.user}@${this.connection.target.host}:${this.connection.target.port}`;
    let remotePid: number | undefined;
    /** Stopping the remote command: TERM sent ('term'), then KILL and channel closed ('done'). */
    let stopPhase: 'none' | 'term' | 'done' = 'none';
    const stdout = new CommandOutput(this.maxBuffer);
    const stderr = new StderrWithPid(this.maxBuffer, run.pidMarker, (pid) => {
      remotePid = pid;
      // Stopped before its pid was known (aborted while starting): catch up.
      if (stopPhase !== 'none') this.killGroup(pid, stopPhase === 'term' ? 'TERM' : 'KILL');
    });

    return new Promise<CommandResult>((resolve, reject) => {
      let channel: ClientChannel | undefined;
      let settled = false;
      let exitCode: number | undefined;
      let channelClosed = false;
      let stderrEnded = false;

      const settle = (outcome: () => void): void => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        client.removeListener('close', onConnectionClosed);
        outcome();
      };
      const fail = (error: unknown): void => settle(() => reject(error));

      // Stops the command and whatever it started, like the local runner's process-group kill:
      // TERM to the remote group now; KILL once the command has ended or the grace period is
      // over, and the channel closed if still open. The kills go as commands of their own over
      // the same connection: sshd refuses "signal" requests on root's sessions (root logins run
      // without privilege separation), and closing the channel alone leaves the command running.
      let stopTimer: NodeJS.Timeout | undefined;
      const stopRemote = (): void => {
        if (stopPhase !== 'none') return;
        stopPhase = 'term';
        if (remotePid !== undefined) this.killGroup(remotePid, 'TERM');
        stopTimer = setTimeout(finishStop, this.killGraceMs);
        stopTimer.unref();
      };
      const finishStop = (): void => {
        if (stopPhase !== 'term') return;
        stopPhase = 'done';
        clearTimeout(stopTimer);
        if (remotePid !== undefined) this.killGroup(remotePid, 'KILL');
        if (channel && !channelClosed) channel.close();
      };

      const onAbort = (): void => {
        fail(stopError(signal, argv, timeoutMs, stderr.text(encoding)));
        stopRemote();
      };
      const onConnectionClosed = (): void => {
        // The slot goes with the connection (sshd forgets its channels when the connection ends).
        lease.release();
        const lost = (): void => fail(sshCommandError(
          new SshLinkError('network', `connection to ${target} lost while the command ran`), argv, true));
        if (channel) {
          lost();
          return;
        }
        // Still opening: ssh2 answers the pending exec right after 'close', with an error that
        // tells whether the channel was open (the command may have started) or not (execFailure).
        // Should that answer not come, assume the worse.
        setImmediate(lost);
      };
      const complete = (): void => {
        if (!channelClosed || !stderrEnded) return;
        lease.release();
        if (exitCode === undefined) {
          fail(sshCommandError(new SshLinkError('network', `channel to ${target} closed without an exit status`), argv, true));
          return;
        }
        const code = exitCode;
        settle(() => resolve({ stdout: stdout.text(encoding), stderr: stderr.text(encoding), exitCode: code }));
      };
      const overflow = (): void => {
        fail(new CommandError('maxBuffer', argv, `${argv.join(' ')}: output past the buffer limit`, stderr.text(encoding)));
        stopRemote();
      };

      signal.addEventListener('abort', onAbort, { once: true });
      client.once('close', onConnectionClosed);

      try {
        client.exec(line, (error: Error | undefined, opened: ClientChannel) => {
          if (error) {
            lease.release();
            fail(execFailure(error, client, target, argv));
            return;
          }
          channel = opened;
          opened.on('close', () => {
            channelClosed = true;
            finishStop();
            complete();
          });
          opened.stderr.once('end', () => {
            stderrEnded = true;
            complete();
          });
          // Writing stdin after the command exited, and similar: the outcome comes from 'close'.
          opened.on('error', () => undefined);
          opened.stderr.on('error', () => undefined);
          opened.on('exit', (code: number | null, signalName?: string) => {
            exitCode = code ?? 128 + signalNumber(signalName);
          });
          opened.on('data', (chunk: Buffer) => {
            if (!stdout.push(chunk)) overflow();
          });
          opened.stderr.on('data', (chunk: Buffer) => {
            if (!stderr.push(chunk)) overflow();
          });
          if (settled) {
            // Aborted while the channel was opening: the command may have started. Stop it from
            // now on, with the full grace period (the earlier one ran without a channel).
            opened.end();
            clearTimeout(stopTimer);
            stopPhase = 'none';
            stopRemote();
            return;
          }
          // stdin: the input, then EOF (none: EOF at once, like the local runner's closed stdin).
          if (options.input !== undefined) opened.end(options.input);
          else opened.end();
        });
      } catch (error) {
        // ssh2 throws "Not connected" when the socket is already gone.
        lease.release();
        fail(new NotStarted(new SshLinkError('network', `${target}: ${error instanceof Error ? error.message : String(error)}`), 'reconnect'));
      }
    });
  }

  /** Best effort: `kill -s SIGNAL -- -PID` on the host, errors ignored. */
  private killGroup(pid: number, signalName: 'TERM' | 'KILL'): void {
    this.run(['kill', '-s', signalName, '--', `-${pid}`], { timeoutMs: 10_000 }).catch(() => undefined);
  }
}

/** An exec request that failed: which part failed decides whether the command may have run. */
function execFailure(error: Error & { reason?: unknown }, client: Client, target: string, argv: readonly string[]): Error {
  const gone = !isUsable(client);
  if (error.reason !== undefined || /No response from server/i.test(error.message)) {
    // The channel itself was not opened (refused by sshd, or the connection ended first): the
    // command was never sent.
    const cause = new SshLinkError(gone ? 'network' : 'protocol', `${target}: cannot open a channel: ${error.message}`);
    return new NotStarted(cause, gone ? 'reconnect' : 'later');
  }
  // "Unable to exec": sshd refused the command, or the connection ended while the request was on
  // its way, in which case it may have run.
  if (gone) return sshCommandError(new SshLinkError('network', `connection to ${target} lost while starting the command`), argv, true);
  return sshCommandError(new SshLinkError('protocol', `${target}: the server refused to run the command: ${error.message}`), argv, false);
}

function isUsable(client: Client): boolean {
  // ssh2 keeps its socket private; its 'close' has usually been seen by now, but not always.
  const socket = (client as unknown as { _sock?: { writable?: boolean; destroyed?: boolean } })._sock;
  return socket !== undefined && socket.writable === true && socket.destroyed !== true;
}

/** Aborts on the timeout ('timeout') or when the caller's signal aborts ('canceled'). */
function stopSignal(timeoutMs: number, outer: AbortSignal | undefined): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort('timeout' satisfies StopReason), timeoutMs);
  const onOuter = (): void => controller.abort('canceled' satisfies StopReason);
  if (outer?.aborted) onOuter();
  else outer?.addEventListener('abort', onOuter, { once: true });
  return {
    signal: controller.signal,
    dispose() {
      clearTimeout(timer);
      outer?.removeEventListener('abort', onOuter);
    },
  };
}

function stopError(signal: AbortSignal, argv: readonly string[], timeoutMs: number, stderr: string): CommandError {
  const shown = argv.join(' ');
  return signal.reason === 'timeout'
    ? new CommandError('timeout', argv, `${shown}: timed out after ${timeoutMs} ms`, stderr)
    : new CommandError('canceled', argv, `${shown}: canceled`, stderr);
}

/** Waits ms; false if the signal aborted first. */
function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise<boolean>((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** ssh2 reports a remote signal by name ("SIGTERM"); the numbers are Linux's, as the hosts are. */
function signalNumber(name: string | undefined): number {
  if (!name) return 0;
  const signals = osConstants.signals as Readonly<Record<string, number>>;
  return signals[name] ?? signals[`SIG${name}`] ?? 0;
}
