// The node health watch's pure parts: sinfo's node lines read, Slurm's node states judged lost or
// answering (with Slurm's reason), our nodes matched to Slurm's names, the DEGRADED reason, which
// clusters and when they are read; and what a lost node's jobs become (NODE_FAIL, requeue).
import { loadConfig, DEFAULT_NODE_HEALTH_INTERVAL_MS } from '../../src/config';
import { canJobMove } from '../../src/domain/stateMachines';
import type { Cluster, ClusterNode } from '../../src/domain/types';
import type { CommandRunner } from '../../src/exec/commandRunner';
import { judgeNode, parseSinfoNodes, sinfoNodesArgv } from '../../src/schedulers/slurm/nodeStates';
import { chooseStatus } from '../../src/schedulers/slurm/jobStatus';
import { mapSlurmState } from '../../src/schedulers/slurm/states';
import type { JobcompRecord } from '../../src/schedulers/slurm/jobcomp';
import { degradedReason, NodeHealthWatch, readNodes, watchedNodes, watchesNodes } from '../../src/workflows/nodeHealth';
import type { Db } from '../../src/store/db';
import { ClusterStore } from '../../src/store/clusterStore';
import { QueueStore } from '../../src/store/queueStore';
import pino from 'pino';

const node = (address: string, roles: string[], extra: Partial<ClusterNode> = {}): ClusterNode => ({
  nodeId: `id-${address}`, address, state: 'CONFIGURED', roles, ...extra,
});

const cluster = (extra: Partial<Cluster> = {}): Cluster => ({
  clusterId: 'c1', gatewayId: 'gw', name: 'c', kind: 'SLURM', provider: 'STATIC', state: 'READY',
  spec: { name: 'c', kind: 'SLURM', provider: 'STATIC' }, failures: [], createdAt: 0, updatedAt: 0,
  nodes: [node('10.0.0.1', ['controller', 'worker']), node('10.0.0.2', ['worker']), node('10.0.0.3', ['worker'])],
  ...extra,
} as Cluster);

describe('sinfo node lines', () => {
  it('is asked for as argv, one line per node: name, extended state, reason last', () => {
    expect(sinfoNodesArgv()).toEqual(['sinfo', '--Node', '--noheader', '--format=%N|%T|%E']);
  });

  it('reads name, state and reason; "none" is no reason; a reason may hold "|"; a node in two partitions counts once', () => {
    const nodes = parseSinfoNodes([
      '10-0-0-1|idle|none',
      '10-0-0-2|down*|Not responding',
      '10-0-0-3|drained|disk bad | replace',
      '10-0-0-1|allocated|none',
      '',
      'garbage line',
      '|idle|none',
      'bad name!|idle|none',
    ].join('\n'));
    expect([...nodes.values()]).toEqual([
      { name: '10-0-0-1', state: 'idle', reason: '' },
      { name: '10-0-0-2', state: 'down*', reason: 'Not responding' },
      { name: '10-0-0-3', state: 'drained', reason: 'disk bad | replace' },
    ]);
  });

  it('keeps an operator\'s reason short and free of control characters', () => {
    const [entry] = parseSinfoNodes(`n1|drained|${'x'.repeat(500)}\u0007tail`).values();
    expect(entry.reason).toHaveLength(200);
    expect(parseSinfoNodes('n1|drained|a\tb\u001bc').get('n1')?.reason).toBe('a b c');
  });
});

describe('judging a node', () => {
  it('answering: idle, allocated, mixed, completing, and power or reservation flags', () => {
    for (const state of ['idle', 'allocated', 'mixed', 'completing', 'idle~', 'mixed-', 'reserved', 'maint', 'planned', 'unknown']) {
      expect(judgeNode({ name: 'n', state, reason: '' })).toEqual({ lost: false, state });
    }
  });

  it('lost when not responding ("*"), with the state it had', () => {
    expect(judgeNode({ name: 'n', state: 'idle*', reason: '' })).toEqual({ lost: true, state: 'idle*', reason: 'Slurm: IDLE+NOT_RESPONDING' });
    expect(judgeNode({ name: 'n', state: 'allocated*', reason: '' })).toMatchObject({ lost: true, reason: 'Slurm: ALLOCATED+NOT_RESPONDING' });
    expect(judgeNode({ name: 'n', state: 'unknown*', reason: '' })).toMatchObject({ lost: true, reason: 'Slurm: UNKNOWN+NOT_RESPONDING' });
  });

  it('lost when DOWN, DRAIN(ED|ING), FAIL(ING) or INVAL, with Slurm\'s reason', () => {
    expect(judgeNode({ name: 'n', state: 'down*', reason: 'Not responding' })).toEqual({
      lost: true, state: 'down*', reason: 'Slurm: DOWN+NOT_RESPONDING (Not responding)',
    });
    expect(judgeNode({ name: 'n', state: 'down', reason: 'Node unexpectedly rebooted' })).toMatchObject({ reason: 'Slurm: DOWN (Node unexpectedly rebooted)' });
    expect(judgeNode({ name: 'n', state: 'drained', reason: 'Kill task failed' })).toMatchObject({ lost: true, reason: 'Slurm: DRAINED (Kill task failed)' });
    expect(judgeNode({ name: 'n', state: 'draining', reason: 'maintenance' })).toMatchObject({ lost: true, reason: 'Slurm: DRAINING (maintenance)' });
    for (const state of ['drain', 'fail', 'failing', 'inval', 'DOWN']) expect(judgeNode({ name: 'n', state, reason: '' }).lost).toBe(true);
  });

  it('lost when sinfo does not list the node at all', () => {
    expect(judgeNode(undefined)).toEqual({ lost: true, state: 'missing', reason: 'not listed by sinfo' });
  });
});

