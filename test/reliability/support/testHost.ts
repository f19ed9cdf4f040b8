// One test machine of scripts/test-ssh-host on a bridge of the suite's own: brought up with the
// service's public key, looked at from inside (exec, not over SSH: the test's own view), and taken
// down at the end. Never this machine's own Slurm.
import { execFileSync, spawnSync } from 'node:child_process';
import * as path from 'node:path';

const HELPER = path.resolve(__dirname, '../../../scripts/test-ssh-host');

export interface HostCommandResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export class TestHost {
  private readonly env: NodeJS.ProcessEnv;
  private isUp = false;

  constructor(readonly name: string, readonly address: string, network: { bridge: string; net: string }) {
    this.env = { ...process.env, MS_TEST_BRIDGE: network.bridge, MS_TEST_NET: network.net };
  }

  /** Idempotent: on a host already up, starts its sshd again if it is not running. */
  up(authorizedKeysFile: string): void {
    this.isUp = true;
    execFileSync(HELPER, ['up', this.name, this.address, authorizedKeysFile], { env: this.env });
  }

  down(): void {
    if (!this.isUp) return;
    this.isUp = false;
    spawnSync(HELPER, ['down', this.name], { env: this.env });
  }

  /** Runs a command inside the host's namespaces. */
  exec(argv: string[]): HostCommandResult {
    const result = spawnSync(HELPER, ['exec', this.name, ...argv], { encoding: 'utf8', env: this.env });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  }

  /** As exec, throwing with the host's stderr when the command fails. */
  must(argv: string[]): string {
    const result = this.exec(argv);
    if (result.status !== 0) throw new Error(`${argv.join(' ')} on ${this.name} failed (${result.status}): ${result.stderr.trim()}`);
    return result.stdout;
  }
}
