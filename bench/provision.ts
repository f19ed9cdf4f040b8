// bench/provision: buying a cluster's nodes on EC2, through the EC2 provider against the local AWS
// double (the real SDK, AWS_ENDPOINT_URL), for N nodes, against a raw SDK script doing the least
// that buys N instances (one RunInstances per node, 16 at a time, then DescribeInstances until all
// run), in the same process, on the same double. Each size runs twice: with no injected latency
// (what is left is orchestration: our code, the SDK and the double's own work) and with the
// latency given per call (default 50-500 ms, uniform). Release (terminate, wait until terminated)
// is timed the same way. Prints what it measured; asserts nothing.
//
//   npm run build && node dist/bench/provision.js [--nodes 10,50,100] [--latency 50-500] [--poll 250]
import { randomUUID } from 'node:crypto';
import { DescribeInstancesCommand, EC2Client, ImportKeyPairCommand, RunInstancesCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { parseArgs } from 'node:util';
import type { Cluster, ClusterNode } from '../src/domain/types';
import { createAwsClients, destroyAwsClients } from '../src/providers/ec2/clients';
import { Ec2Provider } from '../src/providers/ec2/ec2Provider';
import { generateSshKeyPair } from '../src/secrets/sshKeys';
import { startAwsDouble, type AwsDouble } from '../test/support/aws/double';
import { describeMachine } from './support/machine';

const REGION = 'us-east-1';
const OPTIONS = { imageId: 'ami-0abcdef1234567890', instanceTypes: 't3.micro', subnetIds: 'subnet-0a1b2c3d', sshUser: 'admin' };

interface Run {
  createMs: number;
  releaseMs: number;
  calls: number;
  injectedMs: number;
}

function clusterOf(nodes: number): Cluster {
  const clusterId = randomUUID();
  const now = Date.now();
  return {
    clusterId, gatewayId: 'bench', name: 'bench', kind: 'SLURM', provider: 'EC2', state: 'PROVISIONING', failures: [], createdAt: now, updatedAt: now,
    spec: { name: 'bench', kind: 'SLURM', provider: 'EC2', workerCount: nodes, providerOptions: OPTIONS },
    nodes: Array.from({ length: nodes }, (_, i): ClusterNode => ({
      nodeId: randomUUID(), address: '', state: 'REQUESTED', roles: i === 0 ? ['controller', 'worker'] : ['worker'], sshUser: 'admin',
    })),
  };
}

/** A fresh double and environment, so each run starts from an empty account. */
async function withDouble<T>(latency: { min: number; max: number }, body: (double: AwsDouble) => Promise<T>): Promise<T> {
  const double = await startAwsDouble({ region: REGION, latencyMs: latency });
  const saved = { ...process.env };
  Object.assign(process.env, double.env);
  try {
    return await body(double);
  } finally {
    process.env = saved;
    await double.close();
  }
}

async function ours(nodes: number, latency: { min: number; max: number }, pollMs: number): Promise<Run> {
  return withDouble(latency, async (double) => {
    const clients = createAwsClients(REGION);
    const provider = new Ec2Provider({ defaultRegion: REGION, pollIntervalMs: pollMs, clients: () => clients });
    const cluster = clusterOf(nodes);
    const note = async (): Promise<void> => undefined;
    const sshPublicKey = generateSshKeyPair('bench').publicKey;
    const t0 = performance.now();
    const quota = await provider.checkQuota(cluster.spec);
    if (quota.errors.length > 0) throw new Error(quota.errors.map((e) => e.message).join('; '));
    const acquired = await provider.acquire(cluster, cluster.nodes, { sshPublicKey, note });
    const createMs = performance.now() - t0;
    if (acquired.length !== nodes) throw new Error(`acquired ${acquired.length} of ${nodes}`);
    const bought = { ...cluster, nodes: cluster.nodes.map((n, i) => ({ ...n, state: 'CONFIGURED' as const, providerResourceId: acquired[i].providerResourceId })) };
    const t1 = performance.now();
    await provider.release(bought, bought.nodes, { note });
    await provider.releaseCluster(bought, { note });
    const releaseMs = performance.now() - t1;
    destroyAwsClients(clients);
    return { createMs, releaseMs, calls: double.calls().length, injectedMs: double.injectedWaitMs() };
  });
}

/** The least a script does: import the key, one RunInstances per node (16 at a time), poll until all run; terminate all, poll until gone. */
async function raw(nodes: number, latency: { min: number; max: number }, pollMs: number): Promise<Run> {
  return withDouble(latency, async (double) => {
    const ec2 = new EC2Client({ region: REGION });
    const keyName = `raw-${randomUUID()}`;
    const t0 = performance.now();
    await ec2.send(new ImportKeyPairCommand({ KeyName: keyName, PublicKeyMaterial: Buffer.from(generateSshKeyPair('raw').publicKey) }));
    const ids: string[] = [];
    let next = 0;
    await Promise.all(Array.from({ length: Math.min(16, nodes) }, async () => {
      while (next < nodes) {
        next += 1;
        const out = await ec2.send(new RunInstancesCommand({
          ImageId: OPTIONS.imageId, InstanceType: 't3.micro', SubnetId: OPTIONS.subnetIds, KeyName: keyName, MinCount: 1, MaxCount: 1,
          TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'bench', Value: 'raw' }] }],
        }));
        ids.push(out.Instances?.[0]?.InstanceId ?? '');
      }
    }));
    await pollUntil(ec2, ids, 'running', pollMs);
    const createMs = performance.now() - t0;
    const t1 = performance.now();
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: ids }));
    await pollUntil(ec2, ids, 'terminated', pollMs);
    const releaseMs = performance.now() - t1;
    ec2.destroy();
    return { createMs, releaseMs, calls: double.calls().length, injectedMs: double.injectedWaitMs() };
  });
}

