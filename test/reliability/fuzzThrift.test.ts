// Fuzzing the Thrift request path of the real service (in-process, on its own Postgres database, as
// test/support/app.ts starts it), both transports, over raw TCP: every call of the three services
// with hostile values (tokens good, foreign and forged), the same calls encoded by a protocol that
// lies (field types and ids, list sizes, values), byte mutations, odd message headers (unknown
// methods and services, prototype names, old-style and wrong message types), random bytes, cut-off
// calls and several calls on one connection. transport.test.ts covers each limit once (idle, caps,
// one unreadable message); this runs thousands of inputs through the whole path.
//
// Asserted per call: the connection is answered or closed, never left hanging past the idle
// timeout; every answer is a Thrift reply (an unmodified call: a REPLY to it); an EXCEPTION reply
// only for a method the service does not have. After every batch: a new connection is answered
// getAPIVersion and no log line is at error level or above (an unexpected error in a call is
// logged so); an unhandled rejection fails the test through jest itself; over the run, RSS, live
// heap and Buffer memory stay within a coarse bound.
import Int64 from 'node-int64';
import * as thrift from 'thrift';
import type { ThriftTransport } from '../../src/config';
import { base, ms } from '../../src/rpc/wire';
import { startTestApp, type TestApp } from '../support/app';
import { RawConnection } from '../support/rawThrift';
import { authz } from '../support/tokens';
import { bytes, fuzzSettings, hostileString, int32, mutateBytes, PROTOTYPE_KEYS, Rng } from './support/generators';
import { collectGarbage } from './support/harness';
import { encodeCall, exchange, reframe, type Reply, type Writable } from './support/thriftWire';
import { maybe, optionKey, PROVIDERS, wireApplicationSpec, wireClusterSpec, wireJobSpec, wireList, wireMap, wireString } from './support/wireSamples';

const FILE = 'test/reliability/fuzzThrift.test.ts';
const settings = fuzzSettings(FILE, 400);
const { MessageType } = thrift.Thrift;

const IDLE_MS = 1000;
const MAX_MESSAGE_BYTES = 256 * 1024;
/** A connection neither answered nor closed this long after its bytes went out is hung. */
const DEADLINE_MS = IDLE_MS + 5000;
const PARALLEL = 16;
const BATCH = 48;
/**
 * Coarse, for leaks, not tuning: the service holds at most a message per connection. Fuzzer and
 * service share this process, so RSS keeps the high-water mark of the fuzzer's own big inputs;
 * what must not happen is that it keeps climbing, so the second half of the run is held to the
 * first half's peak plus this much. Live heap and Buffer memory (after a full collection) must
 * come back to where they started.
 */
const RSS_CLIMB_MB = 200;
const HEAP_GROWTH_MB = 64;
const BUFFER_GROWTH_MB = 64;

const CLOUDS = new Set([ms.ProviderType.EC2, ms.ProviderType.OPENSTACK]);

interface Tokens {
  good: base.AuthzToken;
  foreign: base.AuthzToken;
  forged: base.AuthzToken;
}

interface Known {
  jobId: string;
  clusterId: string;
}

interface Call {
  service: string;
  method: string;
  args: Writable;
}

const SERVICES = ['JobService', 'ClusterService', 'ProvisioningService'] as const;

function token(rng: Rng, tokens: Tokens): base.AuthzToken {
  return rng.weighted<base.AuthzToken>([
    [7, () => tokens.good], [1, () => tokens.foreign], [1, () => tokens.forged],
    [1, () => new base.AuthzToken({ accessToken: rng.bool() ? tokens.good.accessToken : hostileString(rng, 100), claimsMap: maybe(rng, () => wireMap(rng, 4, () => rng.pick(['gatewayID', 'userName', ...PROTOTYPE_KEYS]))) })],
  ]);
}

function id(rng: Rng, known: string): string {
  return rng.weighted<string>([[4, () => known], [2, () => '0b9e7ad6-4d65-4c4a-9d9f-3c1ad1b7f3a1'], [3, () => wireString(rng, 128)]]);
}

/** A cluster spec that never asks a cloud for anything (the fuzzer must not reach EC2 or OpenStack). */
function clusterSpec(rng: Rng): ms.ClusterSpec {
  const spec = rng.bool(0.4)
    ? new ms.ClusterSpec({ name: 'fuzz', kind: ms.ClusterKind.SLURM, provider: ms.ProviderType.STATIC, hosts: [new ms.HostSpec({ address: `10.255.0.${rng.range(1, 254)}`, roles: ['controller', 'worker'] })] })
    : wireClusterSpec(rng);
  if (CLOUDS.has(spec.provider)) spec.provider = rng.pick(PROVIDERS.filter((p) => !CLOUDS.has(p)));
  return spec;
}

