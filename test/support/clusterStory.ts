// A cluster's whole event log as text, page after page (getClusterEvents answers 1000 at a time and
// a build alone writes hundreds of task events): what a test prints when a cluster goes wrong and
// searches for what a step said.
import Int64 from 'node-int64';
import type { ServiceClients } from '../../src/client/connect';
import type { base } from '../../src/rpc/wire';

export async function clusterStory(clients: ServiceClients, token: base.AuthzToken, clusterId: string): Promise<string> {
  const lines: string[] = [];
  for (let after = 0; ;) {
    const page = await clients.cluster.getClusterEvents(token, clusterId, new Int64(after));
    if (page.length === 0) return lines.join('\n');
    lines.push(...page.filter((e) => e.kind !== 'task_start').map((e) => `${e.kind} ${e.host ?? ''} ${e.task ?? ''}: ${e.message}`));
    after = page[page.length - 1].seq.toNumber();
  }
}