describe('our nodes in Slurm\'s view', () => {
  it('reads the configured workers (not a controller-only node, not one being released or joining), by Slurm node name', () => {
    const c = cluster({
      nodes: [
        node('10.0.0.1', ['controller']), node('10.0.0.2', ['worker']), node('10.0.0.3', ['worker'], { state: 'RELEASED' }),
        node('10.0.0.4', ['worker'], { state: 'RUNNING' }), node('10.0.0.5', ['worker']),
      ],
    });
    expect(watchedNodes(c).map((n) => n.address)).toEqual(['10.0.0.2', '10.0.0.5']);
    const readings = readNodes(c, '10-0-0-2|idle|none\n10-0-0-1|down*|Not responding\n');
    expect(readings.map((r) => [r.node.address, r.slurmName, r.state, r.lostReason])).toEqual([
      ['10.0.0.2', '10-0-0-2', 'idle', undefined],
      ['10.0.0.5', '10-0-0-5', 'missing', 'not listed by sinfo'],
    ]);
  });

  it('matches Slurm\'s names without regard to case (Slurm does not tell them apart)', () => {
    const c = cluster({ nodes: [node('Node-A.example', ['worker'])] });
    expect(readNodes(c, 'node-a-example|idle|none').map((r) => r.lostReason)).toEqual([undefined]);
  });

  it('the DEGRADED reason names every lost node with what Slurm said, and what becomes of its jobs', () => {
    const c = cluster();
    const readings = readNodes(c, '10-0-0-1|idle|none\n10-0-0-2|down*|Not responding\n10-0-0-3|drained|bad disk');
    const reason = degradedReason(readings.filter((r) => r.lostReason !== undefined));
    expect(reason).toBe('2 node(s) lost in Slurm: 10.0.0.2 (Slurm node 10-0-0-2): Slurm: DOWN+NOT_RESPONDING (Not responding); '
      + '10.0.0.3 (Slurm node 10-0-0-3): Slurm: DRAINED (bad disk); jobs there end as Slurm decides (requeued or NODE_FAIL)');
  });

  it('names at most ten nodes and counts the rest', () => {
    const many = Array.from({ length: 12 }, (_, i) => node(`10.0.1.${i + 1}`, ['worker']));
    const reason = degradedReason(readNodes(cluster({ nodes: many }), ''));
    expect(reason).toMatch(/^12 node\(s\) lost in Slurm: /);
    expect(reason).toContain('; and 2 more;');
    expect(reason).not.toContain('10.0.1.11 ');
  });
});

