// Request validation. Every check runs and every failure is collected, each naming its field, so a
// caller fixes a request in one round trip. Nothing here touches storage: a request that fails is
// rejected before anything is written.
//
// The answer stays small whatever the request: a list over its size limit is refused whole without
// looking at its elements, at most ELEMENT_ERRORS_LISTED errors are named per list or map (the
// rest are counted), and values echoed back are cut short.
import { isIP } from 'node:net';
import { CLUSTER_CAPABILITIES, canRun, jobTypesText, runnableParallelism } from './capabilities';
import { InvalidRequestError, type FieldError } from './errors';
import { environmentBytes, execBytes, reservedEnvironmentName } from './jobEnvironment';
import {
  CLUSTER_KINDS, NODE_ROLES, PARALLELISM_TYPES, PROVIDER_TYPES,
  JOB_TYPES,
  type ApplicationSpec, type ClusterKind, type ClusterSpec, type HostSpec, type JobSpec, type JobType, type Parallelism, type ProviderType,
} from './types';

/** What the edge hands in: enum values may be names we do not know. */
export type RawJobSpec = Omit<JobSpec, 'parallelism' | 'jobType'> & { parallelism: string; jobType?: string };
export type RawClusterSpec = Omit<ClusterSpec, 'kind' | 'provider'> & { kind: string; provider: string };

export const LIMITS = {
  nameLength: 256,
  idLength: 128,
  clientTokenLength: 128,
  commandArgs: 1024,
  argLength: 16 * 1024,
  envEntries: 256,
  envNameLength: 128,
  envValueLength: 16 * 1024,
  /**
   * A job's argv plus environment as execve counts them. Linux refuses more than ARG_MAX (2 MiB
   * with the default 8 MiB stack) with E2BIG; 1 MiB, plus at most applicationEnvironmentBytes an
   * application adds, leaves room for the variables Slurm and the MPI launcher add themselves.
   */
  execBytes: 1024 * 1024,
  applicationEnvironmentBytes: 256 * 1024,
  debPackages: 256,
  installCommands: 64,
  pathLength: 4096,
  optionEntries: 64,
  optionValueLength: 4096,
  hosts: 1024,
  hostRoles: 8,
  cpus: 1_000_000,
  nodes: 100_000,
  wallTimeMinutes: 366 * 24 * 60,
  memoryMb: 64 * 1024 * 1024,
} as const;

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const QUEUE_NAME = /^[A-Za-z0-9_.-]+$/;
const HOST_LABEL = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;
const OPTION_KEY = /^[A-Za-z0-9_.:-]{1,128}$/;

/** Errors named per list or map (its elements' errors, nested ones included); the rest are counted. */
export const ELEMENT_ERRORS_LISTED = 5;
/** Characters of a caller's value echoed in an error. */
const ECHO_LENGTH = 40;

/** A caller's value as an error quotes it: JSON, cut to ECHO_LENGTH characters. */
export function quote(value: string): string {
  return value.length > ECHO_LENGTH ? `${JSON.stringify(value.slice(0, ECHO_LENGTH))}... (${value.length} characters)` : JSON.stringify(value);
}