/** One call of one of the three services, arguments as a client could send them. */
function someCall(rng: Rng, tokens: Tokens, known: Known): Call {
  const t = (): base.AuthzToken => token(rng, tokens);
  const calls: [number, () => Call][] = [
    [1, () => ({ service: rng.pick(SERVICES), method: 'getAPIVersion', args: new ms.BaseService.GetAPIVersionArgs() })],
    [4, () => ({ service: 'JobService', method: 'submitJob', args: new ms.JobService.SubmitJobArgs({ authzToken: t(), spec: wireJobSpec(rng) }) })],
    [2, () => ({ service: 'JobService', method: 'getJob', args: new ms.JobService.GetJobArgs({ authzToken: t(), jobId: id(rng, known.jobId) }) })],
    [2, () => ({ service: 'JobService', method: 'getJobs', args: new ms.JobService.GetJobsArgs({ authzToken: t(), jobIds: wireList(rng, 1000, () => id(rng, known.jobId), () => known.jobId, 20_000) }) })],
    [1, () => ({ service: 'JobService', method: 'cancelJob', args: new ms.JobService.CancelJobArgs({ authzToken: t(), jobId: id(rng, known.jobId) }) })],
    [2, () => ({ service: 'JobService', method: 'listJobs', args: new ms.JobService.ListJobsArgs({ authzToken: t(), clusterId: maybe(rng, () => id(rng, known.clusterId)), limit: maybe(rng, () => int32(rng)) }) })],
    [3, () => ({ service: 'ClusterService', method: 'createCluster', args: new ms.ClusterService.CreateClusterArgs({ authzToken: t(), spec: clusterSpec(rng) }) })],
    [2, () => ({ service: 'ClusterService', method: 'getCluster', args: new ms.ClusterService.GetClusterArgs({ authzToken: t(), clusterId: id(rng, known.clusterId) }) })],
    [1, () => ({ service: 'ClusterService', method: 'listClusters', args: new ms.ClusterService.ListClustersArgs({ authzToken: t() }) })],
    [2, () => ({ service: 'ClusterService', method: 'getClusterEvents', args: new ms.ClusterService.GetClusterEventsArgs({
      authzToken: t(), clusterId: id(rng, known.clusterId), afterSeq: rng.bool() ? int32(rng) : new Int64(bytes(rng, 8)),
    }) })],
    [1, () => ({ service: 'ClusterService', method: 'scaleCluster', args: new ms.ClusterService.ScaleClusterArgs({ authzToken: t(), clusterId: id(rng, known.clusterId), workerCount: int32(rng) }) })],
    [1, () => ({ service: 'ClusterService', method: 'deleteCluster', args: new ms.ClusterService.DeleteClusterArgs({ authzToken: t(), clusterId: id(rng, 'no-such-cluster') }) })],
    [2, () => ({ service: 'ClusterService', method: 'installApplication', args: new ms.ClusterService.InstallApplicationArgs({ authzToken: t(), clusterId: id(rng, known.clusterId), app: wireApplicationSpec(rng) }) })],
    [1, () => ({ service: 'ClusterService', method: 'getGatewaySSHPublicKey', args: new ms.ClusterService.GetGatewaySSHPublicKeyArgs({ authzToken: t() }) })],
    [2, () => ({ service: 'ProvisioningService', method: 'provisionResources', args: new ms.ProvisioningService.ProvisionResourcesArgs({
      authzToken: t(), request: new ms.ResourceRequest({
        provider: rng.bool(0.8) ? rng.pick(PROVIDERS) : int32(rng), count: int32(rng),
        providerOptions: maybe(rng, () => wireMap(rng, 64, () => rng.pick(['clusterId', 'partition', 'wallTimeMinutes', optionKey(rng)]))),
        clientToken: maybe(rng, () => wireString(rng, 128)),
      }),
    }) })],
    [1, () => ({ service: 'ProvisioningService', method: 'getAllocation', args: new ms.ProvisioningService.GetAllocationArgs({ authzToken: t(), allocationId: id(rng, known.jobId) }) })],
    [1, () => ({ service: 'ProvisioningService', method: 'listAllocations', args: new ms.ProvisioningService.ListAllocationsArgs({ authzToken: t() }) })],
    [1, () => ({ service: 'ProvisioningService', method: 'releaseResources', args: new ms.ProvisioningService.ReleaseResourcesArgs({ authzToken: t(), allocationId: id(rng, known.jobId) }) })],
  ];
  return rng.weighted(calls);
}

