// How the service reaches a built cluster: its scheduler, the post-configure proof, and the key
// Ansible uses for ssh hosts. Controllers on this machine are reached directly; a controller
// elsewhere needs a remote command runner, which this version does not have.
import { hostname } from 'node:os';
import { UnsupportedError } from '../domain/errors';
import { gatewayAccount } from '../domain/gatewayAccount';
import type { Cluster, ClusterNode } from '../domain/types';
import type { Scheduler } from '../schedulers/scheduler';

export interface CommandResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export type RunCommand = (argv: readonly string[], options?: { timeoutMs?: number; cwd?: string }) => Promise<CommandResult>;

export interface NodeCapacityFact {
  cpus: number;
  memoryMb: number;
  nativeName: string;
}

export interface VerifyResult {
  failures: { host?: string; message: string }[];
  capacity: Map<string, NodeCapacityFact>;
}

export interface ClusterAccess {
  scheduler(cluster: Cluster): Scheduler;
  verify(cluster: Cluster): Promise<VerifyResult>;
  sshPrivateKey(cluster: Cluster): Promise<string | undefined>;
}

/** The Slurm node name our inventory gives a node (see inventoryOf). */
export function nativeNodeName(node: Pick<ClusterNode, 'address'>): string {
  return node.address === 'localhost' ? hostname() : node.address.replace(/[^A-Za-z0-9-]/g, '-');
}

/**
 * A cluster's worker pool is its nodes with the worker role, in the order createCluster listed
 * them, except that a controller that is also a worker always serves (it comes first). The first
 * workerCount of the pool serve.
 */
export function servingWorkers<N extends Pick<ClusterNode, 'roles'>>(nodes: readonly N[], workerCount: number): N[] {
  const pool = nodes.filter((n) => n.roles.includes('worker'));
  const ordered = [...pool.filter((n) => n.roles.includes('controller')), ...pool.filter((n) => !n.roles.includes('controller'))];
  return ordered.slice(0, workerCount);
}

/** Nodes taking part in the cluster now: all but the RELEASED ones (workers scaled in). */
export function activeNodes<N extends Pick<ClusterNode, 'state'>>(nodes: readonly N[]): N[] {
  return nodes.filter((n) => n.state !== 'RELEASED');
}

export interface LocalSlurmAccessOptions {
  run: RunCommand;
  makeScheduler: () => Scheduler;
  sshPrivateKey?: (gatewayId: string) => Promise<string | undefined>;
  /** Run the proof job as the gateway's account (runuser). Default: when we are root. */
  switchUser?: boolean;
  /** How long verify waits for every node to be idle. */
  idleTimeoutMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

export class LocalSlurmAccess implements ClusterAccess {
  private scheduler0?: Scheduler;

  constructor(private readonly options: LocalSlurmAccessOptions) {}

  scheduler(cluster: Cluster): Scheduler {
    const controller = cluster.nodes.find((n) => n.roles.includes('controller')) ?? cluster.nodes[0];
    if (controller?.address !== 'localhost') {
      throw new UnsupportedError('dispatch', `cluster ${cluster.name}: its Slurm controller ${controller?.address ?? '(none)'} is not this machine; remote controllers are not available in this version`);
    }
    this.scheduler0 ??= this.options.makeScheduler();
    return this.scheduler0;
  }

  /** The gateway's key, only for clusters with hosts reached over ssh. */
  async sshPrivateKey(cluster: Cluster): Promise<string | undefined> {
    if (cluster.nodes.every((node) => node.address === 'localhost')) return undefined;
    return this.options.sshPrivateKey?.(cluster.gatewayId);
  }

  async verify(cluster: Cluster): Promise<VerifyResult> {
    const sleep = this.options.sleep ?? ((ms: number) => new Promise((resolve) => setTimeout(resolve, ms)));
    const workers = activeNodes(cluster.nodes).filter((n) => n.roles.includes('worker'));
    const names = new Map(workers.map((n) => [nativeNodeName(n), n]));
    const deadline = Date.now() + (this.options.idleTimeoutMs ?? 60_000);
    let states = new Map<string, { state: string; cpus: number; memoryMb: number }>();
    for (;;) {
      const sinfo = await this.options.run(['sinfo', '-h', '-N', '-o', '%N|%c|%m|%t'], { timeoutMs: 15_000 });
      states = parseSinfo(sinfo.stdout);
      const notIdle = [...names.keys()].filter((name) => states.get(name)?.state.replace(/[*~#!%$@^-]+$/, '') !== 'idle');
      if (sinfo.exitCode === 0 && notIdle.length === 0) break;
      if (Date.now() >= deadline) {
        return {
          failures: notIdle.map((name) => ({
            host: names.get(name)?.address,
            message: `Slurm node ${name} is ${states.get(name)?.state ?? 'unknown to sinfo'}${sinfo.exitCode !== 0 ? ` (sinfo: ${sinfo.stderr.trim()})` : ''}, not idle`,
          })),
          capacity: new Map(),
        };
      }
      await sleep(1000);
    }
    const failures: VerifyResult['failures'] = [];
    const capacity = new Map<string, NodeCapacityFact>();
    // The proof job runs as the gateway's account, as its jobs will: it also proves the account
    // exists on every node.
    const switchUser = this.options.switchUser ?? process.getuid?.() === 0;
    const asAccount = switchUser ? ['runuser', '-u', gatewayAccount(cluster.gatewayId).name, '--'] : [];
    for (const [name, node] of names) {
      const probe = await this.options.run([...asAccount, 'srun', '-N1', '-n1', '-w', name, '-t', '1', '--quiet', '/bin/true'], { timeoutMs: 60_000, cwd: '/' });
      if (probe.exitCode !== 0) {
        failures.push({ host: node.address, message: `a one-task job on ${name} failed: ${probe.stderr.trim() || `exit ${probe.exitCode}`}` });
      }
      const facts = states.get(name);
      if (facts) capacity.set(node.nodeId, { cpus: facts.cpus, memoryMb: facts.memoryMb, nativeName: name });
    }
    return { failures, capacity };
  }
}

export function parseSinfo(text: string): Map<string, { state: string; cpus: number; memoryMb: number }> {
  const out = new Map<string, { state: string; cpus: number; memoryMb: number }>();
  for (const line of text.split('\n')) {
    const [name, cpus, memory, state] = line.trim().split('|');
    if (!name || state === undefined) continue;
    out.set(name, { state, cpus: Number(cpus), memoryMb: Number(memory) });
  }
  return out;
}
