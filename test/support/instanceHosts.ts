// An AWS double whose instances are real machines: an instance launched with a key pair boots as a
// test host (scripts/test-ssh-host: its own network namespace, host name, address and sshd) at the
// instance's private address, accepting exactly the imported public key; terminating the instance
// (by us, or an "interruption") takes the host down. An instance without a key boots as nothing
// (no way in), like a machine nobody can use.
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { ServiceClients } from '../../src/client/connect';
import { ms, type base } from '../../src/rpc/wire';
import { startAwsDouble, type AwsDouble } from './aws/double';
import type { ServiceProcess } from './serviceProcess';
import { until } from './until';

const HELPER = path.resolve(__dirname, '../../scripts/test-ssh-host');

export interface InstanceHosts {
  double: AwsDouble;
  /** The environment for scripts/test-ssh-host on this bridge. */
  helperEnv: NodeJS.ProcessEnv;
  /** The test host name of an instance address. */
  hostName(address: string): string;
  /** Host names up now. */
  booted: ReadonlySet<string>;
  /** Takes down whatever hosts are still up, and stops the double. */
  close(): Promise<void>;
}

export async function startInstanceHosts(options: {
  bridge: string; net: string; lastOctets: number[]; namePrefix: string; keyDir: string;
}): Promise<InstanceHosts> {
  const helperEnv = { ...process.env, MS_TEST_BRIDGE: options.bridge, MS_TEST_NET: options.net };
  const hostName = (address: string): string => `${options.namePrefix}-${address.split('.').at(-1)}`;
  const booted = new Set<string>();
  const double = await startAwsDouble({
    addresses: options.lastOctets.map((x) => `${options.net}.${x}`),
    tagKeys: { node: 'metascheduler:node', cluster: 'metascheduler:cluster' },
    onBoot: async (instance, publicKey) => {
      if (!publicKey) return;
      const keyFile = path.join(options.keyDir, `${instance.instanceId}.pub`);
      writeFileSync(keyFile, `${publicKey.trim()}\n`, { mode: 0o600 });
      execFileSync(HELPER, ['up', hostName(instance.privateIp), instance.privateIp, keyFile], { env: helperEnv });
      booted.add(hostName(instance.privateIp));
    },
    onTerminate: async (instance) => {
      if (!booted.delete(hostName(instance.privateIp))) return;
      execFileSync(HELPER, ['down', hostName(instance.privateIp)], { env: helperEnv });
    },
  });
  return {
    double, helperEnv, hostName, booted,
    async close() {
      for (const host of booted) spawnSync(HELPER, ['down', host], { env: helperEnv });
      booted.clear();
      await double.close();
    },
  };
}

/** After a test file: a cluster left behind is deleted and waited for, so nothing it bought outlives the file. */
export async function deleteLeftCluster(clients: ServiceClients | undefined, token: base.AuthzToken, clusterId: string): Promise<void> {
  if (!clients || !clusterId) return;
  const c = await clients.cluster.getCluster(token, clusterId).catch(() => undefined);
  if (!c || c.state === ms.ClusterState.TERMINATED) return;
  await clients.cluster.deleteCluster(token, clusterId).catch(() => undefined);
  await until('teardown', 300_000, async () => {
    const now = await clients.cluster.getCluster(token, clusterId);
    return [ms.ClusterState.TERMINATED, ms.ClusterState.FAILED].includes(now.state) ? true : undefined;
  }).catch(() => undefined);
}

/**
 * The end of a test file that ran the service as a process: what its cluster bought is given back
 * (deleteLeftCluster), then the client and the service stop, whatever the delete did.
 */
export async function endServiceRun(clients: ServiceClients | undefined, token: base.AuthzToken, clusterId: string, service: ServiceProcess | undefined): Promise<void> {
  try {
    await deleteLeftCluster(clients, token, clusterId);
  } finally {
    clients?.close();
    service?.child.kill('SIGTERM');
    if (service) await service.exited;
  }
}