type Strategy = 'valid' | 'lies' | 'bytes' | 'header' | 'random' | 'truncated' | 'several';

interface FuzzCase {
  strategy: Strategy;
  describe: string;
  payload: Buffer;
  /** Replies to wait for before closing our side (0: read until the server closes). */
  replies: number;
  /** Method names this payload calls that the service has (an EXCEPTION reply to them is a fault). */
  known: boolean;
}

function buildCase(transport: ThriftTransport, rng: Rng, tokens: Tokens, known: Known): FuzzCase {
  const call = someCall(rng, tokens, known);
  const name = `${call.service}:${call.method}`;
  const strategy = rng.weighted<Strategy>([[2, () => 'valid'], [3, () => 'lies'], [2, () => 'bytes'], [2, () => 'header'], [1, () => 'random'], [1, () => 'truncated'], [1, () => 'several']]);
  const plain = (): Buffer => encodeCall({ transport, name, args: call.args, seqid: rng.range(0, 1000) });
  switch (strategy) {
    case 'valid': {
      // A call over THRIFT_MAX_MESSAGE_BYTES is refused by closing: no reply to wait for.
      const payload = plain();
      const fits = payload.length - (transport === 'framed' ? 4 : 0) <= MAX_MESSAGE_BYTES;
      return { strategy, describe: `${name}${fits ? '' : ` of ${payload.length} bytes`}`, payload, replies: fits ? 1 : 0, known: true };
    }
    case 'lies': {
      const rate = rng.pick([0.02, 0.05, 0.15, 0.4]);
      return { strategy, describe: `${name} lying at ${rate}`, payload: encodeCall({ transport, name, args: call.args, lies: { rng: rng.fork('lies'), rate } }), replies: 1, known: true };
    }
    case 'bytes': {
      const message = plain();
      const payload = transport === 'framed' && rng.bool(0.7) ? reframe(mutateBytes(rng, message.subarray(4), 6)) : mutateBytes(rng, message, 6);
      return { strategy, describe: `${name} with bytes changed`, payload, replies: 0, known: false };
    }
    case 'header': {
      const garbage = rng.weighted<string>([
        [2, () => `${call.service}:${rng.pick(['', 'nope', 'getAPIVersion ', 'GETAPIVERSION', 'process', 'constructor', '__proto__', 'toString', 'hasOwnProperty', hostileString(rng, 40)])}`],
        [2, () => `${rng.pick([...PROTOTYPE_KEYS, '', 'NoSuchService', 'jobservice', hostileString(rng, 40)])}:${call.method}`],
        [1, () => rng.pick(['', ':', '::', 'JobService', 'JobService:', `${name}:extra`, `:${call.method}`])],
        [1, () => `${call.service}:${'m'.repeat(rng.size(100_000))}`],
      ]);
      const type = rng.weighted<number>([[6, () => MessageType.CALL], [1, () => MessageType.ONEWAY], [1, () => MessageType.REPLY], [1, () => MessageType.EXCEPTION], [1, () => rng.range(-128, 127)]]);
      const payload = encodeCall({ transport, name: rng.bool(0.8) ? garbage : name, args: call.args, type, seqid: int32(rng), oldStyle: rng.bool(0.3) });
      return { strategy, describe: `header ${JSON.stringify(garbage.slice(0, 80))} type ${type}`, payload, replies: 0, known: false };
    }
    case 'random': {
      const random = bytes(rng, rng.weighted<number>([[6, () => rng.size(2000)], [1, () => MAX_MESSAGE_BYTES + rng.range(1, 4096)]]));
      const payload = transport === 'framed' && rng.bool(0.5) ? reframe(random) : random;
      return { strategy, describe: `${payload.length} random bytes`, payload, replies: 0, known: false };
    }
    case 'truncated': {
      const message = plain();
      const cut = rng.int(message.length);
      return { strategy, describe: `${name} cut at ${cut} of ${message.length}`, payload: message.subarray(0, cut), replies: 0, known: false };
    }
    case 'several': {
      const parts = Array.from({ length: rng.range(2, 5) }, () => {
        const next = someCall(rng, tokens, known);
        return encodeCall({ transport, name: `${next.service}:${next.method}`, args: next.args, lies: rng.bool(0.3) ? { rng: rng.fork('several'), rate: 0.05 } : undefined });
      });
      return { strategy, describe: `${parts.length} calls on one connection`, payload: Buffer.concat(parts), replies: 0, known: true };
    }
  }
}

