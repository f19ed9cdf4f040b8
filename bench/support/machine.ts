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
