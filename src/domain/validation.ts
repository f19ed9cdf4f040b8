// Request validation. Every check runs and every failure is collected, each naming its field, so a
// caller fixes a request in one round trip. Nothing here touches storage: a request that fails is
// rejected before anything is written.
import { isIP } from 'node:net';
import { InvalidRequestError, type FieldError } from './errors';
import {
  CLUSTER_KINDS, NODE_ROLES, PARALLELISM_TYPES, PROVIDER_TYPES,
  type ApplicationSpec, type ClusterKind, type ClusterSpec, type HostSpec, type JobSpec, type Parallelism, type ProviderType,
} from './types';

/** What the edge hands in: enum values may be names we do not know. */
export type RawJobSpec = Omit<JobSpec, 'parallelism'> & { parallelism: string };
export type RawClusterSpec = Omit<ClusterSpec, 'kind' | 'provider'> & { kind: string; provider: string };

export const LIMITS = {
  nameLength: 256,
  idLength: 128,
  clientTokenLength: 128,
  commandArgs: 1024,
  argLength: 16 * 1024,
  envEntries: 256,
  envValueLength: 16 * 1024,
  pathLength: 4096,
  optionEntries: 64,
  optionValueLength: 4096,
  hosts: 1024,
  cpus: 1_000_000,
  nodes: 100_000,
  wallTimeMinutes: 366 * 24 * 60,
  memoryMb: 64 * 1024 * 1024,
} as const;

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const QUEUE_NAME = /^[A-Za-z0-9_.-]+$/;
const HOST_LABEL = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;
const OPTION_KEY = /^[A-Za-z0-9_.:-]{1,128}$/;

/** Collects field errors; one instance per request. */
class Checker {
  readonly errors: FieldError[] = [];

  fail(field: string, message: string): void {
    this.errors.push({ field, message });
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
    this.fail(field, `unknown value ${JSON.stringify(value)}; expected one of ${allowed.join(', ')}`);
    return false;
  }

  stringMap(
    field: string, map: Record<string, string> | undefined,
    limits: { key: RegExp; maxEntries: number; maxValue: number },
  ): void {
    if (map === undefined || map === null) return;
    const entries = Object.entries(map);
    if (entries.length > limits.maxEntries) this.fail(field, `has more than ${limits.maxEntries} entries`);
    const keyPattern = limits.key;
    const maxValue = limits.maxValue;
    for (const [key, value] of entries) {
      if (!keyPattern.test(key)) this.fail(`${field}[${JSON.stringify(key)}]`, `key must match ${keyPattern.source}`);
      this.bounded(`${field}[${JSON.stringify(key)}]`, value, maxValue);
    }
  }

  throwIfAny(): void {
    if (this.errors.length > 0) throw new InvalidRequestError(this.errors);
  }
}

/** A DNS host name (RFC 1123) or an IPv4/IPv6 address. */
export function isHostAddress(address: string): boolean {
  if (isIP(address) !== 0) return true;
  if (address.length > 253) return false;
  const labels = address.endsWith('.') ? address.slice(0, -1).split('.') : address.split('.');
  // An all-numeric dotted name is a malformed IPv4 address, not a host name.
  if (labels.every((label) => /^\d+$/.test(label))) return false;
  return labels.every((label) => HOST_LABEL.test(label));
}

