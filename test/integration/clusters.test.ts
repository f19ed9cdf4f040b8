// Cluster and provisioning calls through the real Thrift server on a real Postgres.
import { hostname, networkInterfaces } from 'node:os';
import Int64 from 'node-int64';
import { startTestApp, type TestApp } from '../support/app';
import { authz } from '../support/tokens';
import { base, ms } from '../../src/rpc/wire';

const staticSpec = (overrides: Partial<ms.IClusterSpecArgs> = {}): ms.ClusterSpec => new ms.ClusterSpec({
  name: 'local-slurm', kind: ms.ClusterKind.SLURM, provider: ms.ProviderType.STATIC,
  hosts: [new ms.HostSpec({ address: 'localhost' })], ...overrides,
});

describe('ClusterService', () => {
  let app: TestApp;
  const logLines: string[] = [];
  beforeAll(async () => {
    // gw-c and gw-d build on this machine; every other gateway is refused it.
    app = await startTestApp('buffered', { logLines, env: { LOCAL_CLUSTER_GATEWAYS: 'gw-c,gw-d' } });
  });
  afterAll(async () => {
    await app.close();
  });

  it('records a cluster in REQUESTED with its nodes and a first event', async () => {
    const token = await authz('gw-c');
    const clusterId = await app.clients.cluster.createCluster(token, staticSpec({
      hosts: [new ms.HostSpec({ address: 'localhost' }), new ms.HostSpec({ address: '10.213.0.11', sshUser: 'root', sshPort: 22 })],
    }));
    const cluster = await app.clients.cluster.getCluster(token, clusterId);
    expect(cluster).toMatchObject({ clusterId, name: 'local-slurm', state: ms.ClusterState.REQUESTED, gatewayId: 'gw-c' });
    expect(cluster.nodes.map((n) => [n.address, n.roles, n.state])).toEqual([
      ['localhost', ['controller', 'worker'], ms.NodeState.REQUESTED],
      ['10.213.0.11', ['worker'], ms.NodeState.REQUESTED],
    ]);
    const events = await app.clients.cluster.getClusterEvents(token, clusterId, new Int64(0));
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ kind: 'state', message: expect.stringContaining('REQUESTED') });
    const after = await app.clients.cluster.getClusterEvents(token, clusterId, events[0].seq);
    expect(after).toEqual([]);
  });

  it('returns the same cluster for the same clientToken and refuses it for another request', async () => {
    const token = await authz('gw-c');
    const first = await app.clients.cluster.createCluster(token, staticSpec({ clientToken: 'ct-1' }));
    const again = await app.clients.cluster.createCluster(token, staticSpec({ clientToken: 'ct-1' }));
    expect(again).toBe(first);
    await expect(app.clients.cluster.createCluster(token, staticSpec({ clientToken: 'ct-1', name: 'other' })))
      .rejects.toMatchObject({ message: expect.stringContaining('spec.clientToken') });
    const listed = (await app.clients.cluster.listClusters(token)).filter((c) => c.clusterId === first);
    expect(listed).toHaveLength(1);
  });

  it('rejects a bad cluster spec with every field named and stores nothing', async () => {
    const token = await authz('gw-c');
    const before = (await app.clients.cluster.listClusters(token)).length;
    const error = await app.clients.cluster.createCluster(token, new ms.ClusterSpec({
      name: '', kind: 5 as ms.ClusterKind, provider: ms.ProviderType.STATIC, workerCount: -1,
      hosts: [new ms.HostSpec({ address: 'not a host;rm -rf /' })],
    })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(base.InvalidRequestException);
    for (const field of ['spec.name', 'spec.kind', 'spec.workerCount', 'spec.hosts[0].address']) {
      expect((error as base.InvalidRequestException).message).toContain(field);
    }
    expect(await app.clients.cluster.listClusters(token)).toHaveLength(before);
  });

  it('keeps clusters per gateway', async () => {
    const owner = await authz('gw-c');
    const stranger = await authz('gw-d');
    const clusterId = await app.clients.cluster.createCluster(owner, staticSpec());
    await expect(app.clients.cluster.getCluster(stranger, clusterId)).rejects.toBeInstanceOf(ms.NotFoundException);
    await expect(app.clients.cluster.getClusterEvents(stranger, clusterId, new Int64(0)))
      .rejects.toBeInstanceOf(ms.NotFoundException);
    await expect(app.clients.cluster.deleteCluster(stranger, clusterId)).rejects.toBeInstanceOf(ms.NotFoundException);
    expect((await app.clients.cluster.listClusters(stranger)).map((c) => c.clusterId)).not.toContain(clusterId);
  });

  it('deletes a cluster: TEARING_DOWN at once, its teardown queued (this app runs no background work)', async () => {
    const token = await authz('gw-c');
    const clusterId = await app.clients.cluster.createCluster(token, staticSpec());
    await app.clients.cluster.deleteCluster(token, clusterId);
    await app.clients.cluster.deleteCluster(token, clusterId); // a retried delete is harmless
    const cluster = await app.clients.cluster.getCluster(token, clusterId);
    expect(cluster.state).toBe(ms.ClusterState.TEARING_DOWN);
    const events = await app.clients.cluster.getClusterEvents(token, clusterId, new Int64(0));
    expect(events.map((e) => e.message.split(':')[0])).toEqual(['REQUESTED', 'TEARING_DOWN']);
    const queued = await app.database.db.raw<{ rows: { task_identifier: string; payload: { action: string } }[] }>(
      `SELECT t.identifier AS task_identifier, j.payload FROM graphile_worker._private_jobs j
         JOIN graphile_worker._private_tasks t ON t.id = j.task_id WHERE j.payload->>'clusterId' = ? ORDER BY j.id`, [clusterId]);
    // the create run had not started: the delete run took its place (one job key per cluster)
    expect(queued.rows.map((r) => [r.task_identifier, r.payload.action])).toEqual([['cluster_workflow', 'delete']]);
    // a job cannot be sent to a terminated cluster
    await expect(app.clients.job.submitJob(token, new ms.JobSpec({
      jobName: 'j', parallelism: base.ApplicationParallelismType.SERIAL, command: ['/bin/true'], clusterId,
    }))).rejects.toMatchObject({ message: expect.stringContaining('spec.clusterId') });
  });

  it('refuses to scale outside the worker pool or before READY, and validates provisioning input', async () => {
    const token = await authz('gw-c');
    const clusterId = await app.clients.cluster.createCluster(token, staticSpec());
    for (const count of [0, 99]) {
      await expect(app.clients.cluster.scaleCluster(token, clusterId, count)).rejects.toMatchObject({
        message: expect.stringContaining('workerCount'),
      });
    }
    await expect(app.clients.cluster.scaleCluster(token, clusterId, 1)).rejects.toMatchObject({
      message: expect.stringContaining('clusterId'),
    });
    await expect(app.clients.provisioning.provisionResources(token, new ms.ResourceRequest({
      provider: ms.ProviderType.EC2, count: 0,
    }))).rejects.toMatchObject({ message: expect.stringContaining('request.count') });
    // Pilots name the HPC system, its partition and a wall time; each missing or bad one is named.
    await expect(app.clients.provisioning.provisionResources(token, new ms.ResourceRequest({
      provider: ms.ProviderType.HPC_PILOT, count: 1, providerOptions: new Map([['clusterId', clusterId], ['colour', 'red']]),
    }))).rejects.toMatchObject({ message: expect.stringMatching(/wallTimeMinutes[\s\S]*(colour|clusterId)|colour[\s\S]*wallTimeMinutes/) });
    await expect(app.clients.provisioning.listAllocations(token)).resolves.toEqual([]);
    await expect(app.clients.provisioning.getAllocation(token, 'none')).rejects.toBeInstanceOf(ms.NotFoundException);
  });

  it('answers an unexpected failure with AiravataSystemException carrying a request id that is in the log', async () => {
    const token = await authz('gw-c');
    const clusterId = await app.clients.cluster.createCluster(token, staticSpec());
    await app.database.db.raw('ALTER TABLE cluster_events RENAME TO cluster_events_gone');
    try {
      const error = await app.clients.cluster.getClusterEvents(token, clusterId, new Int64(0))
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(base.AiravataSystemException);
      const requestId = /request id ([0-9a-f-]{36})/.exec((error as base.AiravataSystemException).message ?? '')?.[1];
      expect(requestId).toBeDefined();
      expect(logLines.some((line) => line.includes(requestId as string) && line.includes('cluster_events'))).toBe(true);
      // the connection survives: the next call on it is answered
      await expect(app.clients.cluster.getAPIVersion()).resolves.toBe(ms.METASCHEDULER_API_VERSION);
    } finally {
      await app.database.db.raw('ALTER TABLE cluster_events_gone RENAME TO cluster_events');
    }
  });

  it('makes each gateway one SSH key pair and keeps the private half sealed', async () => {
    const a = await app.clients.cluster.getGatewaySSHPublicKey(await authz('gw-c'));
    const again = await app.clients.cluster.getGatewaySSHPublicKey(await authz('gw-c'));
    const b = await app.clients.cluster.getGatewaySSHPublicKey(await authz('gw-d'));
    expect(a).toMatch(/^ecdsa-sha2-nistp256 [A-Za-z0-9+/=]+ airavata-metascheduler@gw-c$/);
    expect(again).toBe(a);
    expect(b).not.toBe(a);
    const rows = await app.database.db('gateway_keys').select('private_key_sealed') as { private_key_sealed: string }[];
    expect(rows).toHaveLength(2);
    for (const row of rows) expect(row.private_key_sealed).not.toContain('PRIVATE KEY');
  });

  it("refuses what a kind's or provider's own rules forbid at once, naming the field, recording nothing", async () => {
    const token = await authz('gw-drivers');
    // An HPC system is named by its login host and the site account: bad input, named, not unsupported.
    await expect(app.clients.cluster.createCluster(token, staticSpec({ provider: ms.ProviderType.HPC_PILOT, hosts: undefined })))
      .rejects.toMatchObject({ message: expect.stringContaining('spec.hosts') });
    // The Mesos kind takes only its own tunables, and an odd number of masters.
    const mesos = (overrides: Partial<ms.IClusterSpecArgs>) => staticSpec({
      kind: ms.ClusterKind.MESOS_MARATHON, hosts: [new ms.HostSpec({ address: '203.0.113.7' })], ...overrides,
    });
    await expect(app.clients.cluster.createCluster(token, mesos({ clusterOptions: new Map([['slurm_min_job_age', '10']]) })))
      .rejects.toMatchObject({ message: expect.stringContaining('spec.clusterOptions["slurm_min_job_age"]') });
    await expect(app.clients.cluster.createCluster(token, mesos({
      hosts: ['203.0.113.7', '203.0.113.8'].map((address) => new ms.HostSpec({ address, roles: ['controller', 'worker'] })),
    }))).rejects.toMatchObject({ message: expect.stringContaining('1, 3 or 5 masters') });
    // An HPC system runs its site's Slurm: no other kind there.
    await expect(app.clients.cluster.createCluster(token, staticSpec({
      provider: ms.ProviderType.HPC_PILOT, kind: ms.ClusterKind.MESOS_MARATHON,
      hosts: [new ms.HostSpec({ address: '203.0.113.9', sshUser: 'hpcuser' })],
      providerOptions: new Map([['partitions', 'compute'], ['scratchDir', '/scratch/hpcuser']]),
    }))).rejects.toMatchObject({ message: expect.stringContaining('spec.kind: an HPC_PILOT system runs its site') });
    expect(await app.clients.cluster.listClusters(token)).toEqual([]);
  });

  it("refuses this machine, by any name or address, to a gateway the operator did not name, recording nothing", async () => {
    const outsider = await authz('gw-outsider');
    const ownAddresses = Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((entry) => entry.address));
    const spellings = [
      'localhost', 'LOCALHOST', 'localhost.', 'Localhost.', hostname(), hostname().toUpperCase(), `${hostname()}.`,
      '127.0.0.1', '127.0.1.1', '127.255.255.254', '0.0.0.0', '::1', '0:0:0:0:0:0:0:1', '::', '::ffff:127.0.0.1',
      '::ffff:7f00:1', '0x7f.1', ...ownAddresses.filter((a) => !a.includes('%')),
    ];
    for (const address of spellings) {
      const error = await app.clients.cluster.createCluster(outsider, staticSpec({
        hosts: [new ms.HostSpec({ address: '203.0.113.7' }), new ms.HostSpec({ address })],
      })).catch((e: unknown) => e);
      expect({ address, error }).toEqual({ address, error: expect.any(base.AuthorizationException) });
      expect((error as base.AuthorizationException).message).toContain('spec.hosts[1].address');
    }
    expect(await app.clients.cluster.listClusters(outsider)).toEqual([]);
    // Hosts elsewhere are the gateway's own business; a listed gateway may use this machine.
    await expect(app.clients.cluster.createCluster(outsider, staticSpec({ hosts: [new ms.HostSpec({ address: '203.0.113.7' })] })))
      .resolves.toEqual(expect.any(String));
    await expect(app.clients.cluster.createCluster(await authz('gw-d'), staticSpec({ hosts: [new ms.HostSpec({ address: '127.0.0.1' })] })))
      .resolves.toEqual(expect.any(String));
  });

  it('never writes an access token into the log', async () => {
    const token = await authz('gw-c');
    await app.clients.cluster.listClusters(token);
    expect(logLines.join('\n')).not.toContain(token.accessToken);
  });
});
