// What the figures were measured on: printed with every run so a table is never read without it.
import { readFileSync } from 'node:fs';
import * as os from 'node:os';

export interface MachineInfo {
  cores: number;
  cpuModel: string;
  node: string;
  os: string;
}

export function describeMachine(): MachineInfo {
  let cpuModel = os.cpus()[0]?.model ?? 'unknown';
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('model name'));
    if (line) cpuModel = line.slice(line.indexOf(':') + 1).trim();
  } catch {
    // not Linux: keep os.cpus()'s model
  }
  return {
    cores: os.availableParallelism(),
    cpuModel,
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
  };
}

export interface CpuSnapshot {
  /** This process's user + system CPU, microseconds. */
  processUs: number;
  /** The whole machine's busy and total jiffies over all cores (Linux /proc/stat), when readable. */
  machineBusy?: number;
  machineTotal?: number;
  wallMs: number;
}

export function cpuSnapshot(): CpuSnapshot {
  const usage = process.cpuUsage();
  const snapshot: CpuSnapshot = { processUs: usage.user + usage.system, wallMs: performance.now() };
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number);
    const total = fields.reduce((sum, value) => sum + value, 0);
    const idle = fields[3] + fields[4]; // idle + iowait
    snapshot.machineBusy = total - idle;
    snapshot.machineTotal = total;
  } catch {
    // not Linux
  }
  return snapshot;
}

/** CPU used between two snapshots, in percent of one core: this process, and the whole machine. */
export function cpuBetween(from: CpuSnapshot, to: CpuSnapshot, cores: number): { processPct: number; machinePct: number } {
  const wallUs = (to.wallMs - from.wallMs) * 1000;
  const processPct = wallUs > 0 ? (100 * (to.processUs - from.processUs)) / wallUs : Number.NaN;
  let machinePct = Number.NaN;
  if (from.machineBusy !== undefined && to.machineBusy !== undefined && from.machineTotal !== undefined && to.machineTotal !== undefined) {
    const total = to.machineTotal - from.machineTotal;
    if (total > 0) machinePct = (100 * cores * (to.machineBusy - from.machineBusy)) / total;
  }
  return { processPct, machinePct };
}

/** Linux reports per-process CPU in clock ticks of USER_HZ, which is 100 on every Linux architecture Node runs on. */
const USER_HZ = 100;

/**
 * User + system CPU of another process so far, in microseconds (Linux /proc/<pid>/stat); undefined
 * when it cannot be read (the process has ended, or not Linux). Lets the bench process account for
 * the CPU of servers and clients it started without asking them.
 */
export function processCpuUs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count fields after it.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]); // field 14 of the full line
    const stime = Number(fields[12]); // field 15
    if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
    return ((utime + stime) * 1_000_000) / USER_HZ;
  } catch {
    return undefined;
  }
}

export interface ProcessesCpuSnapshot {
  wallMs: number;
  byPid: Map<number, number | undefined>;
  machine: CpuSnapshot;
}

export function processesCpuSnapshot(pids: readonly number[]): ProcessesCpuSnapshot {
  return { wallMs: performance.now(), byPid: new Map(pids.map((pid) => [pid, processCpuUs(pid)])), machine: cpuSnapshot() };
}

/** CPU of the given processes together between two snapshots, percent of one core; NaN when unknown. */
export function processesCpuBetween(from: ProcessesCpuSnapshot, to: ProcessesCpuSnapshot, pids: readonly number[]): number {
  const wallUs = (to.wallMs - from.wallMs) * 1000;
  let used = 0;
  for (const pid of pids) {
    const a = from.byPid.get(pid);
    const b = to.byPid.get(pid);
    if (a === undefined || b === undefined) return Number.NaN;
    used += b - a;
  }
  return wallUs > 0 ? (100 * used) / wallUs : Number.NaN;
}
