// What can go wrong between us and a host reached over SSH, sorted so callers can act on it: a
// network failure is worth retrying as is; a refused key, a changed host key or a protocol
// mismatch is not, and a changed host key may be an attack, so it is refused with both keys named.
import { CommandError } from './commandRunner';
import type { PinnedHostKey } from './hostKeys';

export type SshFailureReason =
  /** Refused, unreachable, timed out, reset, dropped mid-command: transient. */
  | 'network'
  /** The host does not accept the gateway's key for that account. */
  | 'auth'
  /** The host presented a key other than the one pinned for it. */
  | 'hostKey'
  /** No common algorithms, malformed traffic, a key we cannot use. */
  | 'protocol'
  /** Our side: the gateway key or the host key pin could not be read (the database): transient. */
  | 'local'
  /** Our side: the runner pool was closed (the service is shutting down). */
  | 'closed';

export interface HostKeyMismatch {
  host: string;
  port: number;
  pinned: PinnedHostKey;
  presented: PinnedHostKey;
}

/** A failure of the link to one host, before it is tied to a command (sshConnection.ts). */
export class SshLinkError extends Error {
  constructor(readonly reason: SshFailureReason, message: string, readonly hostKey?: HostKeyMismatch) {
    super(message);
    this.name = 'SshLinkError';
  }
}

/**
 * A command that could not run or finish because of SSH. A CommandError (failure 'spawn') like
 * any other runner's "could not run", with the reason on top.
 */
export class SshCommandError extends CommandError {
  /** Network failures and our own database's: retrying the same thing later may work. */
  readonly transient: boolean;

  constructor(
    readonly reason: SshFailureReason,
    argv: readonly string[],
    message: string,
    /**
     * False when the command certainly did not start (no channel was opened for it). True when the
     * link dropped after the command was sent: it may have run, whole or in part, so a command
     * that must not run twice (sbatch) is not simply retried.
     */
    readonly mayHaveRun: boolean,
  ) {
    super('spawn', argv, message);
    this.name = 'SshCommandError';
    this.transient = reason === 'network' || reason === 'local';
  }
}

/** The host's key is not the pinned one: refused, never re-pinned. */
export class HostKeyChangedError extends SshCommandError {
  readonly host: string;
  readonly port: number;
  readonly pinned: PinnedHostKey;
  readonly presented: PinnedHostKey;

  constructor(argv: readonly string[], mismatch: HostKeyMismatch) {
    super('hostKey', argv, hostKeyChangedMessage(mismatch), false);
    this.name = 'HostKeyChangedError';
    ({ host: this.host, port: this.port, pinned: this.pinned, presented: this.presented } = mismatch);
  }
}

export function hostKeyChangedMessage(m: HostKeyMismatch): string {
  return `host key of ${m.host}:${m.port} has changed: pinned ${m.pinned.keyType} ${m.pinned.fingerprint}, `
    + `presented ${m.presented.keyType} ${m.presented.fingerprint}; refusing to connect `
    + '(if the host was reinstalled, remove its pinned key to trust the new one)';
}

/** The command-level error for a link failure. */
export function sshCommandError(error: SshLinkError, argv: readonly string[], mayHaveRun: boolean): SshCommandError {
  if (error.reason === 'hostKey' && error.hostKey) return new HostKeyChangedError(argv, error.hostKey);
  return new SshCommandError(error.reason, argv, `${argv.join(' ')}: ${error.message}`, mayHaveRun);
}

/** ssh2 marks its errors with a level; the ones that mean "the network" are transient. */
export function classifySsh2Error(error: Error & { level?: unknown }): SshFailureReason {
  switch (error.level) {
    case 'client-socket':
    case 'client-timeout':
    case 'client-dns':
      return 'network';
    case 'client-authentication':
      return 'auth';
    default:
      // sshd closing the socket before its banner (MaxStartups, a restart) comes as a protocol
      // error, but it is the network's kind of failure: the next try usually gets through.
      return /Connection lost before handshake/i.test(error.message) ? 'network' : 'protocol';
  }
}
