// Spec files for `clusters create -f` and `jobs submit -f`: YAML or JSON with the IDL's field names
// (ClusterSpec, HostSpec, JobSpec), enums by name. Every problem is collected and named by its path
// in the file, so one run shows everything to fix; the service then validates the values again.
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { base, ms } from '../rpc/wire';
import { CliError, ExitCode } from './exitCodes';

export type SpecDoc = Record<string, unknown>;

function isMapping(value: unknown): value is SpecDoc {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Reads and parses a spec file; YAML unless it ends in .json (YAML reads JSON too). */
export async function readSpecFile(file: string): Promise<SpecDoc> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    throw new CliError(ExitCode.Usage, `cannot read spec file ${file}: ${typeof code === 'string' ? code : String(error)}`);
  }
  let doc: unknown;
  try {
    doc = path.extname(file).toLowerCase() === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    // yaml's messages continue with a code excerpt on later lines: the first line names the place.
    const first = (error instanceof Error ? error.message : String(error)).split('\n')[0];
    throw new CliError(ExitCode.Usage, `spec file ${file} does not parse: ${first}`);
  }
  if (!isMapping(doc)) throw new CliError(ExitCode.Usage, `spec file ${file}: must be a mapping of field names to values`);
  return doc;
}

/** Typed reads of one mapping that record a problem per bad field instead of stopping. */
class FieldReader {
  constructor(private readonly problems: string[], private readonly doc: SpecDoc, private readonly prefix: string) {}

  private at(field: string): string {
    return `${this.prefix}${field}`;
  }

  fail(field: string, message: string): undefined {
    this.problems.push(`${this.at(field)}: ${message}`);
    return undefined;
  }

  has(field: string): boolean {
    return this.doc[field] !== undefined && this.doc[field] !== null;
  }

  unknownFields(known: readonly string[]): void {
    for (const key of Object.keys(this.doc)) {
      if (!known.includes(key)) this.fail(key, `unknown field; expected one of ${known.join(', ')}`);
    }
  }

  text(field: string, required = false): string | undefined {
    const value = this.doc[field];
    if (value === undefined || value === null) return required ? this.fail(field, 'is required') : undefined;
    if (typeof value === 'string') return value;
    if (typeof value === 'number' || typeof value === 'boolean') return String(value);
    return this.fail(field, 'must be a string');
  }

  integer(field: string): number | undefined {
    const value = this.doc[field];
    if (value === undefined || value === null) return undefined;
    if (typeof value === 'number' && Number.isInteger(value)) return value;
    return this.fail(field, `must be a whole number (got ${JSON.stringify(value)})`);
  }

  enumName<E extends Record<string, string | number>>(field: string, names: E, fallback?: E[keyof E]): E[keyof E] | undefined {
    const value = this.doc[field];
    const allowed = Object.keys(names).filter((k) => Number.isNaN(Number(k)));
    if (value === undefined || value === null) {
      return fallback !== undefined ? fallback : this.fail(field, `is required (one of ${allowed.join(', ')})`);
    }
    const key = typeof value === 'string' ? allowed.find((k) => k === value.trim().toUpperCase()) : undefined;
    if (key === undefined) {
      return this.fail(field, `unknown value ${JSON.stringify(value)}; expected one of ${allowed.join(', ')}`);
    }
    return names[key] as E[keyof E];
  }

  textList(field: string): string[] | undefined {
    const value = this.doc[field];
    if (value === undefined || value === null) return undefined;
    if (!Array.isArray(value)) return this.fail(field, 'must be a list of strings');
    const out: string[] = [];
    value.forEach((item: unknown, i) => {
      if (typeof item === 'string') out.push(item);
      else if (typeof item === 'number' || typeof item === 'boolean') out.push(String(item));
      else this.fail(`${field}[${i}]`, 'must be a string');
    });
    return out;
  }

  /** A map of strings; YAML scalars like `6817` or `true` are taken as their text. */
  textMap(field: string): Map<string, string> | undefined {
    const value = this.doc[field];
    if (value === undefined || value === null) return undefined;
    if (!isMapping(value)) return this.fail(field, 'must be a mapping of names to strings');
    const out = new Map<string, string>();
    for (const [key, item] of Object.entries(value)) {
      if (typeof item === 'string' || typeof item === 'number' || typeof item === 'boolean') out.set(key, String(item));
      else this.fail(`${field}.${key}`, 'must be a string');
    }
    return out;
  }

