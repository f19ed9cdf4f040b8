// One multiplexed SSH connection to one host as one account: every command of that host runs as a
// channel on it. It connects on first use, reconnects on the next use after it dropped (the
// dropped connection's commands fail, see sshCommandRunner.ts), and checks the host key against
// the pin on every connect.
import { Client, type ConnectConfig } from 'ssh2';
import { fingerprintHostKey, preferredHostKeyAlgorithms, type HostKeyPins, type PinnedHostKey } from './hostKeys';
import { Slots, type Release } from './slots';
import { classifySsh2Error, hostKeyChangedMessage, SshLinkError, type HostKeyMismatch } from './sshErrors';
import { ssh2PrivateKey } from './sshPrivateKey';

export interface SshTarget {
  gatewayId: string;
  host: string;
  port: number;
  user: string;
  /**
   * Whose key signs in: the gateway's (default), or a cluster's own pair ("cluster:<id>") on
   * nodes a cloud provider bought for it.
   */
  keyOwner?: string;
}

export interface SshConnectionOptions {
  /** TCP connect, handshake and authentication together, ms (20 s). */
  connectTimeoutMs?: number;
  /** A keepalive every this many ms (15 s); three unanswered ones drop the connection. */
  keepaliveIntervalMs?: number;
  /**
   * Channels open at once (8); commands past the limit wait for a free channel. sshd refuses
   * channels past its MaxSessions (10 unless the host's sshd_config says otherwise) and frees a
   * session a little after we see its channel close; two spare sessions absorb that lag, and a
   * refused channel is asked for again (sshCommandRunner.ts).
   */
  maxChannels?: number;
}

export interface SshConnectionDeps {
  /** The gateway's private key (OpenSSH or PEM text), fetched at each connect, kept only in memory. */
  privateKey: () => Promise<string>;
  pins: HostKeyPins;
}

/** A client and a channel slot on it, until release() (after the channel has closed). */
export interface Lease {
  client: Client;
  release: Release;
}

export class SshConnection {
  private readonly slots: Slots;
  private readonly maxChannels: number;
  private readonly connectTimeoutMs: number;
  private readonly keepaliveIntervalMs: number;
  /** Ready and not known to be closed. */
  private client: Client | undefined;
  /** The connect in progress, shared by every command waiting for it. */
  private connecting: Promise<Client> | undefined;
  private closed = false;

  constructor(readonly target: SshTarget, private readonly deps: SshConnectionDeps, options: SshConnectionOptions = {}) {
    this.maxChannels = options.maxChannels ?? 8;
    this.slots = new Slots(this.maxChannels);
    this.connectTimeoutMs = options.connectTimeoutMs ?? 20_000;
    this.keepaliveIntervalMs = options.keepaliveIntervalMs ?? 15_000;
  }

  /**
   * Waits for a free channel slot, then for a ready connection (connecting if there is none).
   * Rejects with signal.reason when aborted, SshLinkError when the host cannot be reached or used.
   */
  async lease(signal: AbortSignal): Promise<Lease> {
    if (this.closed) throw this.closedError();
    const release = await this.slots.acquire(signal);
    try {
      return { client: await untilAborted(this.ready(), signal), release };
    } catch (error) {
      release();
      throw error;
    }
  }

  /** Stops using a client that turned out to be dead before its 'close' event said so. */
  forget(client: Client): void {
    if (this.client === client) this.client = undefined;
    client.destroy();
  }

  /** Whether a ready connection is held now (for tests and metrics; a command may still reconnect). */
  get connected(): boolean {
    return this.client !== undefined;
  }