async function pollUntil(ec2: EC2Client, ids: readonly string[], state: string, pollMs: number): Promise<void> {
  for (;;) {
    const out = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [...ids] }));
    const states = (out.Reservations ?? []).flatMap((r) => r.Instances ?? []).map((i) => i.State?.Name);
    if (states.length === ids.length && states.every((s) => s === state)) return;
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

const seconds = (ms: number): string => (ms / 1000).toFixed(2);

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { nodes: { type: 'string', default: '10,50,100' }, latency: { type: 'string', default: '50-500' }, poll: { type: 'string', default: '250' } } });
  const sizes = values.nodes.split(',').map(Number);
  const [min, max] = values.latency.split('-').map(Number);
  const pollMs = Number(values.poll);
  if (sizes.some((n) => !Number.isInteger(n) || n < 1) || !Number.isFinite(min) || !Number.isFinite(max ?? min) || !(pollMs > 0)) {
    throw new Error('usage: --nodes 10,50,100 --latency 50-500 --poll 250');
  }
  const latency = { min, max: max ?? min };
  const machine = describeMachine();
  console.log(`bench/provision on ${machine.cores} cores (${machine.cpuModel}), node ${machine.node}; poll every ${pollMs} ms; latency ${latency.min}-${latency.max} ms per call`);
  console.log('nodes | ours create, no latency | raw create, no latency | ours create, latency | raw create, latency | x raw | ours release, latency | raw release, latency | calls ours/raw');
  const rows: { nodes: number; orchestration: number }[] = [];
  for (const nodes of sizes) {
    const zero = { min: 0, max: 0 };
    const ours0 = await ours(nodes, zero, pollMs);
    const raw0 = await raw(nodes, zero, pollMs);
    const oursL = await ours(nodes, latency, pollMs);
    const rawL = await raw(nodes, latency, pollMs);
    rows.push({ nodes, orchestration: ours0.createMs });
    console.log(`${nodes} | ${seconds(ours0.createMs)} s | ${seconds(raw0.createMs)} s | ${seconds(oursL.createMs)} s | ${seconds(rawL.createMs)} s | `
      + `${(oursL.createMs / rawL.createMs).toFixed(2)} | ${seconds(oursL.releaseMs)} s | ${seconds(rawL.releaseMs)} s | ${oursL.calls}/${rawL.calls}`);
  }
  // Linear growth means the time per node does not rise with the size.
  const perNode = rows.map((r) => `${r.nodes}: ${(r.orchestration / r.nodes).toFixed(1)} ms/node`).join(', ');
  console.log(`orchestration (create, no injected latency) per node: ${perNode}`);
  const largest = rows.at(-1);
  if (largest) console.log(`orchestration at ${largest.nodes} nodes: ${seconds(largest.orchestration)} s (target <= 10 s at 100)`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(`bench/provision: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
    process.exit(1);
  },
);
