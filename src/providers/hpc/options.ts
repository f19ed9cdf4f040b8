// The HPC part of a cluster spec: an HPC system we do not own, registered by its login host (the
// spec's one host: address, the site account as sshUser, port) and these providerOptions, strings
// on the wire (lists comma-separated). Every bad option is named, all at once, before anything is
// recorded. Nothing here is ever read by a shell: partitions and the account become whole sbatch
// arguments, module names and environment values are quoted into the script.
import * as path from 'node:path';
import type { FieldError } from '../../domain/errors';
import { reservedEnvironmentName } from '../../domain/jobEnvironment';
import type { ClusterSpec } from '../../domain/types';
import { quote } from '../../domain/validation';

export interface HpcOptions {
  /** The partitions our jobs may use; the first is the default. */
  partitions: string[];
  /** The allocation (Slurm account) jobs are charged to; absent: the site account's default. */
  account?: string;
  /** The site's scratch directory of the account: job directories and our exit records live under it. */
  scratchDir: string;
  /** Environment modules every job loads first. */
  modules: string[];
  /** Site environment every job gets (from `env.NAME` options). */
  environment: Record<string, string>;
  /** 'auto': use sacct when it answers at registration; 'sacct'; 'files' (our exit records only). */
  accounting: 'auto' | 'sacct' | 'files';
}

export const HPC_OPTION_KEYS = ['partitions', 'account', 'scratchDir', 'modules', 'accounting'] as const;
const ENV_PREFIX = 'env.';

// Slurm partition and account names, module names: no spaces, nothing an option parser would read.
const PARTITION = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
const ACCOUNT = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
const MODULE = /^[A-Za-z0-9_][A-Za-z0-9_.+\/-]{0,127}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
// A plain absolute path: no "..", no characters Slurm expands in output paths or a shell would split on.
const SCRATCH = /^\/[A-Za-z0-9_.\/-]{0,1000}$/;
const MAX_LIST = 32;

function list(value: string | undefined): string[] {
  return (value ?? '').split(',').map((item) => item.trim()).filter((item) => item !== '');
}

/** The options and every bad one, named by field. */
export function parseHpcOptions(spec: ClusterSpec): { options?: HpcOptions; errors: FieldError[] } {
  const raw = spec.providerOptions ?? {};
  const errors: FieldError[] = [];
  const field = (key: string): string => `spec.providerOptions[${JSON.stringify(key.slice(0, 60))}]`;
  const environment: Record<string, string> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (key.startsWith(ENV_PREFIX)) {
      const name = key.slice(ENV_PREFIX.length);
      const reserved = ENV_NAME.test(name) ? reservedEnvironmentName(name) : 'is not a variable name';
      if (reserved) errors.push({ field: field(key), message: `${quote(name)} ${reserved}` });
      // Defined, not assigned: a plain assignment to "__proto__" would set the prototype and drop it.
      else Object.defineProperty(environment, name, { value, enumerable: true, writable: true, configurable: true });
    } else if (!(HPC_OPTION_KEYS as readonly string[]).includes(key)) {
      errors.push({ field: field(key), message: `unknown option; HPC_PILOT takes ${HPC_OPTION_KEYS.join(', ')} and env.NAME` });
    }
  }
  const partitions = list(raw.partitions);
  if (partitions.length === 0) errors.push({ field: field('partitions'), message: 'name the partitions jobs may use, comma-separated (the first is the default)' });
  if (partitions.length > MAX_LIST) errors.push({ field: field('partitions'), message: `at most ${MAX_LIST} partitions` });
  for (const name of partitions) if (!PARTITION.test(name)) errors.push({ field: field('partitions'), message: `${quote(name)} is not a Slurm partition name` });
  if (new Set(partitions).size !== partitions.length) errors.push({ field: field('partitions'), message: 'a partition is listed twice' });
  const account = raw.account?.trim();
  if (account !== undefined && !ACCOUNT.test(account)) errors.push({ field: field('account'), message: `${quote(account)} is not a Slurm account name` });
  const scratchDir = (raw.scratchDir?.trim() ?? '').replace(/(.)\/+$/, '$1');
  if (scratchDir === '') errors.push({ field: field('scratchDir'), message: "the site's scratch directory of the account is required (absolute path)" });
  else if (!SCRATCH.test(scratchDir) || path.posix.normalize(scratchDir) !== scratchDir || scratchDir.split('/').includes('..') || scratchDir === '/') {
    errors.push({ field: field('scratchDir'), message: `${quote(scratchDir)} must be a plain absolute path (letters, digits, _ . / -), not /` });
  }
  const modules = list(raw.modules);
  if (modules.length > MAX_LIST) errors.push({ field: field('modules'), message: `at most ${MAX_LIST} modules` });
  for (const name of modules) if (!MODULE.test(name)) errors.push({ field: field('modules'), message: `${quote(name)} is not a module name` });
  const accounting = raw.accounting ?? 'auto';
  if (accounting !== 'auto' && accounting !== 'sacct' && accounting !== 'files') {
    errors.push({ field: field('accounting'), message: `must be auto, sacct or files (got ${quote(accounting)})` });
  }
  if (errors.length > 0) return { errors };
  return {
    errors,
    options: {
      partitions, ...(account ? { account } : {}), scratchDir, modules, environment,
      accounting: accounting as HpcOptions['accounting'],
    },
  };
}

/** Where the service keeps its jobs at the site, under the account's scratch. */
export function siteJobRoot(options: HpcOptions): string {
  return path.posix.join(options.scratchDir, 'airavata-ms');
}

/** Where each job's script writes how it ended. */
export function siteStatusDir(options: HpcOptions): string {
  return path.posix.join(siteJobRoot(options), '.status');
}