export function validateJobSpec(raw: RawJobSpec, prefix = 'spec'): JobSpec {
  const c = new Checker();
  const f = (name: string): string => `${prefix}.${name}`;
  c.text(f('jobName'), raw.jobName, { required: true, max: LIMITS.nameLength });
  c.text(f('taskId'), raw.taskId, { max: LIMITS.idLength });
  c.text(f('processId'), raw.processId, { max: LIMITS.idLength });
  c.text(f('experimentId'), raw.experimentId, { max: LIMITS.idLength });
  const parallelismOk = c.oneOf(f('parallelism'), raw.parallelism, PARALLELISM_TYPES);

  if (!Array.isArray(raw.command) || raw.command.length === 0) {
    c.fail(f('command'), 'must not be empty: give the program and its arguments as a list');
  } else {
    if (raw.command.length > LIMITS.commandArgs) c.fail(f('command'), `has more than ${LIMITS.commandArgs} arguments`);
    if (raw.command[0].trim() === '') c.fail(f('command[0]'), 'the program must not be empty');
    raw.command.forEach((arg, i) => c.bounded(`${f('command')}[${i}]`, arg, LIMITS.argLength));
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
  if (raw.workingDir && !raw.workingDir.startsWith('/')) c.fail(f('workingDir'), 'must be an absolute path');
  c.stringMap(f('environment'), raw.environment, { key: ENV_NAME, maxEntries: LIMITS.envEntries, maxValue: LIMITS.envValueLength });
  c.throwIfAny();

  return { ...stripUnset(raw), parallelism: raw.parallelism as Parallelism };
}

function validateHost(c: Checker, field: string, host: HostSpec): void {
  if (host.address === undefined || host.address === null || host.address.trim() === '') {
    c.fail(`${field}.address`, 'is required');
  } else if (!isHostAddress(host.address)) {
    c.fail(`${field}.address`, `${JSON.stringify(host.address.slice(0, 80))} is not a host name or IP address`);
  }
  c.text(`${field}.sshUser`, host.sshUser, { max: 32 });
  if (host.sshUser && !/^[a-z_][a-z0-9_-]*\$?$/i.test(host.sshUser)) c.fail(`${field}.sshUser`, 'is not a valid user name');
  c.count(`${field}.sshPort`, host.sshPort, 1, 65535);
  host.roles?.forEach((role, j) => c.oneOf(`${field}.roles[${j}]`, role, NODE_ROLES));
}

export function validateClusterSpec(raw: RawClusterSpec, prefix = 'spec'): ClusterSpec {
  const c = new Checker();
  const f = (name: string): string => `${prefix}.${name}`;
  c.text(f('name'), raw.name, { required: true, max: LIMITS.nameLength });
  c.oneOf(f('kind'), raw.kind, CLUSTER_KINDS);
  const providerOk = c.oneOf(f('provider'), raw.provider, PROVIDER_TYPES);
  c.count(f('workerCount'), raw.workerCount, 0, LIMITS.nodes);
  c.text(f('clientToken'), raw.clientToken, { max: LIMITS.clientTokenLength });
  if (raw.hosts && raw.hosts.length > LIMITS.hosts) c.fail(f('hosts'), `has more than ${LIMITS.hosts} hosts`);
  raw.hosts?.forEach((host, i) => validateHost(c, `${f('hosts')}[${i}]`, host));
  if (providerOk && raw.provider === 'STATIC' && (!raw.hosts || raw.hosts.length === 0)) {
    c.fail(f('hosts'), 'a STATIC cluster needs at least one host');
  }
  if (providerOk && raw.provider !== 'STATIC' && raw.hosts && raw.hosts.length > 0) {
    c.fail(f('hosts'), `only STATIC clusters take hosts; ${raw.provider} provisions its own`);
  }
  const addresses = new Set<string>();
  raw.hosts?.forEach((host, i) => {
    const key = host.address?.toLowerCase();
    if (key && addresses.has(key)) c.fail(`${f('hosts')}[${i}].address`, `${JSON.stringify(host.address)} is listed twice`);
    if (key) addresses.add(key);
  });
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
  if (ids.length > max) c.fail(field, `has more than ${max} ids`);
  ids.forEach((id, i) => c.text(`${field}[${i}]`, id, { required: true, max: LIMITS.idLength }));
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
  raw.debPackages?.forEach((name, i) => {
    if (!DEB_PACKAGE.test(name)) c.fail(`${f('debPackages')}[${i}]`, `${JSON.stringify(name.slice(0, 80))} is not a Debian package name`);
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
  raw.installCommands?.forEach((argv, i) => {
    if (!Array.isArray(argv) || argv.length === 0 || argv[0].trim() === '') {
      c.fail(`${f('installCommands')}[${i}]`, 'must be a non-empty argv list');
    } else {
      argv.forEach((arg, j) => c.bounded(`${f('installCommands')}[${i}][${j}]`, arg, LIMITS.argLength));
    }
  });
  if (!raw.debPackages?.length && !raw.archiveUrl && !raw.installCommands?.length) {
    c.fail(prefix, 'names nothing to install: give debPackages, an archiveUrl or installCommands');
  }
  c.stringMap(f('environment'), raw.environment, { key: ENV_NAME, maxEntries: LIMITS.envEntries, maxValue: LIMITS.envValueLength });
  c.throwIfAny();
  return stripUnset(raw);
}