/** 1234567 -> "1,234,567", without depending on the runtime's locale data. */
function withThousands(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** Collects field errors; one instance per request. */
class Checker {
  readonly errors: FieldError[] = [];
  /** The outermost list or map whose elements are being checked, if any. */
  private list?: string;
  private readonly listed = new Map<string, number>();
  private readonly unlisted = new Map<string, number>();

  fail(field: string, message: string): void {
    const list = this.list;
    if (list !== undefined) {
      const listed = this.listed.get(list) ?? 0;
      if (listed >= ELEMENT_ERRORS_LISTED) {
        this.unlisted.set(list, (this.unlisted.get(list) ?? 0) + 1);
        return;
      }
      this.listed.set(list, listed + 1);
    }
    this.errors.push({ field, message });
  }

  /**
   * Checks each element of a list, its errors counted against the list (see fail). A list longer
   * than max is refused with one error and its elements are not looked at. Returns whether the
   * list is within its limit (an absent list is).
   */
  elements<T>(
    field: string, items: readonly T[] | undefined | null, max: number, noun: string,
    check: (item: T, elementField: string) => void,
  ): boolean {
    if (items === undefined || items === null) return true;
    if (items.length > max) {
      this.fail(field, `has more than ${max} ${noun} (${withThousands(items.length)})`);
      return false;
    }
    this.within(field, () => items.forEach((item, i) => check(item, `${field}[${i}]`)));
    return true;
  }

  /** Runs checks whose errors count against the list or map field (nested lists count against the outer one). */
  within(field: string, checks: () => void): void {
    const outer = this.list;
    this.list ??= field;
    try {
      checks();
    } finally {
      this.list = outer;
    }
  }

  /** A text field: must be present (when required), non-blank, bounded and free of NUL. */
  text(field: string, value: string | undefined, opts: { required?: boolean; max: number }): void {
    if (value === undefined || value === null) {
      if (opts.required) this.fail(field, 'is required');
      return;
    }
    if (value.trim() === '') {
      this.fail(field, 'must not be empty');
      return;
    }
    this.bounded(field, value, opts.max);
  }

  /** Length and NUL check only; empty is allowed. */
  bounded(field: string, value: string, max: number): void {
    if (value.length > max) this.fail(field, `is longer than ${max} characters`);
    // Postgres text cannot hold NUL, and no scheduler argument may contain one.
    if (value.includes('\u0000')) this.fail(field, 'must not contain a NUL character');
  }

  count(field: string, value: number | undefined, min: number, max: number): void {
    if (value === undefined || value === null) return;
    if (!Number.isInteger(value)) this.fail(field, 'must be a whole number');
    else if (value < min) this.fail(field, value < 0 ? `must not be negative (got ${value})` : `must be at least ${min}`);
    else if (value > max) this.fail(field, `must be at most ${max}`);
  }

  oneOf<T extends string>(field: string, value: string, allowed: readonly T[]): value is T {
    if ((allowed as readonly string[]).includes(value)) return true;
    this.fail(field, `unknown value ${quote(String(value))}; expected one of ${allowed.join(', ')}`);
    return false;
  }

  /**
   * A map of names to values. A map over maxEntries is refused whole, its entries unchecked.
   * Returns whether the map is within its entry limit (an absent map is).
   */
  stringMap(
    field: string, map: Record<string, string> | undefined,
    limits: { key: RegExp; maxKey?: number; maxEntries: number; maxValue: number; refuseKey?: (key: string) => string | undefined },
  ): boolean {
    if (map === undefined || map === null) return true;
    const size = Object.keys(map).length;
    if (size > limits.maxEntries) {
      this.fail(field, `has more than ${limits.maxEntries} entries (${withThousands(size)})`);
      return false;
    }
    this.within(field, () => {
      for (const [key, value] of Object.entries(map)) {
        const entry = `${field}[${quote(key)}]`;
        if (limits.maxKey !== undefined && key.length > limits.maxKey) this.fail(entry, `key is longer than ${limits.maxKey} characters`);
        else if (!limits.key.test(key)) this.fail(entry, `key must match ${limits.key.source}`);
        else {
          const refused = limits.refuseKey?.(key);
          if (refused !== undefined) this.fail(entry, refused);
        }
        this.bounded(entry, value, limits.maxValue);
      }
    });
    return true;
  }

  throwIfAny(): void {
    // Each list's uncounted errors, as one line after everything named.
    for (const [list, count] of this.unlisted) {
      this.errors.push({ field: list, message: `and ${withThousands(count)} more errors in its elements` });
    }
    this.unlisted.clear();
    if (this.errors.length > 0) throw new InvalidRequestError(this.errors);
  }
}

/** A DNS host name (RFC 1123) or an IPv4/IPv6 address. */
export function isHostAddress(address: string): boolean {
  // Node accepts an IPv6 zone (fe80::1%eth0), which names an interface of one machine only.
  if (address.includes('%')) return false;
  if (isIP(address) !== 0) return true;
  if (address.length > 253) return false;
  const labels = address.endsWith('.') ? address.slice(0, -1).split('.') : address.split('.');
  // An all-numeric dotted name is a malformed IPv4 address, not a host name.
  if (labels.every((label) => /^\d+$/.test(label))) return false;
  return labels.every((label) => HOST_LABEL.test(label));
}

/**
 * A job's own directory. A relative path is taken inside the gateway's own directory, and where an
 * absolute one may point is the submit's business, not validation's. Refused here is what no
 * directory can safely hold: a ".." segment climbs out of it, a leading "~" is a home directory to
 * a shell, and Slurm strips a backslash from output paths, so the job would write elsewhere.
 */
function checkWorkingDir(c: Checker, field: string, dir: string): void {
  if (dir.includes('\\')) c.fail(field, 'must not contain a backslash');
  if (dir.startsWith('~')) c.fail(field, 'must not start with "~": give an absolute path or one relative to the gateway\'s directory');
  if (dir.split('/').includes('..')) c.fail(field, 'must not contain a ".." segment');
}

/** Environment variables of a job or an application. */
const ENVIRONMENT_LIMITS = {
  key: ENV_NAME,
  maxKey: LIMITS.envNameLength,
  maxEntries: LIMITS.envEntries,
  maxValue: LIMITS.envValueLength,
  refuseKey: reservedEnvironmentName,
};

export function validateJobSpec(raw: RawJobSpec, prefix = 'spec'): JobSpec {
  const c = new Checker();
  const f = (name: string): string => `${prefix}.${name}`;
  c.text(f('jobName'), raw.jobName, { required: true, max: LIMITS.nameLength });
  c.text(f('taskId'), raw.taskId, { max: LIMITS.idLength });
  c.text(f('processId'), raw.processId, { max: LIMITS.idLength });
  c.text(f('experimentId'), raw.experimentId, { max: LIMITS.idLength });
  const parallelismOk = c.oneOf(f('parallelism'), raw.parallelism, PARALLELISM_TYPES);
  const runnable = runnableParallelism();
  if (parallelismOk && !(runnable as readonly string[]).includes(raw.parallelism)) {
    const kinds = Object.entries(CLUSTER_CAPABILITIES).map(([kind, can]) => `${kind} runs ${can.parallelism.join(', ')}`);
    c.fail(f('parallelism'), `${raw.parallelism} jobs cannot run on any cluster this service builds (${kinds.join('; ')})`);
  }
  const jobTypeOk = raw.jobType === undefined || c.oneOf(f('jobType'), raw.jobType, JOB_TYPES);
  if (raw.jobType !== undefined && jobTypeOk && parallelismOk) checkJobType(c, f, raw.parallelism as Parallelism, raw.jobType as JobType, raw);

  let commandOk = false;
  if (!Array.isArray(raw.command) || raw.command.length === 0) {
    c.fail(f('command'), 'must not be empty: give the program and its arguments as a list');
  } else {
    commandOk = c.elements(f('command'), raw.command, LIMITS.commandArgs, 'arguments', (arg, field) => c.bounded(field, arg, LIMITS.argLength));
    if (commandOk && raw.command[0].trim() === '') c.fail(f('command[0]'), 'the program must not be empty');
  }

  c.count(f('totalCPUCount'), raw.totalCPUCount, 1, LIMITS.cpus);
  c.count(f('nodeCount'), raw.nodeCount, 1, LIMITS.nodes);
  c.count(f('wallTimeLimit'), raw.wallTimeLimit, 1, LIMITS.wallTimeMinutes);
  c.count(f('totalPhysicalMemory'), raw.totalPhysicalMemory, 1, LIMITS.memoryMb);
  const isParallelMpi = parallelismOk && raw.parallelism !== 'SERIAL' && raw.parallelism !== 'OPENMP';
  if (isParallelMpi && raw.totalCPUCount === undefined) {
    c.fail(f('totalCPUCount'), `is required for ${raw.parallelism} jobs`);
  }
  if (raw.parallelism === 'SERIAL' && raw.nodeCount !== undefined && raw.nodeCount > 1) {
    c.fail(f('nodeCount'), 'a SERIAL job runs on one node');
  }
  if (raw.totalCPUCount !== undefined && raw.nodeCount !== undefined && raw.nodeCount > raw.totalCPUCount) {
    c.fail(f('nodeCount'), `must not exceed totalCPUCount (${raw.totalCPUCount})`);
  }

  c.text(f('clusterId'), raw.clusterId, { max: LIMITS.idLength });
  c.text(f('applicationId'), raw.applicationId, { max: LIMITS.idLength });
  c.text(f('clientToken'), raw.clientToken, { max: LIMITS.clientTokenLength });
  c.text(f('queueName'), raw.queueName, { max: LIMITS.nameLength });
  if (raw.queueName && !QUEUE_NAME.test(raw.queueName)) {
    c.fail(f('queueName'), 'may hold only letters, digits, "_", "." and "-"');
  }
  c.text(f('workingDir'), raw.workingDir, { max: LIMITS.pathLength });
  if (raw.workingDir) checkWorkingDir(c, f('workingDir'), raw.workingDir);
  const environmentOk = c.stringMap(f('environment'), raw.environment, ENVIRONMENT_LIMITS);
  // Sizes are only added up for lists already within their limits, so the sum stays cheap.
  if (commandOk && environmentOk) {
    const bytes = execBytes(raw.command, raw.environment ?? {});
    if (bytes > LIMITS.execBytes) {
      c.fail(f('command'), `and ${f('environment')} together take ${withThousands(bytes)} bytes to start the program, over the `
        + `${withThousands(LIMITS.execBytes)} allowed (each argument and each NAME=value with its NUL byte, as the operating system counts them)`);
    }
  }
  c.throwIfAny();

  const { jobType, ...rest } = stripUnset(raw);
  return { ...rest, parallelism: raw.parallelism as Parallelism, ...(jobType === undefined ? {} : { jobType: jobType as JobType }) };
}

/** Some kind runs this type of job with this parallelism; a service has no wall time to keep. */
function checkJobType(c: Checker, f: (name: string) => string, parallelism: Parallelism, jobType: JobType, raw: RawJobSpec): void {
  const kinds = (Object.keys(CLUSTER_CAPABILITIES) as ClusterKind[]).filter((kind) => canRun(kind, parallelism, jobType));
  if (kinds.length === 0) {
    const runs = (Object.keys(CLUSTER_CAPABILITIES) as ClusterKind[]).map((kind) => `${kind} runs ${jobTypesText(kind)}`);
    c.fail(f('jobType'), `${jobType} ${parallelism} jobs cannot run on any cluster this service builds (${runs.join('; ')}; `
      + `${jobType === 'SERVICE' ? 'services run on MESOS_MARATHON, SERIAL only' : 'see spec.parallelism'})`);
  }
  if (jobType === 'SERVICE' && raw.wallTimeLimit !== undefined) {
    c.fail(f('wallTimeLimit'), 'does not apply to a SERVICE job: it runs until cancelled (Marathon restarts it when it exits)');
  }
}

function validateHost(c: Checker, field: string, host: HostSpec): void {
  if (host.address === undefined || host.address === null || host.address.trim() === '') {
    c.fail(`${field}.address`, 'is required');
  } else if (host.address.includes('%') && isIP(host.address) === 6) {
    c.fail(`${field}.address`, `${quote(host.address)} carries a zone (%...): it names a network interface of one machine, `
      + 'which means nothing to the other hosts; give a global or unique-local address or a host name');
  } else if (!isHostAddress(host.address)) {
    c.fail(`${field}.address`, `${quote(host.address)} is not a host name or IP address`);
  }
  c.text(`${field}.sshUser`, host.sshUser, { max: 32 });
  if (host.sshUser && !/^[a-z_][a-z0-9_-]*\$?$/i.test(host.sshUser)) c.fail(`${field}.sshUser`, 'is not a valid user name');
  c.count(`${field}.sshPort`, host.sshPort, 1, 65535);
  c.elements(`${field}.roles`, host.roles, LIMITS.hostRoles, 'roles', (role, roleField) => c.oneOf(roleField, role, NODE_ROLES));
}

/** A host listed twice (addresses compare without case). Kinds add their own rules on names. */
function checkDuplicateHosts(c: Checker, field: string, hosts: readonly HostSpec[]): void {
  const seen = new Set<string>();
  c.within(field, () => hosts.forEach((host, i) => {
    if (typeof host.address !== 'string' || host.address.trim() === '') return;
    const address = host.address.toLowerCase();
    if (seen.has(address)) c.fail(`${field}[${i}].address`, `${quote(host.address)} is listed twice`);
    seen.add(address);
  }));
}

export function validateClusterSpec(raw: RawClusterSpec, prefix = 'spec'): ClusterSpec {
  const c = new Checker();
  const f = (name: string): string => `${prefix}.${name}`;
  c.text(f('name'), raw.name, { required: true, max: LIMITS.nameLength });
  c.oneOf(f('kind'), raw.kind, CLUSTER_KINDS);
  const providerOk = c.oneOf(f('provider'), raw.provider, PROVIDER_TYPES);
  c.count(f('workerCount'), raw.workerCount, 0, LIMITS.nodes);
  c.text(f('clientToken'), raw.clientToken, { max: LIMITS.clientTokenLength });
  const hostsOk = c.elements(f('hosts'), raw.hosts, LIMITS.hosts, 'hosts', (host, field) => validateHost(c, field, host));
  if (providerOk && raw.provider === 'STATIC' && (!raw.hosts || raw.hosts.length === 0)) {
    c.fail(f('hosts'), 'a STATIC cluster needs at least one host');
  }
  // An HPC system is reached through its login host: exactly one, with the site account to sign in as.
  if (providerOk && raw.provider === 'HPC_PILOT' && (!raw.hosts || raw.hosts.length !== 1)) {
    c.fail(f('hosts'), 'an HPC_PILOT system is named by exactly one host: its login host (address, sshUser, sshPort)');
  } else if (providerOk && raw.provider === 'HPC_PILOT' && raw.hosts && typeof raw.hosts[0]?.sshUser !== 'string') {
    c.fail(f('hosts[0].sshUser'), 'the site account to sign in as is required for an HPC_PILOT system');
  }
  if (providerOk && raw.provider !== 'STATIC' && raw.provider !== 'HPC_PILOT' && raw.hosts && raw.hosts.length > 0) {
    c.fail(f('hosts'), `only STATIC and HPC_PILOT clusters take hosts; ${raw.provider} provisions its own`);
  }
  if (hostsOk && raw.hosts) checkDuplicateHosts(c, f('hosts'), raw.hosts);
  const optionLimits = { key: OPTION_KEY, maxEntries: LIMITS.optionEntries, maxValue: LIMITS.optionValueLength };
  c.stringMap(f('providerOptions'), raw.providerOptions, optionLimits);
  c.stringMap(f('clusterOptions'), raw.clusterOptions, optionLimits);
  c.throwIfAny();
  return {
    ...stripUnset(raw),
    kind: raw.kind as ClusterKind,
    provider: raw.provider as ProviderType,
    hosts: raw.hosts?.map((host) => stripUnset(host)),
  };
}

/** Validates a list of ids handed to a call (jobIds, clusterId...). */
export function validateIds(field: string, ids: readonly string[], max = 1000): void {
  const c = new Checker();
  c.elements(field, ids, max, 'ids', (id, idField) => c.text(idField, id, { required: true, max: LIMITS.idLength }));
  c.throwIfAny();
}

export function validateId(field: string, id: string | undefined): string {
  const c = new Checker();
  c.text(field, id, { required: true, max: LIMITS.idLength });
  c.throwIfAny();
  return id as string;
}

/** Drops keys whose value is undefined or null, so stored specs carry only what was given. */
function stripUnset<T extends object>(value: T): T {
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) if (v !== undefined && v !== null) out[key] = v;
  return out as T;
}

