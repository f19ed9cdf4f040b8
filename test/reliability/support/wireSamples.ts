// The IDL's request structs with values as the Thrift decoder can hand them over: required fields
// set, i32 anywhere in its range (enums included), strings of any content and length, lists and
// maps of any size (just over their limit, or far over), map keys like __proto__. Shared by the
// validation fuzzer (values) and the Thrift fuzzer (whole calls).
import { LIMITS } from '../../../src/domain/validation';
import { base, ms } from '../../../src/rpc/wire';
import { anyUnits, hostileString, int32, PROTOTYPE_KEYS, text, type Rng } from './generators';

const numbersOf = (e: Record<string, string | number>): number[] => Object.values(e).filter((v): v is number => typeof v === 'number');
export const PARALLELISM = numbersOf(base.ApplicationParallelismType);
export const KINDS = numbersOf(ms.ClusterKind);
export const PROVIDERS = numbersOf(ms.ProviderType);
export const JOB_TYPES = numbersOf(ms.JobType);

/** A string field: mostly short, sometimes just over a limit, now and then huge. */
export function wireString(rng: Rng, near: number = LIMITS.nameLength): string {
  return rng.weighted<string>([
    [6, () => hostileString(rng, 40)],
    [3, () => text(rng, 40, ['word'])],
    [1, () => 'x'.repeat(near + rng.range(-1, 1))],
    [1, () => anyUnits(rng, near * 2)],
    [0.05, () => 'y'.repeat(1024 * 1024)],
  ]);
}

/** Lists of a few elements as make builds them; long ones (at their limit, or `huge`) mostly of `cheap`. */
export function wireList<T>(rng: Rng, limit: number, make: () => T, cheap: (i: number) => T, huge = 200_000): T[] {
  const long = (length: number): T[] => Array.from({ length }, (_, i) => (i >= length - 4 ? make() : cheap(i)));
  return rng.weighted<T[]>([
    [8, () => Array.from({ length: rng.size(8) }, make)],
    [1, () => long(limit + rng.range(-1, 1))],
    [0.1, () => long(huge)],
  ]);
}

export function wireMap(rng: Rng, limit: number, keys: () => string): Map<string, string> {
  const size = rng.weighted<number>([[8, () => rng.size(6)], [1, () => limit + rng.range(-1, 1)], [0.1, () => 50_000]]);
  const map = new Map<string, string>();
  for (let i = 0; i < size; i += 1) map.set(i < size - 6 ? `K${i}` : keys(), i < size - 6 ? 'v' : wireString(rng, LIMITS.envValueLength));
  return map;
}

export const envKey = (rng: Rng): string => rng.weighted<string>([
  [5, () => `${rng.pick(['PATH', 'OMP_NUM_THREADS', 'MY_VAR', 'A', '_x', 'SLURM_NTASKS', 'LD_PRELOAD'])}`],
  [2, () => rng.pick(PROTOTYPE_KEYS)],
  [2, () => hostileString(rng, 20)],
  [0.5, () => 'V'.repeat(LIMITS.envNameLength + rng.range(-1, 1))],
]);

export const optionKey = (rng: Rng): string => rng.weighted<string>([
  [5, () => rng.pick(['region', 'instanceTypes', 'partitions', 'scratchDir', 'account', 'modules', 'accounting', 'env.FOO', 'cloud', 'image', 'flavor', 'template'])],
  [2, () => rng.pick(PROTOTYPE_KEYS)],
  [2, () => hostileString(rng, 20)],
]);

export const maybe = <T>(rng: Rng, make: () => T, p = 0.5): T | undefined => (rng.bool(p) ? make() : undefined);

export function enumValue(rng: Rng, known: readonly number[]): number {
  return rng.bool(0.85) ? rng.pick(known) : int32(rng);
}

/**
 * Per struct, whether it is meant to pass: about half are built from valid values with a field
 * going wrong now and then (so the valid path and the checks of a valid spec are exercised), the
 * rest mix valid and hostile values freely. Returns the chooser: valid value, or any value.
 */
