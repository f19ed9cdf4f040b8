// Fuzzing request validation: the IDL's structs (JobSpec, ClusterSpec with HostSpec, ApplicationSpec)
// as the Thrift decoder hands them over (required fields set, i32 anywhere in range, strings of any
// content and length, lists and maps of any size, map keys like __proto__), converted by
// src/rpc/convert.ts and checked by src/domain/validation.ts; for cluster specs that pass, the
// provider's and kind's own checks too. Half the structs go through a real encode/decode first, so
// the values are exactly what arrives. A second tier hands validation every value its TypeScript
// types allow (NaN, Infinity, -0, lone surrogates, 1e308). The answer is always either a spec
// within every limit or an InvalidRequestError naming fields of the request in a bounded message;
// nothing else is thrown, and neither the struct nor the raw spec is changed.
import * as thrift from 'thrift';
import { InvalidRequestError } from '../../src/domain/errors';
import type { ClusterSpec, HostSpec } from '../../src/domain/types';
import {
  LIMITS, validateApplicationSpec, validateClusterSpec, validateId, validateIds, validateJobSpec, type RawClusterSpec, type RawJobSpec,
} from '../../src/domain/validation';
import { defaultKinds } from '../../src/kinds/registry';
import { createLogger } from '../../src/log';
import { defaultProviders } from '../../src/providers/registry';
import { toRawApplicationSpec, toRawClusterSpec, toRawJobSpec } from '../../src/rpc/convert';
import { ms } from '../../src/rpc/wire';
import { anyNumber, anyUnits, fuzzSettings, PROTOTYPE_KEYS, text } from './support/generators';
import { Fuzzer, liveHeapMb, type Case } from './support/harness';
import { envKey, wireApplicationSpec, wireClusterSpec, wireJobSpec, wireList, wireString } from './support/wireSamples';

const FILE = 'test/reliability/fuzzValidation.test.ts';
const settings = fuzzSettings(FILE, 1500);
const fuzzer = new Fuzzer(settings, FILE);
const N = settings.iterations;

/** However bad the request, the answer stays about this small (errors are capped per list, echoes cut). */
const MESSAGE_MAX = 16 * 1024;

const providers = defaultProviders();
const kinds = defaultKinds({ slurm: { log: createLogger('silent') }, mesos: { log: createLogger('silent') } });

afterAll(() => {
  // How much of the input was valid: a fuzzer whose every case is refused tests the refusals only.
  for (const [target, { valid, refused }] of outcomes) fuzzer.log(`${target}: ${valid} valid, ${refused} refused`);
  console.log(fuzzer.report());
});

interface Struct {
  write(output: thrift.TProtocol): void;
}

/** The struct through TBinaryProtocol and back: what the server's decoder would hand a handler. */
function throughTheWire<T>(struct: Struct, read: (input: thrift.TProtocol) => T): T {
  let bytes: Buffer = Buffer.alloc(0);
  const output = new thrift.TBinaryProtocol(new thrift.TBufferedTransport(undefined, (b) => { bytes = b ?? bytes; }));
  struct.write(output);
  output.flush();
  return read(new thrift.TBinaryProtocol(new thrift.TFramedTransport(bytes)));
}

// ---- checks ------------------------------------------------------------------------------

/**
 * Freezes a request deep, so code that writes to it throws at the write (strict mode), and returns
 * a check for its Maps, which freezing cannot stop: their entries must be as they were.
 */
function frozen(value: unknown): () => boolean {
  const maps: [Map<unknown, unknown>, string][] = [];
  const seen = new Set<object>();
  const walk = (v: unknown): void => {
    if (v === null || typeof v !== 'object' || seen.has(v)) return;
    seen.add(v);
    if (v instanceof Map) {
      maps.push([v, JSON.stringify([...v])]);
      for (const [k, item] of v) { walk(k); walk(item); }
      return;
    }
    Object.freeze(v);
    for (const item of Object.values(v)) walk(item);
  };
  walk(value);
  return () => maps.every(([map, before]) => JSON.stringify([...map]) === before);
}

/**
 * Runs a validator: it returns, or throws InvalidRequestError whose every field is one of the
 * request's (under prefix) in a bounded message. Returns the result or the error.
 */
const outcomes = new Map<string, { valid: number; refused: number }>();