const APP_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const DEB_PACKAGE = /^[a-z0-9][a-z0-9+.-]{1,99}$/;
const SHA256 = /^[0-9a-f]{64}$/;

export function validateApplicationSpec(raw: ApplicationSpec, prefix = 'app'): ApplicationSpec {
  const c = new Checker();
  const f = (name: string): string => `${prefix}.${name}`;
  c.text(f('name'), raw.name, { required: true, max: 64 });
  if (raw.name && !APP_NAME.test(raw.name)) c.fail(f('name'), 'may hold only letters, digits, ".", "_" and "-"');
  c.text(f('version'), raw.version, { max: 64 });
  if (raw.version && !APP_NAME.test(raw.version)) c.fail(f('version'), 'may hold only letters, digits, ".", "_" and "-"');
  c.elements(f('debPackages'), raw.debPackages, LIMITS.debPackages, 'packages', (name, field) => {
    if (!DEB_PACKAGE.test(name)) c.fail(field, `${quote(name)} is not a Debian package name`);
  });
  if (raw.archiveUrl !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(raw.archiveUrl);
    } catch {
      c.fail(f('archiveUrl'), 'is not a URL');
    }
    if (url && url.protocol !== 'https:' && url.protocol !== 'http:') c.fail(f('archiveUrl'), 'must be http or https');
    if (raw.archiveSha256 === undefined) c.fail(f('archiveSha256'), 'is required with archiveUrl');
  }
  if (raw.archiveSha256 !== undefined && !SHA256.test(raw.archiveSha256)) c.fail(f('archiveSha256'), 'must be 64 lowercase hex digits');
  c.elements(f('installCommands'), raw.installCommands, LIMITS.installCommands, 'commands', (argv, field) => {
    if (!Array.isArray(argv) || argv.length === 0 || argv[0].trim() === '') {
      c.fail(field, 'must be a non-empty argv list');
    } else {
      c.elements(field, argv, LIMITS.commandArgs, 'arguments', (arg, argField) => c.bounded(argField, arg, LIMITS.argLength));
    }
  });
  if (!raw.debPackages?.length && !raw.archiveUrl && !raw.installCommands?.length) {
    c.fail(prefix, 'names nothing to install: give debPackages, an archiveUrl or installCommands');
  }
  if (c.stringMap(f('environment'), raw.environment, ENVIRONMENT_LIMITS) && raw.environment) {
    // Every job naming the application starts with these variables as well as its own.
    let bytes = 0;
    for (const [name, value] of Object.entries(raw.environment)) bytes += environmentBytes(name, value);
    if (bytes > LIMITS.applicationEnvironmentBytes) {
      c.fail(f('environment'), `takes ${withThousands(bytes)} bytes, over the ${withThousands(LIMITS.applicationEnvironmentBytes)} an application may add to its jobs`);
    }
  }
  c.throwIfAny();
  return stripUnset(raw);
}
