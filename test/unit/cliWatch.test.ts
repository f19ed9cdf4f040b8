// The watcher's pure parts: folding cluster events into per-host progress, the outcome of a watch
// per mode, and a whole watch over a scripted event source rendered as plain lines.
import { BuildProgress, parseTaskResult } from '../../src/cli/watch/progress';
import { PlainRenderer, summaryText } from '../../src/cli/watch/render';
import { outcomeOf, watchCluster, type ClusterSource } from '../../src/cli/watch/watcher';
import type { ClusterView, EventView } from '../../src/cli/views';

let seq = 0;
const ev = (kind: string, message: string, host?: string, task?: string): EventView => {
  seq += 1;
  return { seq, time: 1_000_000 + seq * 1000, kind, message, host, task };
};

describe('parseTaskResult', () => {
  it('splits the outcome from the task message and treats unknown prefixes as ok', () => {
    expect(parseTaskResult('failed: boom: rc 1')).toEqual({ outcome: 'failed', message: 'boom: rc 1' });
    expect(parseTaskResult('unreachable: node-b unreachable: ssh')).toEqual({ outcome: 'unreachable', message: 'node-b unreachable: ssh' });
    expect(parseTaskResult('ok: failed, ignored: x')).toEqual({ outcome: 'ok', message: 'failed, ignored: x' });
    expect(parseTaskResult('something else')).toEqual({ outcome: 'ok', message: 'something else' });
  });
});

describe('BuildProgress', () => {
  it('counts tasks per host, tracks the current task, and takes total as the most done by any host', () => {
    const p = new BuildProgress(['a', 'b']);
    p.apply(ev('step', 'configure: slurm.yml started'));
    p.apply(ev('task_start', 'started', undefined, 'one'));
    expect(p.hosts.map((h) => h.currentTask)).toEqual(['one', 'one']);
    const [done] = p.apply(ev('task', 'changed: changed', 'a', 'one'));
    expect(done).toMatchObject({ type: 'task-done', host: 'a', outcome: 'changed', done: 1, total: 1 });
    p.apply(ev('task_start', 'started', undefined, 'two'));
    p.apply(ev('task', 'ok: ok', 'a', 'two'));
    const [failed] = p.apply(ev('task', 'failed: bad', 'b', 'one'));
    expect(failed).toMatchObject({ host: 'b', outcome: 'failed', message: 'bad', done: 1, total: 2 });
    expect(p.total).toBe(2);
    expect(p.hosts).toEqual([
      expect.objectContaining({ host: 'a', done: 2, ok: 1, changed: 1, failed: 0, currentTask: 'two' }),
      expect.objectContaining({ host: 'b', done: 1, failed: 1, lastOutcome: 'failed' }),
    ]);
  });

  it('ignores events it has seen, adds hosts first seen in events, and restarts counts on a new playbook run', () => {
    const p = new BuildProgress(['a']);
    const first = ev('task', 'ok: ok', 'a', 'one');
    p.apply(first);
    expect(p.apply(first)).toEqual([]);
    p.apply(ev('task', 'ok: ok', 'late', 'one'));
    expect(p.hosts.map((h) => h.host)).toEqual(['a', 'late']);
    p.apply(ev('step', 'teardown: slurm_teardown.yml started'));
    expect(p.step).toBe('teardown');
    expect(p.total).toBe(0);
  });

  it('records state changes with their reason', () => {
    const p = new BuildProgress();
    expect(p.apply(ev('state', 'FAILED: configure failed: x'))).toEqual([
      expect.objectContaining({ type: 'state', state: 'FAILED', reason: 'configure failed: x' }),
    ]);
    expect(p.stateChanges.map((s) => s.state)).toEqual(['FAILED']);
  });
});