function validated<T>(c: Case, prefix: string, fields: readonly string[], run: () => T): T | InvalidRequestError {
  const tally = outcomes.get(c.target) ?? { valid: 0, refused: 0 };
  outcomes.set(c.target, tally);
  try {
    const result = c.call(run);
    tally.valid += 1;
    return result;
  } catch (error) {
    tally.refused += 1;
    if (!(error instanceof InvalidRequestError)) throw new Error(`threw ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}, not InvalidRequestError`);
    c.check(error.fieldErrors.length > 0, 'an InvalidRequestError naming no field');
    for (const { field, message } of error.fieldErrors) {
      // "spec", "spec.command[3]", "jobIds[2]": the request itself, one of its fields, or an element.
      const rest = field.startsWith(prefix) ? field.slice(prefix.length) : undefined;
      const named = rest === '' || rest?.startsWith('[') || fields.includes(/^\.([A-Za-z0-9]+)/.exec(rest ?? '')?.[1] ?? '');
      c.check(named, () => `error names ${JSON.stringify(field)}, not a field of the request`);
      c.check(typeof message === 'string' && message.length > 0, () => `no message for ${field}`);
    }
    c.check(error.message.length <= MESSAGE_MAX, () => `the error is ${error.message.length} characters for one request`);
    return error;
  }
}

const JOB_FIELDS = ['jobName', 'taskId', 'processId', 'experimentId', 'parallelism', 'command', 'totalCPUCount', 'nodeCount', 'wallTimeLimit',
  'totalPhysicalMemory', 'clusterId', 'environment', 'workingDir', 'queueName', 'applicationId', 'clientToken', 'jobType'];
const CLUSTER_FIELDS = ['name', 'kind', 'provider', 'workerCount', 'hosts', 'clientToken', 'providerOptions', 'clusterOptions'];
const APP_FIELDS = ['name', 'version', 'debPackages', 'archiveUrl', 'archiveSha256', 'installCommands', 'environment'];

/** What a valid string field promises: no NUL, within its limit. */
function checkText(c: Case, what: string, value: string | undefined, max: number): void {
  if (value === undefined) return;
  c.check(typeof value === 'string' && !value.includes('\u0000') && value.length <= max, () => `valid spec with ${what} of ${value.length} characters or a NUL`);
}

function checkCount(c: Case, what: string, value: number | undefined, min: number, max: number): void {
  if (value === undefined) return;
  c.check(Number.isInteger(value) && value >= min && value <= max, () => `valid spec with ${what} = ${value}`);
}

function checkValidJob(c: Case, raw: RawJobSpec, spec: ReturnType<typeof validateJobSpec>): void {
  checkText(c, 'jobName', spec.jobName, LIMITS.nameLength);
  c.check(spec.jobName.trim() !== '', 'valid spec with a blank jobName');
  for (const key of ['taskId', 'processId', 'experimentId', 'clusterId', 'applicationId'] as const) checkText(c, key, spec[key], LIMITS.idLength);
  checkText(c, 'clientToken', spec.clientToken, LIMITS.clientTokenLength);
  checkText(c, 'workingDir', spec.workingDir, LIMITS.pathLength);
  c.check(spec.command.length >= 1 && spec.command.length <= LIMITS.commandArgs && spec.command[0].trim() !== '', 'valid spec with a bad command list');
  for (const arg of spec.command) checkText(c, 'command argument', arg, LIMITS.argLength);
  checkCount(c, 'totalCPUCount', spec.totalCPUCount, 1, LIMITS.cpus);
  checkCount(c, 'nodeCount', spec.nodeCount, 1, LIMITS.nodes);
  checkCount(c, 'wallTimeLimit', spec.wallTimeLimit, 1, LIMITS.wallTimeMinutes);
  checkCount(c, 'totalPhysicalMemory', spec.totalPhysicalMemory, 1, LIMITS.memoryMb);
  const env = Object.entries(spec.environment ?? {});
  c.check(env.length <= LIMITS.envEntries, 'valid spec over the environment limit');
  for (const [key, value] of env) {
    c.check(/^[A-Za-z_][A-Za-z0-9_]*$/.test(key) && key.length <= LIMITS.envNameLength, () => `valid spec with environment name ${JSON.stringify(key)}`);
    checkText(c, `environment ${key}`, value, LIMITS.envValueLength);
  }
  // Everything given is kept, environment entries included, whatever their names.
  expect(Object.entries(spec.environment ?? {})).toEqual(Object.entries(raw.environment ?? {}));
  expect(spec.command).toEqual(raw.command);
  // Valid stays valid, unchanged.
  expect(validateJobSpec({ ...spec, parallelism: spec.parallelism, jobType: spec.jobType })).toEqual(spec);
}