function chooser(rng: Rng): <T>(valid: () => T, any: () => T) => T {
  const p = rng.bool(0.5) ? 0.97 : 0.4;
  return (valid, any) => (rng.bool(p) ? valid() : any());
}

const word = (rng: Rng, max = 20): string => text(rng, max, ['word']).replace(/^[.-]+/, '') || 'w';
const validEnv = (rng: Rng): Map<string, string> => new Map(Array.from({ length: rng.size(5) }, (_, i) => [`${rng.pick(['MY_VAR', 'A', '_x', 'DATA_DIR'])}${i}`, word(rng, 30)]));

export function wireJobSpec(rng: Rng): ms.JobSpec {
  const v = chooser(rng);
  const serial = v(() => true, () => rng.bool());
  return new ms.JobSpec({
    jobName: v(() => `job-${word(rng)}`, () => wireString(rng)),
    parallelism: v(() => (serial ? base.ApplicationParallelismType.SERIAL : base.ApplicationParallelismType.OPENMP), () => enumValue(rng, PARALLELISM)),
    command: v(() => ['/bin/echo', ...Array.from({ length: rng.size(4) }, () => word(rng))],
      () => (rng.bool(0.9) ? wireList(rng, LIMITS.commandArgs, () => (rng.bool(0.7) ? rng.pick(['/bin/echo', 'hello', '-n', 'a b']) : wireString(rng, LIMITS.argLength)), (i) => (i === 0 ? '/bin/echo' : `a${i}`)) : [])),
    taskId: maybe(rng, () => v(() => word(rng), () => wireString(rng, LIMITS.idLength))),
    processId: maybe(rng, () => v(() => word(rng), () => wireString(rng, LIMITS.idLength))),
    experimentId: maybe(rng, () => v(() => word(rng), () => wireString(rng, LIMITS.idLength))),
    totalCPUCount: maybe(rng, () => v(() => rng.range(1, 64), () => int32(rng))),
    nodeCount: maybe(rng, () => v(() => 1, () => int32(rng))),
    wallTimeLimit: maybe(rng, () => v(() => rng.range(1, 10_000), () => int32(rng))),
    totalPhysicalMemory: maybe(rng, () => v(() => rng.range(1, 100_000), () => int32(rng))),
    clusterId: maybe(rng, () => v(() => word(rng), () => wireString(rng, LIMITS.idLength))),
    environment: maybe(rng, () => v(() => validEnv(rng), () => wireMap(rng, LIMITS.envEntries, () => envKey(rng)))),
    workingDir: maybe(rng, () => v(() => `runs/${word(rng)}`, () => rng.weighted<string>([[1, () => rng.pick(['../up', '~/x', 'a\\b', '/abs/dir', ''])], [2, () => wireString(rng, LIMITS.pathLength)]]))),
    queueName: maybe(rng, () => v(() => 'batch', () => wireString(rng))),
    applicationId: maybe(rng, () => v(() => word(rng), () => wireString(rng, LIMITS.idLength))),
    clientToken: maybe(rng, () => v(() => word(rng), () => wireString(rng, LIMITS.clientTokenLength))),
    jobType: maybe(rng, () => v(() => ms.JobType.BATCH, () => enumValue(rng, JOB_TYPES))),
  });
}

export function wireHost(rng: Rng, v: <T>(valid: () => T, any: () => T) => T = chooser(rng)): ms.HostSpec {
  return new ms.HostSpec({
    address: v(() => `10.0.${rng.range(0, 255)}.${rng.range(1, 254)}`, () => rng.weighted<string>([[2, () => `node-${rng.range(1, 9)}.example.org`],
      [1, () => rng.pick(['fe80::1%eth0', '::1', 'localhost', '127.0.0.1', '1.2.3', '-bad-.org', 'a'.repeat(254)])], [2, () => wireString(rng)]])),
    sshUser: maybe(rng, () => v(() => 'ubuntu', () => wireString(rng, 32))),
    sshPort: maybe(rng, () => v(() => rng.range(1, 65535), () => int32(rng))),
    roles: maybe(rng, () => v(() => [rng.pick(['controller', 'worker'])],
      () => wireList(rng, LIMITS.hostRoles, () => (rng.bool(0.8) ? rng.pick(['controller', 'worker', 'login']) : wireString(rng)), () => 'worker'))),
  });
}