  mappings(field: string): { reader: FieldReader; doc: SpecDoc }[] | undefined {
    const value = this.doc[field];
    if (value === undefined || value === null) return undefined;
    if (!Array.isArray(value)) return this.fail(field, 'must be a list');
    const out: { reader: FieldReader; doc: SpecDoc }[] = [];
    value.forEach((item: unknown, i) => {
      if (isMapping(item)) out.push({ reader: new FieldReader(this.problems, item, `${this.at(field)}[${i}].`), doc: item });
      else this.fail(`${field}[${i}]`, 'must be a mapping');
    });
    return out;
  }
}

function throwIfAny(problems: string[], source: string): void {
  if (problems.length > 0) throw new CliError(ExitCode.Usage, `invalid ${source}: ${problems.join('; ')}`);
}

const CLUSTER_FIELDS = ['name', 'kind', 'provider', 'workerCount', 'hosts', 'clientToken', 'providerOptions', 'clusterOptions'];
const HOST_FIELDS = ['address', 'sshUser', 'sshPort', 'roles'];

/** A ClusterSpec from a parsed file; `source` ("spec file x.yaml") starts the error line. */
export function clusterSpecFrom(doc: SpecDoc, source: string): ms.ClusterSpec {
  const problems: string[] = [];
  const r = new FieldReader(problems, doc, '');
  r.unknownFields(CLUSTER_FIELDS);
  const name = r.text('name', true);
  const kind = r.enumName('kind', ms.ClusterKind);
  const provider = r.enumName('provider', ms.ProviderType);
  const workerCount = r.integer('workerCount');
  const hosts = r.mappings('hosts')?.map(({ reader }) => {
    reader.unknownFields(HOST_FIELDS);
    const address = reader.text('address', true);
    return {
      address: address ?? '',
      sshUser: reader.text('sshUser'),
      sshPort: reader.integer('sshPort'),
      roles: reader.textList('roles'),
    };
  });
  const clientToken = r.text('clientToken');
  const providerOptions = r.textMap('providerOptions');
  const clusterOptions = r.textMap('clusterOptions');
  throwIfAny(problems, source);
  return new ms.ClusterSpec({
    name: name as string,
    kind: kind as ms.ClusterKind,
    provider: provider as ms.ProviderType,
    workerCount,
    hosts: hosts?.map((h) => new ms.HostSpec(h)),
    clientToken,
    providerOptions,
    clusterOptions,
  });
}

const JOB_FIELDS = ['jobName', 'taskId', 'processId', 'experimentId', 'parallelism', 'command', 'totalCPUCount',
  'nodeCount', 'wallTimeLimit', 'totalPhysicalMemory', 'clusterId', 'environment', 'workingDir', 'queueName',
  'applicationId', 'clientToken', 'jobType'];

/**
 * A JobSpec from a parsed file and/or the command's flags (already merged into `doc`). parallelism
 * defaults to SERIAL; values are left for the service to judge (an empty command or name, say).
 */
export function jobSpecFrom(doc: SpecDoc, source: string): ms.JobSpec {
  const problems: string[] = [];
  const r = new FieldReader(problems, doc, '');
  r.unknownFields(JOB_FIELDS);
  const spec = {
    // Left to the service when absent, so its one answer names every missing field at once.
    jobName: r.text('jobName') ?? '',
    taskId: r.text('taskId'),
    processId: r.text('processId'),
    experimentId: r.text('experimentId'),
    parallelism: r.enumName('parallelism', base.ApplicationParallelismType, base.ApplicationParallelismType.SERIAL),
    command: r.textList('command') ?? [],
    totalCPUCount: r.integer('totalCPUCount'),
    nodeCount: r.integer('nodeCount'),
    wallTimeLimit: r.integer('wallTimeLimit'),
    totalPhysicalMemory: r.integer('totalPhysicalMemory'),
    clusterId: r.text('clusterId'),
    environment: r.textMap('environment'),
    workingDir: r.text('workingDir'),
    queueName: r.text('queueName'),
    applicationId: r.text('applicationId'),
    clientToken: r.text('clientToken'),
    jobType: r.enumName('jobType', ms.JobType, ms.JobType.BATCH),
  };
  throwIfAny(problems, source);
  return new ms.JobSpec({
    ...spec,
    parallelism: spec.parallelism as base.ApplicationParallelismType,
    jobType: spec.jobType as ms.JobType | undefined,
  });
}
