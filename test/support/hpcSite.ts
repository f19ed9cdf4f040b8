// The test HPC site (scripts/test-hpc-site): a Slurm cluster on two machines that the service does
// not own and may reach only over SSH as the site's community account. These helpers are the test's
// own view of the site, from outside the service: bring it up and down, look at its queue and jobs
// as the site's account would, and cut that account's SSH sessions to see the service recover.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');
const SITE_SCRIPT = path.join(ROOT, 'scripts/test-hpc-site');
const HOST_HELPER = path.join(ROOT, 'scripts/test-ssh-host');

/** The site's bridge and /24 (the script's MS_HPC_BRIDGE / MS_HPC_NET, same defaults). */
export const SITE_BRIDGE = process.env.MS_HPC_BRIDGE ?? 'msbr9';
export const SITE_NET = process.env.MS_HPC_NET ?? '10.213.9';

export type SiteHost = 'hpc-login' | 'hpc-node2';
export const LOGIN_HOST: SiteHost = 'hpc-login';
export const NODE2_HOST: SiteHost = 'hpc-node2';
/** Where the service logs in (login node, slurmctld and a slurmd). */
export const LOGIN_ADDRESS = `${SITE_NET}.10`;
/** The second compute node (slurmd only). */
export const NODE2_ADDRESS = `${SITE_NET}.11`;

export const SITE_USER = 'hpcuser';
export const SITE_UID = 5300;
export const SITE_HOME = '/home/hpcuser';
/** The account's scratch space, on the file system both machines share. */
export const SCRATCH = '/srv/hpc-scratch/hpcuser';
export const SITE_CLUSTER_NAME = 'testhpc';

export interface SitePartition {
  name: string;
  nodes: SiteHost[];
  maxTimeMinutes: number;
  isDefault: boolean;
}

export const PARTITIONS: readonly SitePartition[] = [
  { name: 'compute', nodes: ['hpc-login', 'hpc-node2'], maxTimeMinutes: 60, isDefault: true },
  { name: 'debug', nodes: ['hpc-login'], maxTimeMinutes: 10, isDefault: false },
];

/** Seconds an ended job stays visible in squeue / scontrol (the site's MinJobAge). */
export const SITE_MIN_JOB_AGE_SECONDS = 10;

export interface CommandResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

