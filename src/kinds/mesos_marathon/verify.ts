// The proof before a Mesos + Marathon cluster is READY, run on the controller: every ZooKeeper
// member answers "imok", the masters have elected a leader and every active agent is registered
// with it (its CPUs and memory are what placement reads), Marathon answers /v2/info and Metronome
// /v1/jobs. Each failure names the host and what was answered.
import type { Cluster } from '../../domain/types';
import type { CommandRunner } from '../../exec/commandRunner';
import type { NodeCapacityFact, VerifyResult } from '../kind';
import { mastersOf } from './inventory';
import { mesosPorts } from './options';
import { httpGetArgv, ruokArgv } from './probe';

const PROBE_TIMEOUT_MS = 30_000;

interface MasterState {
  leader?: string;
  slaves?: { hostname?: string; pid?: string; active?: boolean; resources?: { cpus?: number; mem?: number } }[];
}

export async function verifyMesos(cluster: Cluster, controller: CommandRunner): Promise<VerifyResult> {
  const ports = mesosPorts(cluster);
  const masters = mastersOf(cluster);
  const agents = cluster.nodes.filter((n) => n.roles.includes('worker') && n.state !== 'RELEASED');
  const failures: VerifyResult['failures'] = [];
  const addr = (address: string) => (address === 'localhost' ? '127.0.0.1' : address);

  for (const master of masters) {
    const ruok = await controller.run(ruokArgv(addr(master.address), ports.zookeeper), { timeoutMs: PROBE_TIMEOUT_MS });
    if (ruok.stdout.trim() !== 'imok') {
      failures.push({ host: master.address, message: `ZooKeeper on port ${ports.zookeeper} does not serve: ${said(ruok)}` });
    }
  }
  if (failures.length > 0) return { failures, capacity: new Map() };

  const first = addr(masters[0]?.address ?? 'localhost');
  const stateRun = await controller.run(httpGetArgv(first, ports.master, '/master/state'), { timeoutMs: PROBE_TIMEOUT_MS });
  const state = parseJson<MasterState>(stateRun.stdout);
  if (stateRun.exitCode !== 0 || !state?.leader) {
    failures.push({ host: masters[0]?.address, message: `the Mesos masters have no elected leader: ${state ? 'state has no leader' : said(stateRun)}` });
    return { failures, capacity: new Map() };
  }

  const capacity = new Map<string, NodeCapacityFact>();
  for (const agent of agents) {
    const registered = state.slaves?.find((s) => s.active !== false && (s.hostname === agent.address || agentIp(s.pid) === addr(agent.address)));
    if (!registered) {
      failures.push({ host: agent.address, message: `the Mesos agent is not registered with the leading master (${state.leader})` });
      continue;
    }
    capacity.set(agent.nodeId, {
      cpus: Math.floor(registered.resources?.cpus ?? 0),
      memoryMb: Math.floor(registered.resources?.mem ?? 0),
      nativeName: registered.hostname ?? agent.address,
    });
  }

  for (const [name, port, path] of [['Marathon', ports.marathon, '/v2/info'], ['Metronome', ports.metronome, '/v1/jobs']] as const) {
    const run = await controller.run(httpGetArgv(first, port, path), { timeoutMs: PROBE_TIMEOUT_MS });
    if (run.exitCode !== 0 || parseJson<unknown>(run.stdout) === undefined) {
      failures.push({ host: masters[0]?.address, message: `${name} does not answer ${path} on port ${port}: ${said(run)}` });
    }
  }
  return { failures, capacity };
}

/** "slave(1)@10.0.0.4:5051" -> "10.0.0.4". */
function agentIp(pid: string | undefined): string | undefined {
  return pid ? /@([^:]+):\d+$/.exec(pid)?.[1] : undefined;
}

function parseJson<T>(text: string): T | undefined {
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}

/** What a probe was answered, short. */
function said(run: { exitCode: number; stdout: string; stderr: string }): string {
  const text = (run.stderr.trim() || run.stdout.trim() || `exit ${run.exitCode}`).replace(/\s+/g, ' ');
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}