describe('which clusters are watched, and when', () => {
  it('Slurm clusters we built, on any provider; not an HPC system nor a Mesos cluster', () => {
    for (const provider of ['STATIC', 'EC2', 'OPENSTACK'] as const) expect(watchesNodes({ kind: 'SLURM', provider })).toBe(true);
    expect(watchesNodes({ kind: 'SLURM', provider: 'HPC_PILOT' })).toBe(false);
    expect(watchesNodes({ kind: 'SLURM', provider: 'STATIC', site: { partitions: [], accounting: false } as unknown as Cluster['site'] })).toBe(false);
    expect(watchesNodes({ kind: 'MESOS_MARATHON', provider: 'STATIC' })).toBe(false);
  });

  const watch = (intervalMs: number, now: { t: number }, runner: CommandRunner): NodeHealthWatch => new NodeHealthWatch({
    db: undefined as unknown as Db, clusters: new ClusterStore(), queue: new QueueStore(), log: pino({ level: 'silent' }),
    controller: () => runner, intervalMs, now: () => now.t,
  });
  const sinfoFails: CommandRunner = { run: async () => ({ exitCode: 1, stdout: '', stderr: 'slurm_load_node: Unable to contact slurm controller' }) } as unknown as CommandRunner;

  it('a READY cluster, or one it made DEGRADED (no operation); every interval; never with interval 0', async () => {
    const now = { t: 1_000 };
    const w = watch(30_000, now, sinfoFails);
    expect(w.due(cluster())).toBe(true);
    expect(w.due(cluster({ state: 'DEGRADED' }))).toBe(true);
    expect(w.due(cluster({ state: 'DEGRADED', operation: 'repair' }))).toBe(false);
    expect(w.due(cluster({ state: 'SCALING', operation: 'scale' }))).toBe(false);
    // A controller that does not answer says nothing about the nodes: no change, nothing written.
    expect(await w.check(cluster())).toBeUndefined();
    expect(w.due(cluster())).toBe(false);
    now.t += 29_999;
    expect(w.due(cluster())).toBe(false);
    now.t += 1;
    expect(w.due(cluster())).toBe(true);
    w.forget('c1');
    expect(watch(0, now, sinfoFails).due(cluster())).toBe(false);
  });

  it('NODE_HEALTH_INTERVAL_MS: 30 s unless set, 0 turns it off, nonsense refused', () => {
    const base = { DATABASE_URL: 'postgres://x/y', AUTH_HS256_SECRET: 'x'.repeat(32) };
    expect(loadConfig(base).nodeHealthIntervalMs).toBe(DEFAULT_NODE_HEALTH_INTERVAL_MS);
    expect(DEFAULT_NODE_HEALTH_INTERVAL_MS).toBe(30_000);
    expect(loadConfig({ ...base, NODE_HEALTH_INTERVAL_MS: '0' }).nodeHealthIntervalMs).toBe(0);
    expect(() => loadConfig({ ...base, NODE_HEALTH_INTERVAL_MS: '-5' })).toThrow(/NODE_HEALTH_INTERVAL_MS/);
  });
});

describe('jobs on a lost node get Slurm\'s verdict', () => {
  const record = (jobState: string): JobcompRecord => ({
    nativeJobId: '42', name: 'ms-job-1', jobState, exitCode: '0:0', nodeList: '10-0-0-2', startTime: '2026-12-03T10:00:00', endTime: '2026-12-03T10:05:00',
  } as JobcompRecord);
  const live = (state: string, reason = 'None') => ({ nativeJobId: '42', state, reason, startTime: '2026-12-03T10:00:00', name: 'ms-job-1' });

  it('NODE_FAIL is FAILED, with Slurm\'s word in the reason', () => {
    expect(mapSlurmState('NODE_FAIL')).toBe('FAILED');
    expect(chooseStatus('job-1', undefined, record('NODE_FAIL'))).toMatchObject({ state: 'FAILED', nativeState: 'NODE_FAIL', reason: 'Slurm NODE_FAIL, ExitCode=0:0' });
  });

  it('requeued: squeue\'s PENDING wins over the NODE_FAIL record of the run that was lost, and ACTIVE may go back to QUEUED', () => {
    expect(chooseStatus('job-1', live('PENDING', 'BeginTime'), record('NODE_FAIL'))).toMatchObject({ state: 'QUEUED', nativeState: 'PENDING', reason: 'requeued after NODE_FAIL; BeginTime' });
    expect(chooseStatus('job-1', live('PENDING'), record('NODE_FAIL'))).toMatchObject({ state: 'QUEUED', reason: 'requeued after NODE_FAIL' });
    // A job waiting for the first time says only why it waits.
    expect(chooseStatus('job-1', live('PENDING', 'Resources'), undefined)).toMatchObject({ state: 'QUEUED', reason: 'Resources' });
    expect(mapSlurmState('REQUEUED')).toBe('QUEUED');
    expect(canJobMove('ACTIVE', 'QUEUED')).toBe(true);
  });

  it('while squeue still says COMPLETING after a NODE_FAIL, the job is as it was (it may yet be requeued)', () => {
    expect(chooseStatus('job-1', live('COMPLETING'), record('NODE_FAIL'))).toMatchObject({ state: 'ACTIVE', nativeState: 'COMPLETING' });
    // Any other end speaks at once, as before.
    expect(chooseStatus('job-1', live('COMPLETING'), record('COMPLETED'))).toMatchObject({ state: 'COMPLETE' });
  });
});
