// Hands out a CommandRunner per (gateway, host, port, account): "a runner for this node of this
// cluster". Runners of the same key share one SSH connection, so a scheduler that asks for a
// runner per call still multiplexes every command over one TCP connection per host. close()
// (service shutdown) ends every connection.
import type { CommandRunner } from './commandRunner';
import { normalizeHost, type HostKeyPins } from './hostKeys';
import { SshCommandRunner, type SshCommandRunnerOptions } from './sshCommandRunner';
import { SshConnection, type SshConnectionOptions, type SshTarget } from './sshConnection';

export type { SshTarget } from './sshConnection';

export interface SshRunnerPoolDeps {
  /** The private key text of a key owner (a gateway id, or "cluster:<id>"). */
  privateKey: (keyOwner: string) => Promise<string>;
  pins: HostKeyPins;
}

export type SshRunnerPoolOptions = SshConnectionOptions & SshCommandRunnerOptions;

export class SshRunnerPool {
  private readonly entries = new Map<string, { connection: SshConnection; runner: SshCommandRunner }>();
  private closed = false;

  constructor(private readonly deps: SshRunnerPoolDeps, private readonly options: SshRunnerPoolOptions = {}) {}

  /** The runner for that host and account; the same one (and connection) for the same key. */
  runnerFor(target: SshTarget): CommandRunner {
    return this.entry(target).runner;
  }

  /** Whether the host's connection is up now (tests, health); a runner reconnects on its own. */
  isConnected(target: SshTarget): boolean {
    return this.entries.get(poolKey(normalizeTarget(target)))?.connection.connected ?? false;
  }

  /** Ends every connection; commands in flight fail and runners handed out refuse new ones. */
  async close(): Promise<void> {
    this.closed = true;
    const connections = [...this.entries.values()].map((entry) => entry.connection);
    this.entries.clear();
    await Promise.all(connections.map((connection) => connection.close()));
  }

  private entry(target: SshTarget): { connection: SshConnection; runner: SshCommandRunner } {
    const normalized = normalizeTarget(target);
    const key = poolKey(normalized);
    const existing = this.entries.get(key);
    if (existing) return existing;
    const keyOwner = normalized.keyOwner ?? normalized.gatewayId;
    const connection = new SshConnection(normalized, { privateKey: () => this.deps.privateKey(keyOwner), pins: this.deps.pins }, this.options);
    const created = { connection, runner: new SshCommandRunner(connection, this.options) };
    // After close() a runner still comes back (callers need not check), but its connection is
    // closed from the start, so every command is refused with reason 'closed'.
    if (this.closed) void connection.close();
    else this.entries.set(key, created);
    return created;
  }
}

function normalizeTarget(target: SshTarget): SshTarget {
  if (!Number.isInteger(target.port) || target.port < 1 || target.port > 65535) throw new Error(`bad SSH port ${target.port}`);
  if (target.user === '' || target.gatewayId === '' || target.host.trim() === '') throw new Error('an SSH target needs gateway, host and user');
  return {
    gatewayId: target.gatewayId, host: normalizeHost(target.host), port: target.port, user: target.user,
    ...(target.keyOwner === undefined ? {} : { keyOwner: target.keyOwner }),
  };
}

function poolKey(target: SshTarget): string {
  return JSON.stringify([target.gatewayId, target.host, target.port, target.user, target.keyOwner ?? '']);
}
