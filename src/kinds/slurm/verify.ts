// The proof before a Slurm cluster is READY: every active worker idle in sinfo, then a one-task
// job run on each, as the gateway's account (so the account is proven on every node too).
import { gatewayAccount } from '../../domain/gatewayAccount';
import type { Cluster } from '../../domain/types';
import { activeNodes } from '../../domain/workerPool';
import type { CommandRunner } from '../../exec/commandRunner';
import type { NodeCapacityFact, VerifyResult } from '../kind';
import { slurmNodeName } from './nodeName';

export interface SlurmVerifyOptions {
  /** Run the proof job as the gateway's account (runuser). Default: when we are root. */
  switchUser?: boolean;
  /** How long to wait for every node to be idle. */
  idleTimeoutMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

export async function verifySlurm(cluster: Cluster, controller: CommandRunner, options: SlurmVerifyOptions = {}): Promise<VerifyResult> {
  const sleep = options.sleep ?? ((ms: number) => new Promise((resolve) => setTimeout(resolve, ms)));
  const workers = activeNodes(cluster.nodes).filter((n) => n.roles.includes('worker'));
  const names = new Map(workers.map((n) => [slurmNodeName(n), n]));
  const deadline = Date.now() + (options.idleTimeoutMs ?? 60_000);
  let states = new Map<string, { state: string; cpus: number; memoryMb: number }>();
  for (;;) {
    const sinfo = await controller.run(['sinfo', '-h', '-N', '-o', '%N|%c|%m|%t'], { timeoutMs: 15_000 });
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
  // The proof job runs as the gateway's account, as its jobs will.
  const switchUser = options.switchUser ?? process.getuid?.() === 0;
  const asAccount = switchUser ? ['runuser', '-u', gatewayAccount(cluster.gatewayId).name, '--'] : [];
  const failures: VerifyResult['failures'] = [];
  const capacity = new Map<string, NodeCapacityFact>();
  for (const [name, node] of names) {
    const probe = await controller.run([...asAccount, 'srun', '-N1', '-n1', '-w', name, '-t', '1', '--quiet', '/bin/true'], { timeoutMs: 60_000, cwd: '/' });
    if (probe.exitCode !== 0) {
      failures.push({ host: node.address, message: `a one-task job on ${name} failed: ${probe.stderr.trim() || `exit ${probe.exitCode}`}` });
    }
    const facts = states.get(name);
    if (facts) capacity.set(node.nodeId, { cpus: facts.cpus, memoryMb: facts.memoryMb, nativeName: name });
  }
  return { failures, capacity };
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