function checkValidCluster(c: Case, spec: ClusterSpec): void {
  checkText(c, 'name', spec.name, LIMITS.nameLength);
  checkCount(c, 'workerCount', spec.workerCount, 0, LIMITS.nodes);
  c.check((spec.hosts ?? []).length <= LIMITS.hosts, 'valid spec over the hosts limit');
  for (const host of spec.hosts ?? []) {
    checkText(c, 'host address', host.address, 253 + 64);
    checkCount(c, 'sshPort', host.sshPort, 1, 65535);
  }
  for (const map of [spec.providerOptions, spec.clusterOptions]) {
    const entries = Object.entries(map ?? {});
    c.check(entries.length <= LIMITS.optionEntries, 'valid spec over the options limit');
    for (const [key, value] of entries) {
      c.check(/^[A-Za-z0-9_.:-]{1,128}$/.test(key), () => `valid spec with option key ${JSON.stringify(key)}`);
      checkText(c, `option ${key}`, value, LIMITS.optionValueLength);
    }
  }
}

/** The provider's and the kind's own checks of a spec validation passed: field errors, never a throw. */
function checkDrivers(c: Case, spec: ClusterSpec): void {
  if (!providers.has(spec.provider) || !kinds.has(spec.kind)) return;
  const provider = providers.get(spec.provider);
  const errors = c.call(() => [...provider.validate(spec), ...kinds.get(spec.kind).validate(spec)]);
  for (const e of errors) {
    c.check(typeof e.field === 'string' && e.field.startsWith('spec') && typeof e.message === 'string', () => `driver error ${JSON.stringify(e)}`);
    c.check(e.message.length <= MESSAGE_MAX, 'a driver error that grows with the request');
  }
  if (errors.length > 0) return;
  const settled = c.call(() => provider.settle?.(spec) ?? spec);
  const planned = c.call(() => provider.plan(settled));
  c.check(Array.isArray(planned) && planned.length <= LIMITS.hosts + LIMITS.nodes + 2, () => `plan of ${planned.length} nodes`);
}

describe('JobSpec: decoder -> convert -> validateJobSpec', () => {
  it('answers a spec within every limit or an error naming request fields; changes nothing it is given', () => {
    const before = liveHeapMb();
    fuzzer.run('job spec', N, (c) => {
      const made = wireJobSpec(c.rng);
      const wire = c.rng.bool() ? throughTheWire(made, ms.JobSpec.read) : made;
      c.note('spec', wire);
      const wireUnchanged = frozen(wire);
      const raw = c.call(() => toRawJobSpec(wire));
      const rawUnchanged = frozen(raw);
      const outcome = validated(c, 'spec', JOB_FIELDS, () => validateJobSpec(raw));
      c.check(wireUnchanged() && rawUnchanged(), 'a map of the request was changed');
      const failedFields = outcome instanceof InvalidRequestError ? outcome.fieldErrors.map((e) => e.field) : [];
      if (!(outcome instanceof InvalidRequestError)) checkValidJob(c, raw, outcome);
      // What must be refused is refused, by name.
      if (raw.jobName.trim() === '' || raw.jobName.length > LIMITS.nameLength) expect(failedFields).toContain('spec.jobName');
      if (raw.command.length === 0 || raw.command.length > LIMITS.commandArgs) expect(failedFields).toContain('spec.command');
      if (raw.command.length <= LIMITS.commandArgs && raw.command.some((a) => a.includes('\u0000'))) {
        expect(failedFields.some((f) => f.startsWith('spec.command'))).toBe(true);
      }
      if (Object.keys(raw.environment ?? {}).some((k) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(k))) expect(outcome).toBeInstanceOf(InvalidRequestError);
    });
    fuzzer.log(`job spec: live heap ${(liveHeapMb() - before).toFixed(1)} MiB after the cases`);
    expect(liveHeapMb() - before).toBeLessThan(64);
  });

  it('takes every value its TypeScript types allow: NaN, Infinity, -0, fractions, lone surrogates, __proto__ names', () => {
    fuzzer.run('job spec, any typed values', N, (c) => {
      const rng = c.rng;
      const environment: Record<string, string> = {};
      for (let i = 0; i < rng.size(6); i += 1) Object.defineProperty(environment, rng.bool(0.4) ? rng.pick(PROTOTYPE_KEYS) : envKey(rng), { value: anyUnits(rng, 30), enumerable: true, writable: true, configurable: true });
      const raw: RawJobSpec = {
        jobName: rng.bool(0.7) ? 'job' : anyUnits(rng, 300),
        parallelism: rng.bool(0.8) ? rng.pick(['SERIAL', 'SERIAL', 'OPENMP', 'MPI', 'OPENMP_MPI', 'CCM', 'CRAY_MPI']) : anyUnits(rng, 20),
        command: Array.from({ length: rng.size(5) }, () => (rng.bool(0.6) ? '/bin/true' : anyUnits(rng, 50))),
        ...(rng.bool(0.3) ? { totalCPUCount: anyNumber(rng) } : {}),
        ...(rng.bool(0.3) ? { nodeCount: rng.bool() ? 1 : anyNumber(rng) } : {}),
        ...(rng.bool(0.3) ? { wallTimeLimit: anyNumber(rng) } : {}),
        ...(rng.bool(0.3) ? { totalPhysicalMemory: anyNumber(rng) } : {}),
        ...(rng.bool(0.2) ? { workingDir: anyUnits(rng, 60) } : {}),
        ...(rng.bool(0.2) ? { queueName: anyUnits(rng, 20) } : {}),
        ...(rng.bool(0.3) ? { environment } : {}),
        ...(rng.bool(0.2) ? { jobType: rng.pick(['BATCH', 'SERVICE', '', 'constructor']) } : {}),
      };
      c.note('raw', raw);
      frozen(raw);
      const outcome = validated(c, 'spec', JOB_FIELDS, () => validateJobSpec(raw));
      if (!(outcome instanceof InvalidRequestError)) checkValidJob(c, raw, outcome);
      for (const key of ['totalCPUCount', 'nodeCount', 'wallTimeLimit', 'totalPhysicalMemory'] as const) {
        const value = raw[key];
        if (value !== undefined && !Number.isInteger(value)) expect(outcome).toBeInstanceOf(InvalidRequestError);
      }
    });
  });
});

