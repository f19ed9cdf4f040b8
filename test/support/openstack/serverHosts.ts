// Real machines behind the test cloud's fake servers. Nova's fake driver boots nothing, so a
// poller watches the project's servers and gives each server of a tracked cluster a test host
// (scripts/test-ssh-host: its own network namespace, host name, address and sshd) that accepts
// exactly the public key of the server's Nova key pair; it then writes the host's address into the
// server's metadata under the key the service reads addresses from (OPENSTACK_ADDRESS_METADATA_KEY).
// A server that leaves Nova takes its host down with it. A server without a key pair boots as
// nothing, like a machine nobody can get into.
import { execFile, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { HeatStack, NovaServer, OpenStackClient } from '../../../src/providers/openstack/client/index';
import { keyPairName } from '../../../src/providers/naming';
import { META_CLUSTER, META_NODE, stackName } from '../../../src/providers/openstack/metadata';
import type { ServiceClients } from '../../../src/client/connect';
import { ms, type base } from '../../../src/rpc/wire';
import type { TestDatabase } from '../database';
import { endServiceRun } from '../instanceHosts';
import type { ServiceProcess } from '../serviceProcess';
import { until } from '../until';

const HELPER = path.resolve(__dirname, '../../../scripts/test-ssh-host');
const run = promisify(execFile);

export interface ServerHostsOptions {
  /** A client of the project the service's clusters live in. */
  client: OpenStackClient;
  /** The metadata key the service takes a node's address from. */
  addressKey: string;
  bridge: string;
  /** The first three octets of the bridge's /24. */
  net: string;
  /** The last octets of the addresses handed out. */
  lastOctets: number[];
  /** Host names are <namePrefix>-<last octet> (test-ssh-host allows 11 characters). */
  namePrefix: string;
  /** Where the authorized key files go. */
  keyDir: string;
  pollIntervalMs?: number;
}

export interface ServerSighting {
  clusterId: string;
  /** The node the server was made for (Heat members get theirs after the stack is complete). */
  nodeId?: string;
}

export interface ServerHosts {
  /** The environment for scripts/test-ssh-host on this bridge. */
  helperEnv: NodeJS.ProcessEnv;
  /** Servers of this cluster get hosts from now on (the cloud is shared with other test files). */
  track(clusterId: string): void;
  /** The test host name of an address. */
  hostName(address: string): string;
  /** Host names up now. */
  booted: ReadonlySet<string>;
  /** Every server of a tracked cluster seen so far, by server id, deleted ones too. */
  seen: ReadonlyMap<string, ServerSighting>;
  /** What went wrong in a poll (a host that would not boot, an address pool run dry). */
  problems: readonly string[];
  /** Stops polling and takes down every host still up. */
  close(): Promise<void>;
}

interface Mapped {
  address: string;
  host: string;
}

export function startServerHosts(options: ServerHostsOptions): ServerHosts {
  const { client, addressKey } = options;
  const helperEnv = { ...process.env, MS_TEST_BRIDGE: options.bridge, MS_TEST_NET: options.net };
  const hostName = (address: string): string => `${options.namePrefix}-${address.split('.').at(-1)}`;
  const free = options.lastOctets.map((x) => `${options.net}.${x}`);
  const tracked = new Set<string>();
  const mapped = new Map<string, Mapped>();
  const booted = new Set<string>();
  const seen = new Map<string, ServerSighting>();
  const problems: string[] = [];
  const problem = (text: string): void => {
    if (problems.at(-1) === text) return;
    problems.push(text);
    process.stderr.write(`serverHosts: ${text}\n`);
  };

  const boot = async (server: NovaServer): Promise<void> => {
    const keyName = server.key_name;
    if (!keyName) return;
    const pair = await client.nova.getKeyPair(keyName);
    if (pair === undefined) {
      problem(`server ${server.id}: key pair ${keyName} not found`);
      return;
    }
    const address = free.shift();
    if (address === undefined) {
      problem(`server ${server.id}: no free address left on ${options.bridge}`);
      return;
    }
    const host = hostName(address);
    mapped.set(server.id, { address, host });
    const keyFile = path.join(options.keyDir, `${server.id}.pub`);
    writeFileSync(keyFile, `${pair.public_key.trim()}\n`, { mode: 0o600 });
    try {
      await run(HELPER, ['up', host, address, keyFile], { env: helperEnv });
      booted.add(host);
      await client.nova.updateServerMetadata(server.id, { [addressKey]: address });
    } catch (error) {
      // Given back, so the next poll tries again from the start.
      await takeDown(server.id, { address, host }).catch(() => undefined);
      throw error;
    }
  };

  const takeDown = async (serverId: string, entry: Mapped): Promise<void> => {
    mapped.delete(serverId);
    if (booted.delete(entry.host)) await run(HELPER, ['down', entry.host], { env: helperEnv });
    free.push(entry.address);
  };

  const poll = async (): Promise<void> => {
    const servers = (await client.nova.listServers()).filter((s) => tracked.has(s.metadata?.[META_CLUSTER] ?? ''));
    const present = new Set<string>();
    for (const server of servers) {
      const clusterId = server.metadata?.[META_CLUSTER] ?? '';
      seen.set(server.id, { clusterId, nodeId: server.metadata?.[META_NODE] ?? seen.get(server.id)?.nodeId });
      if (server.status !== 'DELETED' && server.status !== 'SOFT_DELETED') present.add(server.id);
    }
    await Promise.all([...mapped].filter(([id]) => !present.has(id)).map(async ([id, entry]) => {
      await takeDown(id, entry).catch((error: unknown) => problem(`taking down ${entry.host} of server ${id}: ${String(error)}`));
    }));
    // Only ACTIVE servers: the service waits for ACTIVE anyway, and one still building may yet fail.
    const waiting = servers.filter((s) => s.status === 'ACTIVE' && !mapped.has(s.id) && s.metadata?.[addressKey] === undefined);
    await Promise.all(waiting.map(async (server) => {
      await boot(server).catch((error: unknown) => problem(`booting a host for server ${server.id}: ${String(error)}`));
    }));
  };

  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<void> = Promise.resolve();
  const tick = (): void => {
    current = poll()
      .catch((error: unknown) => problem(`listing servers: ${String(error)}`))
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, options.pollIntervalMs ?? 300);
      });
  };
  tick();

  return {
    helperEnv, hostName, booted, seen, problems,
    track: (clusterId) => { tracked.add(clusterId); },
    async close() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await current;
      for (const host of booted) spawnSync(HELPER, ['down', host], { env: helperEnv });
      booted.clear();
      mapped.clear();
    },
  };
}