function runSiteScript(argv: string[]): CommandResult {
  const result = spawnSync(SITE_SCRIPT, argv, { encoding: 'utf8' });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/**
 * Brings the site up (idempotent): hpcuser accepts the keys in pubKeyFile, and so does root (for the
 * test's own set-up). Returns once both nodes are idle.
 */
export function hpcSiteUp(pubKeyFile: string): void {
  const result = runSiteScript(['up', pubKeyFile]);
  if (result.status !== 0) throw new Error(`test-hpc-site up failed (${result.status}): ${result.stderr.trim()}`);
}

/** Takes the site down: both machines with every process in them, the bridge, the account's files. */
export function hpcSiteDown(): void {
  const result = runSiteScript(['down']);
  if (result.status !== 0) throw new Error(`test-hpc-site down failed (${result.status}): ${result.stderr.trim()}`);
}

export function hpcSiteIsUp(): boolean {
  return runSiteScript(['status']).status === 0;
}

/** Runs a command inside one of the site's machines as root, not over SSH (the test's own look). */
export function onSiteHost(host: SiteHost, argv: string[]): CommandResult {
  const result = spawnSync(HOST_HELPER, ['exec', host, ...argv], {
    encoding: 'utf8',
    env: { ...process.env, MS_TEST_BRIDGE: SITE_BRIDGE, MS_TEST_NET: SITE_NET },
  });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Runs a command as the site's account (in its home directory) inside a machine, not over SSH. */
export function asSiteUser(argv: string[], host: SiteHost = LOGIN_HOST): CommandResult {
  return onSiteHost(host, ['runuser', '-u', SITE_USER, '--', 'env', '-C', SITE_HOME, ...argv]);
}

function asSiteUserOrThrow(argv: string[]): string {
  const result = asSiteUser(argv);
  if (result.status !== 0) throw new Error(`${argv.join(' ')} on the site failed (${result.status}): ${result.stderr.trim()}`);
  return result.stdout;
}

export interface SiteQueueEntry {
  jobId: string;
  /** Slurm's long state name: PENDING, RUNNING, COMPLETING, COMPLETED, CANCELLED, ... */
  state: string;
  partition: string;
  nodeCount: number;
  /** The nodes it runs on (Slurm's host list, e.g. "hpc-login,hpc-node2"), empty while pending. */
  nodeList: string;
  name: string;
}

/** The account's jobs in squeue now (ended ones stay there for SITE_MIN_JOB_AGE_SECONDS). */
export function siteSqueue(): SiteQueueEntry[] {
  // The name last: it is the only field that may hold the separator.
  const out = asSiteUserOrThrow(['squeue', '-h', '-u', SITE_USER, '-t', 'all', '-o', '%i\t%T\t%P\t%D\t%N\t%j']);
  return out.split('\n').filter((line) => line !== '').map((line) => {
    const [jobId, state, partition, nodes, nodeList, ...name] = line.split('\t');
    return { jobId, state, partition, nodeCount: Number(nodes), nodeList, name: name.join('\t') };
  });
}

/** Ids of the account's jobs that squeue still lists. */
export function siteJobs(): string[] {
  return siteSqueue().map((entry) => entry.jobId);
}

/**
 * What `scontrol show job` says of a job (JobState, ExitCode, NodeList, Partition, TimeLimit, ...),
 * or undefined once the controller has forgotten it (MinJobAge after it ended).
 */
export function siteJob(jobId: string): Record<string, string> | undefined {
  const result = asSiteUser(['scontrol', '-o', 'show', 'job', jobId]);
  if (result.status !== 0) return undefined;
  const fields: Record<string, string> = {};
  // One line of Key=Value pairs; values have no spaces except Command/WorkDir-like paths at the end,
  // which this keeps whole by splitting only before the next "Key=".
  for (const match of result.stdout.trim().matchAll(/(\S+?)=(.*?)(?=\s+\S+?=|$)/g)) {
    fields[match[1]] = match[2];
  }
  return fields;
}

/** Node name -> Slurm state (idle, allocated, mixed, down, ...) as the account sees them. */
export function siteNodeStates(): Record<string, string> {
  const out = asSiteUserOrThrow(['sinfo', '-h', '-N', '-p', 'compute', '-o', '%N %T']);
  return Object.fromEntries(out.split('\n').filter((line) => line !== '').map((line) => line.split(' ') as [string, string]));
}

/** Cancels every job of the account (between tests). */
export function siteCancelAll(): void {
  asSiteUserOrThrow(['scancel', '-u', SITE_USER]);
}

/**
 * Kills every SSH session of `user` on the login node (sshd's privileged monitor and the user's
 * process of each), so the client sees its connection drop, as when a site's login node drops
 * connections. Returns how many sshd processes it killed.
 */
export function killSiteSessions(user: string = SITE_USER): number {
  if (!/^[a-z_][a-z0-9_-]*$/.test(user)) throw new Error(`not an account name: ${user}`);
  // Only processes in the login node's own network and mount namespaces: the process table is shared
  // with this machine and other test hosts. OpenSSH 9.8 renamed the session processes sshd-session.
  const result = onSiteHost(LOGIN_HOST, ['/bin/bash', '-c', 'exec pkill -KILL -e --ns $$ --nslist net,mnt -f "$1"',
    'kill-sessions', `^sshd(-session)?: ${user}( \\[priv\\]|@)`]);
  if (result.status !== 0 && result.status !== 1) {
    throw new Error(`cannot kill ${user}'s sessions on ${LOGIN_HOST}: ${result.stderr.trim()}`);
  }
  return result.stdout.split('\n').filter((line) => line.includes('killed')).length;
}

/** Gives a site machine a new SSH host key (a reinstalled login node); open sessions keep running. */
export function rekeySiteHost(host: SiteHost): void {
  const result = spawnSync(HOST_HELPER, ['rekey', host], {
    encoding: 'utf8', env: { ...process.env, MS_TEST_BRIDGE: SITE_BRIDGE, MS_TEST_NET: SITE_NET },
  });
  if (result.status !== 0) throw new Error(`cannot rekey ${host}: ${result.stderr.trim()}`);
}
