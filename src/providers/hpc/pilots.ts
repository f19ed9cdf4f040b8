// A pilot's placeholder job at an HPC site, over the login host's runner as the site account: a
// batch job that holds whole nodes (--exclusive) for the wall time and does nothing (sleep), so job
// steps can start inside its allocation at once. Its name carries the allocation id, so a submit
// cut short is found again instead of holding the nodes twice.
import * as path from 'node:path';
import type { CommandRunner } from '../../exec/commandRunner';
import { siteJobRoot, type HpcOptions } from './options';

const TIMEOUT_MS = 60_000;

export interface PlaceholderSpec {
  allocationId: string;
  partition: string;
  nodes: number;
  wallTimeMinutes: number;
}

/** What squeue says of a placeholder; undefined when the site no longer lists it. */
export interface PlaceholderStatus {
  /** PENDING, RUNNING, COMPLETING, ... */
  state: string;
  reason: string;
  /** Node list as Slurm compresses it ("hpc-[1-2]"), for running ones. */
  nodeList: string;
  /** Slurm's start and end times (the controller's local time), for running ones. */
  startTime: string;
  endTime: string;
}

export function placeholderName(allocationId: string): string {
  return `ms-pilot-${allocationId}`;
}

export class SitePilots {
  constructor(private readonly runner: CommandRunner, private readonly options: HpcOptions) {}

  /** The placeholder's Slurm id: the one already there under its name, else a new one. */
  async submit(spec: PlaceholderSpec): Promise<{ nativeJobId: string; adopted: boolean }> {
    const existing = await this.find(spec.allocationId);
    if (existing) return { nativeJobId: existing, adopted: true };
    const root = siteJobRoot(this.options);
    const args = [
      'sbatch', '--parsable', `--job-name=${placeholderName(spec.allocationId)}`, `--partition=${spec.partition}`,
      ...(this.options.account ? [`--account=${this.options.account}`] : []),
      `--nodes=${spec.nodes}`, '--exclusive', `--time=${spec.wallTimeMinutes}`, `--chdir=${root}`,
      `--output=${path.posix.join(root, '.pilots', `${spec.allocationId}.out`)}`,
      // Holds the nodes until Slurm ends it (wall time) or someone cancels it.
      `--wrap=exec sleep ${spec.wallTimeMinutes * 60 + 600}`,
    ];
    const mkdir = await this.runner.run(['mkdir', '-p', '--', path.posix.join(root, '.pilots')], { timeoutMs: TIMEOUT_MS });
    if (mkdir.exitCode !== 0) throw new PilotRefusedError(`cannot make ${root}/.pilots: ${mkdir.stderr.trim().slice(0, 300)}`);
    const result = await this.runner.run(args, { timeoutMs: TIMEOUT_MS, cwd: '/' });
    if (result.exitCode !== 0) {
      const said = result.stderr.trim().slice(0, 800);
      if (/Unable to contact|Socket timed out|Connection refused|temporarily unavailable|try again/i.test(said)) throw new Error(`sbatch (pilot): ${said}`);
      throw new PilotRefusedError(`the site refused the pilot's placeholder job: ${said || `exit ${result.exitCode}`}`);
    }
    const id = result.stdout.trim().split(';')[0];
    if (!/^\d+$/.test(id)) throw new Error(`sbatch printed no job id for the pilot: ${JSON.stringify(result.stdout.slice(0, 200))}`);
    return { nativeJobId: id, adopted: false };
  }

  /** The placeholder's Slurm id by its name, when the site still lists it. */
  async find(allocationId: string): Promise<string | undefined> {
    const result = await this.runner.run(['squeue', '--noheader', '--me', `--name=${placeholderName(allocationId)}`, '--format=%i'], { timeoutMs: TIMEOUT_MS });
    if (result.exitCode !== 0) throw new Error(`squeue failed (exit ${result.exitCode}): ${result.stderr.trim().slice(0, 300)}`);
    return result.stdout.split('\n').map((line) => line.trim()).find((line) => /^\d+$/.test(line));
  }

  async status(nativeJobId: string): Promise<PlaceholderStatus | undefined> {
    const result = await this.runner.run(['squeue', '--noheader', '--me', `--jobs=${nativeJobId}`, '--format=%T|%r|%S|%e|%N'], { timeoutMs: TIMEOUT_MS });
    // squeue says "Invalid job id specified" (exit 1) for a job it has forgotten.
    if (result.exitCode !== 0 && /Invalid job id/i.test(result.stderr)) return undefined;
    if (result.exitCode !== 0) throw new Error(`squeue failed (exit ${result.exitCode}): ${result.stderr.trim().slice(0, 300)}`);
    const line = result.stdout.split('\n').map((l) => l.trim()).find((l) => l !== '');
    if (!line) return undefined;
    const [state, reason, startTime, endTime, nodeList] = line.split('|');
    return { state, reason: reason ?? '', startTime: startTime ?? '', endTime: endTime ?? '', nodeList: nodeList ?? '' };
  }

  /** Slurm's compressed node list ("hpc-[1-2]") as host names. */
  async hostnames(nodeList: string): Promise<string[]> {
    if (nodeList.trim() === '') return [];
    const result = await this.runner.run(['scontrol', 'show', 'hostnames', nodeList], { timeoutMs: TIMEOUT_MS });
    if (result.exitCode !== 0) throw new Error(`scontrol show hostnames failed: ${result.stderr.trim().slice(0, 300)}`);
    return result.stdout.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  }

  async cancel(nativeJobId: string): Promise<void> {
    if (!/^\d+$/.test(nativeJobId)) throw new Error(`not a Slurm job id: ${JSON.stringify(nativeJobId)}`);
    const result = await this.runner.run(['scancel', nativeJobId], { timeoutMs: TIMEOUT_MS });
    if (result.exitCode !== 0 && !/Invalid job id|already completing|has already finished/i.test(result.stderr)) {
      throw new Error(`scancel ${nativeJobId} failed: ${result.stderr.trim().slice(0, 300)}`);
    }
  }
}

/** The site will not take this pilot as asked (a partition, a size, a time it refuses): not retried. */
export class PilotRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PilotRefusedError';
  }
}