/** Whether any createCluster in the payload, as the server would decode it, asks a cloud for nodes. */
function asksACloud(transport: ThriftTransport, payload: Buffer): boolean {
  let at = 0;
  while (at < payload.length) {
    let body = payload.subarray(at);
    if (transport === 'framed') {
      if (body.length < 4) return false;
      body = body.subarray(4, 4 + Math.max(0, body.readInt32BE(0)));
    }
    const reader = new thrift.TFramedTransport(body);
    const input = new thrift.TBinaryProtocol(reader);
    try {
      const begin = input.readMessageBegin();
      if (begin.fname.endsWith(':createCluster')) {
        const args = ms.ClusterService.CreateClusterArgs.read(input);
        if (CLOUDS.has(args.spec.provider)) return true;
      } else {
        input.skip(thrift.Thrift.Type.STRUCT);
      }
      input.readMessageEnd();
    } catch {
      return false; // the server cannot read it either, and stops there
    }
    const used = (reader as unknown as { readPos: number }).readPos;
    at += transport === 'framed' ? 4 + body.length : used;
    if (used === 0) return false;
  }
  return false;
}

/** What every answer must be: a reply, and for a call the service has, not an EXCEPTION. */
function checkReplies(c: FuzzCase, replies: readonly Reply[]): string | undefined {
  for (const reply of replies) {
    if (reply.type === MessageType.EXCEPTION) {
      // The generated processor's answer to a method it does not have (its type is lost on the way, see thriftWire.ts).
      if (reply.exception?.message.startsWith('Unknown function ') && !c.known) continue;
      return `an EXCEPTION reply (${JSON.stringify(reply.exception)}) to ${c.describe}`;
    }
    if (reply.type !== MessageType.REPLY) return `a reply of message type ${reply.type}`;
  }
  if (c.strategy === 'valid' && replies.length !== c.replies) return `${replies.length} replies to one call (${c.replies} expected)`;
  return undefined;
}

async function runPool<T>(items: readonly T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next];
      next += 1;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
}