  /** Closes the connection; commands in flight fail, later ones are refused. */
  async close(): Promise<void> {
    this.closed = true;
    this.slots.refuseWaiting(this.closedError());
    const client = this.client ?? (await this.connecting?.catch(() => undefined));
    this.client = undefined;
    if (!client) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        client.destroy();
        resolve();
      }, 2_000);
      client.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      client.end();
    });
  }

  private ready(): Promise<Client> {
    if (this.closed) return Promise.reject(this.closedError());
    if (this.client) return Promise.resolve(this.client);
    if (!this.connecting) {
      const attempt = this.connect().finally(() => {
        if (this.connecting === attempt) this.connecting = undefined;
      });
      // Every waiter may have given up (aborted) by the time this fails: not an unhandled rejection.
      attempt.catch(() => undefined);
      this.connecting = attempt;
    }
    return this.connecting;
  }

  private async connect(): Promise<Client> {
    const { gatewayId, host, port } = this.target;
    let privateKey: string;
    let pinned: PinnedHostKey | undefined;
    try {
      [privateKey, pinned] = await Promise.all([this.deps.privateKey(), this.deps.pins.pinned({ gatewayId, host, port })]);
    } catch (error) {
      throw new SshLinkError('local', `${this.describe()}: cannot read the gateway key or the host key pin: ${messageOf(error)}`);
    }
    try {
      privateKey = ssh2PrivateKey(privateKey);
    } catch (error) {
      throw new SshLinkError('auth', `${this.describe()}: unusable gateway key: ${messageOf(error)}`);
    }
    const client = await this.handshake(privateKey, pinned);
    if (this.closed) {
      client.destroy();
      throw this.closedError();
    }
    this.client = client;
    return client;
  }

  /** Connects, authenticates and settles the host key: pinned now, or matching the pin. */
  private handshake(privateKey: string, pinned: PinnedHostKey | undefined): Promise<Client> {
    const { gatewayId, host, port, user } = this.target;
    const client = new Client();
    // Every command in flight listens for the connection's 'close' (sshCommandRunner.ts).
    client.setMaxListeners(this.maxChannels + 10);
    let presented: PinnedHostKey | undefined;
    let presentedBlob: Buffer | undefined;
    let mismatch: HostKeyMismatch | undefined;
    return new Promise<Client>((resolve, reject) => {
      let settled = false;
      const fail = (error: SshLinkError): void => {
        if (settled) return;
        settled = true;
        client.destroy();
        reject(error);
      };
      const refuseKey = (found: HostKeyMismatch): void => {
        mismatch = found;
        fail(new SshLinkError('hostKey', hostKeyChangedMessage(found), found));
      };
      // Stays attached for the client's life: ssh2 emits errors after 'ready' too (a keepalive
      // timeout), and an EventEmitter 'error' without a listener would crash the service.
      client.on('error', (error: Error) => {
        if (mismatch) refuseKey(mismatch);
        else fail(new SshLinkError(classifySsh2Error(error), `${this.describe()}: ${error.message}`));
      });
      client.on('close', () => {
        if (this.client === client) this.client = undefined;
        fail(new SshLinkError('network', `${this.describe()}: connection closed during setup`));
      });
      client.on('ready', () => {
        if (pinned || !presented) {
          settled = true;
          resolve(client);
          return;
        }
        // First contact: pin only now, after the host proved it holds the key (the handshake's
        // signature) and accepted ours. A racer may have pinned first; its key must then match.
        const ours = presented;
        this.deps.pins.pin({ gatewayId, host, port }, ours, presentedBlob).then((holding) => {
          if (sameKey(holding, ours)) {
            if (!settled) {
              settled = true;
              resolve(client);
            }
          } else {
            refuseKey({ host, port, pinned: holding, presented: ours });
          }
        }, (error: unknown) => fail(new SshLinkError('local', `${this.describe()}: cannot pin the host key: ${messageOf(error)}`)));
      });
      const config: ConnectConfig = {
        host, port, username: user, privateKey,
        readyTimeout: this.connectTimeoutMs,
        keepaliveInterval: this.keepaliveIntervalMs,
        keepaliveCountMax: 3,
        hostVerifier: (blob: Buffer, verify: (valid: boolean) => void) => {
          try {
            presented = fingerprintHostKey(blob);
            presentedBlob = Buffer.from(blob);
          } catch {
            verify(false);
            return;
          }
          if (pinned && !sameKey(pinned, presented)) {
            mismatch = { host, port, pinned, presented };
            verify(false);
            return;
          }
          verify(true);
        },
      };
      const preferred = pinned ? [...preferredHostKeyAlgorithms(pinned.keyType)] : [];
      if (preferred.length > 0) config.algorithms = { serverHostKey: { remove: preferred, prepend: preferred, append: [] } };
      try {
        client.connect(config);
      } catch (error) {
        // ssh2 throws here for a key it cannot parse.
        fail(new SshLinkError('auth', `${this.describe()}: ${messageOf(error)}`));
      }
    });
  }

  private describe(): string {
    return `ssh ${this.target.user}@${this.target.host}:${this.target.port}`;
  }

  private closedError(): SshLinkError {
    return new SshLinkError('closed', `${this.describe()}: the SSH runner pool is closed`);
  }
}

function sameKey(a: PinnedHostKey, b: PinnedHostKey): boolean {
  return a.keyType === b.keyType && a.fingerprint === b.fingerprint;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The promise's outcome, or signal.reason once the signal aborts (the work itself goes on). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then((value) => {
      signal.removeEventListener('abort', onAbort);
      resolve(value);
    }, (error: unknown) => {
      signal.removeEventListener('abort', onAbort);
      reject(error);
    });
  });
}