describe('outcomeOf', () => {
  it('ends a build watch on READY (0) or FAILED/TERMINATED (1), a delete watch on TERMINATED (0) or FAILED (1)', () => {
    expect(outcomeOf('build', 'CONFIGURING')).toBeUndefined();
    expect(outcomeOf('build', 'READY')).toBe(0);
    expect(outcomeOf('build', 'FAILED')).toBe(1);
    expect(outcomeOf('build', 'TERMINATED')).toBe(1);
    expect(outcomeOf('build', 'TEARING_DOWN')).toBeUndefined();
    expect(outcomeOf('delete', 'TEARING_DOWN')).toBeUndefined();
    expect(outcomeOf('delete', 'TERMINATED')).toBe(0);
    expect(outcomeOf('delete', 'FAILED')).toBe(1);
  });
});

function cluster(state: string, failures: ClusterView['failures'] = []): ClusterView {
  return {
    clusterId: 'c1', name: 'demo', gatewayId: 'g', kind: 'SLURM', provider: 'STATIC', state,
    nodes: [{ nodeId: 'n1', address: 'a', state: 'RUNNING', roles: [] }, { nodeId: 'n2', address: 'b', state: 'RUNNING', roles: [] }],
    failures, applications: [], createdAt: 1_000_000, updatedAt: 1_000_000,
  };
}

describe('watchCluster', () => {
  it('polls until TERMINATED in delete mode, reporting only the teardown\'s own failures', async () => {
    seq = 0;
    const oldFailure = { step: 'configure', message: 'old', time: 1 };
    const script: { state: string; events: EventView[] }[] = [
      { state: 'TEARING_DOWN', events: [ev('state', 'REQUESTED: recorded'), ev('state', 'FAILED: old'), ev('state', 'TEARING_DOWN: delete requested')] },
      { state: 'TEARING_DOWN', events: [ev('step', 'teardown: slurm_teardown.yml started'), ev('task', 'changed: changed', 'a', 'Stop slurmd')] },
      { state: 'TERMINATED', events: [ev('state', 'TERMINATED: daemons stopped')] },
    ];
    let tick = -1;
    const source: ClusterSource = {
      cluster: async () => {
        tick += 1;
        return { ...cluster(script[Math.min(tick, script.length - 1)].state, [oldFailure]), updatedAt: 0 };
      },
      events: async (after) => script[Math.min(tick, script.length - 1)].events.filter((e) => e.seq > after),
    };
    const lines: string[] = [];
    const sleeps: number[] = [];
    const result = await watchCluster(source, {
      mode: 'delete', intervalMs: 250, renderer: new PlainRenderer({ write: (t: string) => lines.push(t) }),
      sleep: async (ms) => { sleeps.push(ms); },
    });
    expect(result.exitCode).toBe(0);
    expect(sleeps).toEqual([250, 250]);
    expect(result.summary).toMatchObject({ state: 'TERMINATED', failures: [], durationMs: 3000 });
    expect(result.summary.hosts[0]).toMatchObject({ host: 'a', tasks: 1, changed: 1 });
    const text = lines.join('');
    expect(text).toMatch(/a 1\/1 changed "Stop slurmd"/);
    expect(text).toMatch(/cluster c1 "demo" TERMINATED after 3 s/);
  });

  it('summarizes failures with step, host, task and message', () => {
    const text = summaryText({
      clusterId: 'c1', name: 'demo', state: 'FAILED', durationMs: 65_000,
      hosts: [{ host: 'a', tasks: 3, ok: 2, changed: 0, skipped: 0, failed: 1, unreachable: 0 }],
      failures: [{ step: 'configure', host: 'a', task: 'Start slurmd', message: 'boom' }],
    });
    expect(text).toBe([
      'cluster c1 "demo" FAILED after 1 min 05 s',
      'HOST  TASKS  OK  CHANGED  SKIPPED  FAILED  UNREACHABLE',
      'a     3      2   0        0        1       0',
      'failures:',
      '  configure a "Start slurmd": boom',
    ].join('\n'));
  });
});