describe.each(['buffered', 'framed'] as const)('Thrift request path over %s transport', (transport) => {
  let app: TestApp;
  const logLines: string[] = [];
  let tokens: Tokens;
  let known: Known;

  beforeAll(async () => {
    app = await startTestApp(transport, {
      logLines,
      env: {
        THRIFT_IDLE_TIMEOUT_MS: String(IDLE_MS),
        THRIFT_MAX_MESSAGE_BYTES: String(MAX_MESSAGE_BYTES),
        // Hosts are checked against this machine by name: no DNS look-ups of fuzzed names.
        LOCAL_CLUSTER_GATEWAYS: '*',
      },
    });
    tokens = {
      good: await authz('gw-fuzz'),
      foreign: await authz('gw-fuzz-other', 'mallory', 'gw-fuzz'),
      forged: new base.AuthzToken({ accessToken: 'eyJhbGciOiJub25lIn0.eyJnYXRld2F5SUQiOiJndy1mdXp6In0.', claimsMap: new Map([['gatewayID', 'gw-fuzz'], ['userName', 'alice']]) }),
    };
    known = {
      jobId: (await app.clients.job.submitJob(tokens.good, new ms.JobSpec({ jobName: 'seed', parallelism: base.ApplicationParallelismType.SERIAL, command: ['/bin/true'] }))).jobId,
      clusterId: await app.clients.cluster.createCluster(tokens.good, new ms.ClusterSpec({
        name: 'seed', kind: ms.ClusterKind.SLURM, provider: ms.ProviderType.STATIC, hosts: [new ms.HostSpec({ address: '10.255.0.1', roles: ['controller', 'worker'] })],
      })),
    };
  });

  afterAll(async () => {
    await app?.close();
  });

  it('answers or closes every connection, keeps serving, logs no error, holds its memory', async () => {
    const cases = settings.iterations;
    const target = `thrift ${transport}`;
    const endings = new Map<string, number>();
    const warnings = new Map<string, number>();
    let skipped = 0;
    let slowest = 0;
    const samples: { rss: number; heap: number; buffers: number }[] = [];
    const sample = (): void => {
      collectGarbage();
      const m = process.memoryUsage();
      samples.push({ rss: m.rss / 2 ** 20, heap: m.heapUsed / 2 ** 20, buffers: m.arrayBuffers / 2 ** 20 });
    };
    sample();
    const only = process.env.FUZZ_CASE;
    const indexes = only ? [Number(only)] : Array.from({ length: cases }, (_, i) => i);
    for (let from = 0; from < indexes.length; from += BATCH) {
      const batch = indexes.slice(from, from + BATCH);
      const failures: string[] = [];
      // Built before any connection opens: the service shares this event loop, and building MBs of
      // calls while its connections wait would hold their reads past the idle timeout.
      const built = batch.map((index) => ({ index, fuzzCase: buildCase(transport, Rng.forCase(settings.seed, target, index), tokens, known) }));
      await runPool(built, PARALLEL, async ({ index, fuzzCase }) => {
        const where = `case ${index} (${fuzzCase.strategy}: ${fuzzCase.describe}; rerun: FUZZ_SEED=${settings.seed} FUZZ_CASE=${index} npx jest ${FILE} -t ${transport})`;
        if (asksACloud(transport, fuzzCase.payload)) {
          skipped += 1;
          return;
        }
        try {
          const result = await exchange(app.port, transport, fuzzCase.payload, fuzzCase.replies, DEADLINE_MS);
          slowest = Math.max(slowest, result.ms);
          const key = `${fuzzCase.strategy} ${result.ending}`;
          endings.set(key, (endings.get(key) ?? 0) + 1);
          if (result.ending === 'hung') failures.push(`${where}: neither answered nor closed within ${DEADLINE_MS} ms`);
          const wrong = checkReplies(fuzzCase, result.replies);
          if (wrong) failures.push(`${where}: ${wrong}`);
        } catch (error) {
          failures.push(`${where}: ${error instanceof Error ? error.message : String(error)}`);
        }
      });
      // The service still serves a new client.
      const probe = await RawConnection.open(app.port);
      try {
        await probe.write(encodeCall({ transport, name: 'JobService:getAPIVersion', args: new ms.BaseService.GetAPIVersionArgs() }));
        const version = await probe.reply(transport, ms.BaseService.GetAPIVersionResult.read, 5000);
        expect(version.success).toBe(ms.METASCHEDULER_API_VERSION);
      } finally {
        probe.destroy();
      }
      // Nothing logged at error level (an unexpected error in a call is).
      const lines = logLines.splice(0).map((line) => JSON.parse(line) as { level: number; msg: string; reason?: string; err?: { message?: string } });
      for (const line of lines) {
        if (line.level >= 40) warnings.set(line.msg, (warnings.get(line.msg) ?? 0) + 1);
        if (line.level >= 50) failures.push(`logged at level ${line.level} during cases ${batch[0]}..${batch[batch.length - 1]}: ${line.msg} ${line.err?.message ?? ''}`);
      }
      if (failures.length > 0) throw new Error(`${target}, FUZZ_SEED=${settings.seed}:\n  ${failures.slice(0, 10).join('\n  ')}`);
      sample();
    }
    const first = samples[0];
    const last = samples[samples.length - 1];
    const half = Math.ceil(samples.length / 2);
    const peak = (from: number, to: number): number => Math.max(...samples.slice(from, to).map((m) => m.rss));
    const climb = samples.length >= 4 ? peak(half, samples.length) - peak(0, half) : 0;
    console.log([
      `${target} (FUZZ_SEED=${settings.seed} FUZZ_ITERATIONS=${cases}): ${indexes.length} cases, ${skipped} skipped (createCluster that would reach a cloud)`,
      `  endings: ${[...endings].sort().map(([k, n]) => `${k} ${n}`).join(', ')}`,
      `  slowest connection ${slowest.toFixed(0)} ms; RSS ${first.rss.toFixed(0)} -> ${last.rss.toFixed(0)} MiB (peak ${peak(0, samples.length).toFixed(0)}, second half over first ${climb.toFixed(0)}); `
        + `live heap ${first.heap.toFixed(0)} -> ${last.heap.toFixed(0)} MiB; Buffers ${first.buffers.toFixed(1)} -> ${last.buffers.toFixed(1)} MiB`,
      `  warnings logged: ${[...warnings].map(([msg, n]) => `${n}x ${msg}`).join('; ') || 'none'}`,
    ].join('\n'));
    expect(climb).toBeLessThan(RSS_CLIMB_MB);
    expect(last.heap - first.heap).toBeLessThan(HEAP_GROWTH_MB);
    expect(last.buffers - first.buffers).toBeLessThan(BUFFER_GROWTH_MB);
  }, Math.max(120_000, settings.iterations * 400));
});