export function wireClusterSpec(rng: Rng): ms.ClusterSpec {
  const v = chooser(rng);
  const hpc = rng.bool(0.3);
  const hosts = (): ms.HostSpec[] => (hpc
    ? [new ms.HostSpec({ address: 'login.hpc.example.org', sshUser: 'gwuser', sshPort: 22 })]
    : Array.from({ length: 1 + rng.size(6) }, (_, i) => new ms.HostSpec({ address: `10.2.${i >> 8}.${(i & 255) + 1}`, roles: [i === 0 ? 'controller' : 'worker'] })));
  const validOptions = (): Map<string, string> => (hpc
    ? new Map([['partitions', rng.pick(['compute', 'debug,compute'])], ['scratchDir', '/scratch/gw'], ['accounting', rng.pick(['auto', 'files', 'sacct'])]])
    : new Map(rng.bool() ? [['slurm_partition_name', word(rng)]] : []));
  return new ms.ClusterSpec({
    name: v(() => `cluster-${word(rng, 10)}`, () => wireString(rng)),
    kind: v(() => ms.ClusterKind.SLURM, () => enumValue(rng, KINDS)),
    provider: v(() => (hpc ? ms.ProviderType.HPC_PILOT : ms.ProviderType.STATIC), () => enumValue(rng, PROVIDERS)),
    workerCount: maybe(rng, () => v(() => rng.range(0, 4), () => int32(rng))),
    hosts: v(hosts, () => maybe(rng, () => wireList(rng, LIMITS.hosts, () => wireHost(rng), (i) => new ms.HostSpec({ address: `10.1.${i >> 8 & 255}.${i & 255}` }), 20_000), 0.7)),
    clientToken: maybe(rng, () => v(() => word(rng), () => wireString(rng, LIMITS.clientTokenLength))),
    providerOptions: v(() => (hpc ? validOptions() : undefined), () => maybe(rng, () => wireMap(rng, LIMITS.optionEntries, () => optionKey(rng)))),
    clusterOptions: v(() => (hpc ? undefined : validOptions()), () => maybe(rng, () => wireMap(rng, LIMITS.optionEntries, () => optionKey(rng)))),
  });
}

export function wireApplicationSpec(rng: Rng): ms.ApplicationSpec {
  const v = chooser(rng);
  return new ms.ApplicationSpec({
    name: v(() => `app-${word(rng, 10)}`, () => wireString(rng, 64)),
    version: maybe(rng, () => v(() => '1.0.2', () => wireString(rng, 64))),
    debPackages: maybe(rng, () => v(() => ['libopenmpi-dev'], () => wireList(rng, LIMITS.debPackages, () => (rng.bool() ? 'libopenmpi-dev' : wireString(rng, 100)), (i) => `pkg${i}`))),
    archiveUrl: maybe(rng, () => rng.pick(['https://example.org/a.tar.gz', 'ftp://x/y', 'not a url', 'http://[::1', wireString(rng, 2000)]), 0.2),
    archiveSha256: maybe(rng, () => (rng.bool() ? 'a'.repeat(64) : wireString(rng, 64)), 0.2),
    installCommands: maybe(rng, () => v(() => [['/bin/true']], () => wireList(rng, LIMITS.installCommands, () => wireList(rng, LIMITS.commandArgs, () => wireString(rng, LIMITS.argLength), (i) => `a${i}`), () => ['/bin/true']))),
    environment: maybe(rng, () => v(() => validEnv(rng), () => wireMap(rng, LIMITS.envEntries, () => envKey(rng)))),
  });
}