describe('ClusterSpec: decoder -> convert -> validateClusterSpec -> provider and kind', () => {
  it('answers a spec within every limit or an error naming request fields; drivers answer field errors', () => {
    fuzzer.run('cluster spec', N, (c) => {
      const made = wireClusterSpec(c.rng);
      const wire = c.rng.bool() ? throughTheWire(made, ms.ClusterSpec.read) : made;
      c.note('spec', wire);
      const wireUnchanged = frozen(wire);
      const raw: RawClusterSpec = c.call(() => toRawClusterSpec(wire));
      const rawUnchanged = frozen(raw);
      const outcome = validated(c, 'spec', CLUSTER_FIELDS, () => validateClusterSpec(raw));
      c.check(wireUnchanged() && rawUnchanged(), 'a map of the request was changed');
      if (outcome instanceof InvalidRequestError) {
        if ((raw.hosts ?? []).length > LIMITS.hosts) expect(outcome.fieldErrors.map((e) => e.field)).toContain('spec.hosts');
        return;
      }
      checkValidCluster(c, outcome);
      frozen(outcome);
      checkDrivers(c, outcome);
      const host: HostSpec | undefined = outcome.hosts?.[0];
      if (host) c.check(typeof host.address === 'string', 'a host without an address');
    });
  });
});

describe('ApplicationSpec and ids', () => {
  it('answers an application within its limits or an error naming its fields', () => {
    fuzzer.run('application spec', N, (c) => {
      const made = wireApplicationSpec(c.rng);
      const wire = c.rng.bool() ? throughTheWire(made, ms.ApplicationSpec.read) : made;
      c.note('app', wire);
      const wireUnchanged = frozen(wire);
      const raw = c.call(() => toRawApplicationSpec(wire));
      const rawUnchanged = frozen(raw);
      const outcome = validated(c, 'app', APP_FIELDS, () => validateApplicationSpec(raw));
      c.check(wireUnchanged() && rawUnchanged(), 'a map of the request was changed');
      if (outcome instanceof InvalidRequestError) return;
      checkText(c, 'name', outcome.name, 64);
      c.check((outcome.debPackages ?? []).length <= LIMITS.debPackages && (outcome.installCommands ?? []).length <= LIMITS.installCommands, 'valid app over a list limit');
      for (const argv of outcome.installCommands ?? []) for (const arg of argv) checkText(c, 'install argument', arg, LIMITS.argLength);
    });
  });

  it('answers ids: each checked, a long list refused whole', () => {
    fuzzer.run('ids', N, (c) => {
      const ids = wireList(c.rng, 1000, () => (c.rng.bool(0.7) ? `0b9e${text(c.rng, 30, ['word'])}` : wireString(c.rng, LIMITS.idLength)), (i) => `id-${i}`);
      c.note('ids', ids.slice(0, 20));
      frozen(ids);
      validated(c, 'jobIds', ['jobIds'], () => validateIds('jobIds', ids));
      const one = c.rng.bool(0.9) ? c.rng.pick([...ids, '']) : undefined;
      const outcome = validated(c, 'jobId', ['jobId'], () => validateId('jobId', one));
      if (!(outcome instanceof InvalidRequestError)) checkText(c, 'id', outcome, LIMITS.idLength);
    });
  });
});
