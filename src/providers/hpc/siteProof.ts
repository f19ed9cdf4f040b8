// The proof before an HPC system is READY, all over SSH as the site account: sinfo answers and
// lists every partition we were given (its nodes, CPUs, memory and MaxTime are recorded), the
// account can make our directories in its scratch, and `sbatch --test-only` accepts a job in each
// partition (with the allocation to charge). Nothing is configured and nothing is left running.
import type { PartitionFacts, SiteFacts } from '../../domain/types';
import type { CommandRunner } from '../../exec/commandRunner';
import type { VerifyResult } from '../../kinds/kind';
import { siteJobRoot, siteStatusDir, type HpcOptions } from './options';

/** One line per partition: name (default marked "*"), nodes, CPUs, memory MB, time limit. */
const SINFO_FORMAT = '%P|%D|%c|%m|%l';
const TIMEOUT_MS = 60_000;

/** Slurm's time limit ("infinite", "UNLIMITED", "D-HH:MM:SS", "HH:MM:SS", "MM:SS", "MM") in minutes; undefined for no limit. */
export function parseTimeLimit(raw: string): number | undefined | 'bad' {
  const text = raw.trim();
  if (/^(infinite|unlimited|n\/a)$/i.test(text)) return undefined;
  const m = /^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$/.exec(text);
  if (!m) return 'bad';
  const days = Number(m[1] ?? 0);
  const parts = [m[2], m[3], m[4]].filter((p): p is string => p !== undefined).map(Number);
  // With days: hours[:minutes[:seconds]]; without: minutes, minutes:seconds or hours:minutes:seconds.
  let minutes: number;
  if (m[1] !== undefined) minutes = days * 1440 + parts[0] * 60 + (parts[1] ?? 0) + Math.ceil((parts[2] ?? 0) / 60);
  else if (parts.length === 3) minutes = parts[0] * 60 + parts[1] + Math.ceil(parts[2] / 60);
  else if (parts.length === 2) minutes = parts[0] + Math.ceil(parts[1] / 60);
  else minutes = parts[0];
  // Runs of digits no Slurm prints (30 of them are past 2^53): not a time limit.
  return Number.isSafeInteger(minutes) ? minutes : 'bad';
}

/** "2+" (heterogeneous nodes: at least 2) as its least value. */
function leastOf(raw: string): number {
  return Number.parseInt(raw.replace(/\+$/, ''), 10);
}

/** sinfo's partition lines into facts, by partition name. */
export function parseSinfoPartitions(stdout: string): Map<string, PartitionFacts> {
  const found = new Map<string, PartitionFacts>();
  for (const line of stdout.split('\n')) {
    const [rawName, nodes, cpus, memory, limit] = line.trim().split('|');
    if (!rawName || limit === undefined) continue;
    const name = rawName.replace(/\*$/, '');
    const maxTime = parseTimeLimit(limit);
    const facts: PartitionFacts = {
      name, nodes: leastOf(nodes), cpusPerNode: leastOf(cpus), memoryMbPerNode: leastOf(memory),
      ...(typeof maxTime === 'number' ? { maxTimeMinutes: maxTime } : {}),
    };
    if ([facts.nodes, facts.cpusPerNode, facts.memoryMbPerNode].some((n) => !Number.isFinite(n))) continue;
    // A partition over nodes of several kinds is printed once per kind: keep the total and the least.
    const before = found.get(name);
    found.set(name, before ? {
      ...before, nodes: before.nodes + facts.nodes, cpusPerNode: Math.min(before.cpusPerNode, facts.cpusPerNode),
      memoryMbPerNode: Math.min(before.memoryMbPerNode, facts.memoryMbPerNode),
    } : facts);
  }
  return found;
}

export async function proveSite(options: HpcOptions, login: CommandRunner, host: string, now: () => number = Date.now): Promise<VerifyResult> {
  const failures: VerifyResult['failures'] = [];
  const fail = (message: string): VerifyResult => ({ failures: [...failures, { host, message }], capacity: new Map() });
  const sinfo = await login.run(['sinfo', '--noheader', '--all', `--format=${SINFO_FORMAT}`], { timeoutMs: TIMEOUT_MS });
  if (sinfo.exitCode !== 0) return fail(`sinfo did not answer (exit ${sinfo.exitCode}): ${sinfo.stderr.trim().slice(0, 500)}`);
  const known = parseSinfoPartitions(sinfo.stdout);
  const partitions: PartitionFacts[] = [];
  for (const name of options.partitions) {
    const facts = known.get(name);
    if (!facts) failures.push({ host, message: `partition ${name} is not in sinfo's list (${[...known.keys()].join(', ') || 'none'})` });
    else partitions.push(facts);
  }
  if (failures.length > 0) return { failures, capacity: new Map() };
  const dirs = await login.run(['mkdir', '-p', '--', siteJobRoot(options), siteStatusDir(options)], { timeoutMs: TIMEOUT_MS });
  if (dirs.exitCode !== 0) return fail(`cannot make our directories under ${options.scratchDir}: ${dirs.stderr.trim().slice(0, 500)}`);
  for (const partition of partitions) {
    const argv = ['sbatch', '--test-only', `--partition=${partition.name}`, ...(options.account ? [`--account=${options.account}`] : []),
      '--nodes=1', '--ntasks=1', '--time=1', `--chdir=${siteJobRoot(options)}`, '--wrap=true'];
    const probe = await login.run(argv, { timeoutMs: TIMEOUT_MS, cwd: '/' });
    if (probe.exitCode !== 0) {
      failures.push({ host, message: `sbatch --test-only refused a job in partition ${partition.name}: ${probe.stderr.trim().slice(0, 500) || `exit ${probe.exitCode}`}` });
    }
  }
  if (failures.length > 0) return { failures, capacity: new Map() };
  const accounting = options.accounting === 'files' ? false : await sacctAnswers(login);
  if (options.accounting === 'sacct' && !accounting) return fail('accounting=sacct was asked for, but sacct does not answer at this site');
  const site: SiteFacts = { partitions, accounting, checkedAt: now() };
  return { failures: [], capacity: new Map(), site };
}

/** sacct exits non-zero ("Slurm accounting storage is disabled") where the site keeps no accounting. */
async function sacctAnswers(login: CommandRunner): Promise<boolean> {
  const result = await login.run(['sacct', '--noheader', '--parsable2', '--allocations', '--format=JobID', '--jobs=1'], { timeoutMs: TIMEOUT_MS });
  return result.exitCode === 0;
}