/**
 * After a test file: whatever its clusters still hold in the cloud (a test that failed half way)
 * is deleted and waited for: stacks first (they would make their servers again), then servers and
 * key pairs.
 */
export async function removeClusterLeftovers(client: OpenStackClient, clusterIds: readonly string[], timeoutMs = 300_000): Promise<void> {
  const ours = new Set(clusterIds);
  const stacks: HeatStack[] = [];
  for (const clusterId of ours) {
    const stack = await client.heat.getStack(stackName(clusterId));
    if (stack !== undefined && stack.stack_status !== 'DELETE_COMPLETE') {
      await client.heat.deleteStack(stack);
      stacks.push(stack);
    }
  }
  const servers = (await client.nova.listServers()).filter((s) => ours.has(s.metadata?.[META_CLUSTER] ?? ''));
  for (const server of servers) await client.nova.deleteServer(server.id);
  for (const clusterId of ours) await client.nova.deleteKeyPair(keyPairName(clusterId));
  await until('the test clusters\' servers and stacks to be deleted', timeoutMs, async () => {
    for (const server of servers) {
      const now = await client.nova.getServer(server.id);
      if (now !== undefined && now.status !== 'DELETED') return undefined;
    }
    for (const stack of stacks) {
      const now = await client.heat.getStack(stack);
      if (now !== undefined && now.stack_status !== 'DELETE_COMPLETE') return undefined;
    }
    return true;
  }, 1000);
}

/**
 * The end of an OpenStack end-to-end file, each step whatever the one before did: the last cluster
 * deleted and the service stopped, the clusters' leftovers removed from the cloud, the server hosts
 * down, the test database dropped.
 */
export async function endOpenStackRun(run: {
  clients: ServiceClients | undefined; token: base.AuthzToken; clusterId: string; service: ServiceProcess | undefined;
  nova: OpenStackClient | undefined; clusterIds: readonly string[]; hosts: ServerHosts | undefined; database: TestDatabase | undefined;
}): Promise<void> {
  try {
    await endServiceRun(run.clients, run.token, run.clusterId, run.service);
  } finally {
    try {
      if (run.nova) await removeClusterLeftovers(run.nova, run.clusterIds);
    } finally {
      await run.hosts?.close();
      await run.database?.drop();
    }
  }
}

/**
 * A Slurm cluster on the test cloud as the end-to-end files ask for it: the tiny flavor and raw
 * image, no network (the test hosts stand in), root over SSH, Slurm forgetting ended jobs fast.
 */
export function testCloudClusterSpec(name: string, workers: number, cloud: string, extra: readonly [string, string][] = []): ms.ClusterSpec {
  return new ms.ClusterSpec({
    name, kind: ms.ClusterKind.SLURM, provider: ms.ProviderType.OPENSTACK, workerCount: workers,
    providerOptions: new Map([
      ['cloud', cloud], ['flavor', 'm1.tiny'], ['image', 'tiny-raw'], ['network', 'none'], ['sshUser', 'root'], ...extra,
    ]),
    clusterOptions: new Map([['slurm_min_job_age', '10']]),
  });
}
