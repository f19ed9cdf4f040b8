// airavata-ms as an operator runs it: the built CLI (dist/src/cli/main.js) in its own process
// against the real service (API only: BACKGROUND_WORKERS=off, so clusters stay REQUESTED and no
// Slurm is touched). Asserts stdout, --json, stderr's one line and the documented exit codes. The
// watcher is fed a build by writing its events, failure and FAILED state into the test database.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { decodeJwt } from 'jose';
import { mintHs256Token } from '../../src/auth/mintToken';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { freePort, ROOT, startServiceProcess, type ServiceProcess } from '../support/serviceProcess';
import { TEST_SECRET } from '../support/tokens';

const CLI = path.join(ROOT, 'dist/src/cli/main.js');
const GATEWAY = 'gw-cli';

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface LiveCli {
  child: ChildProcess;
  stdout(): string;
  done: Promise<CliRun>;
}

let database: TestDatabase;
let service: ServiceProcess;
let workDir: string;

function cliEnv(extra: Record<string, string | undefined> = {}): Record<string, string> {
  const env: Record<string, string | undefined> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    THRIFT_PORT: String(service.port),
    AUTH_HS256_SECRET: TEST_SECRET,
    AIRAVATA_MS_GATEWAY: GATEWAY,
    ...extra,
  };
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
}

function startCli(args: readonly string[], env: Record<string, string> = cliEnv()): LiveCli {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: workDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
  child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  const done = new Promise<CliRun>((resolve) => {
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  return { child, stdout: () => stdout, done };
}

function cli(args: readonly string[], env?: Record<string, string>): Promise<CliRun> {
  return startCli(args, env).done;
}

function json<T>(run: CliRun): T {
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  return JSON.parse(run.stdout) as T;
}

/** stderr is exactly one line, prefixed like every error of the CLI. */
function oneErrorLine(run: CliRun): string {
  const lines = run.stderr.split('\n').filter((l) => l !== '');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^airavata-ms: /);
  return lines[0];
}

async function until(what: string, check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function writeSpec(name: string, text: string): string {
  const file = path.join(workDir, name);
  writeFileSync(file, text);
  return file;
}

const CLUSTER_YAML = `
name: cli-demo
kind: SLURM
provider: STATIC
hosts:
  - address: node-a
    sshUser: root
    sshPort: 22
    roles: [controller, worker]
  - address: node-b
    roles: [worker]
clusterOptions:
  slurm_min_job_age: 300
`;

async function createCluster(name: string): Promise<string> {
  const file = writeSpec(`${name}.yaml`, CLUSTER_YAML.replace('cli-demo', name));
  const run = await cli(['clusters', 'create', '-f', file]);
  expect(run).toMatchObject({ code: 0, stderr: '' });
  return run.stdout.trim();
}

beforeAll(async () => {
  database = await createTestDatabase();
  workDir = mkdtempSync(path.join(tmpdir(), 'ms-cli-'));
  service = await startServiceProcess({
    DATABASE_URL: database.url, THRIFT_PORT: '0', AUTH_HS256_SECRET: TEST_SECRET,
    DATA_DIR: mkdtempSync(path.join(tmpdir(), 'ms-cli-data-')), BACKGROUND_WORKERS: 'off',
  });
});

afterAll(async () => {
  service?.child.kill('SIGTERM');
  if (service) await service.exited;
  await database?.drop();
});

describe('airavata-ms token and help', () => {
  it('mints a token for the gateway and user, plain and --json', async () => {
    const plain = await cli(['token', '--gateway', GATEWAY, '--user', 'alice']);
    expect(plain.code).toBe(0);
    const token = plain.stdout.trim();
    expect(plain.stdout).toBe(`${token}\n`);
    expect(decodeJwt(token)).toMatchObject({ gatewayID: GATEWAY, userName: 'alice' });

    const asJson = json<{ accessToken: string; claimsMap: Record<string, string> }>(
      await cli(['token', '--gateway', GATEWAY, '--user', 'alice', '--ttl', '60', '--json']));
    expect(asJson.claimsMap).toEqual({ gatewayID: GATEWAY, userName: 'alice' });
    const claims = decodeJwt(asJson.accessToken);
    expect((claims.exp ?? 0) - (claims.iat ?? 0)).toBe(60);
  });

  it('documents the exit codes in --help and exits 2 on a bad flag with one line', async () => {
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Exit codes:[\s\S]*2 {2}usage[\s\S]*3 {2}not found[\s\S]*4 {2}authorization[\s\S]*5 {2}cannot reach/);
    const bad = await cli(['jobs', 'list', '--limit', 'lots']);
    expect(bad.code).toBe(2);
    expect(oneErrorLine(bad)).toContain("'--limit <n>' argument 'lots' is invalid");
  });
});

describe('airavata-ms clusters', () => {
  it('creates a cluster from YAML, then lists, shows and reads its events', async () => {
    const id = await createCluster('cli-demo');
    expect(id).toMatch(/^[0-9a-f-]{36}$/);

    const listed = json<{ clusterId: string; state: string; nodes: { address: string }[] }[]>(
      await cli(['clusters', 'list', '--json']));
    const mine = listed.find((c) => c.clusterId === id);
    expect(mine).toMatchObject({ state: 'REQUESTED' });
    expect(mine?.nodes.map((n) => n.address)).toEqual(['node-a', 'node-b']);

    const shown = json<Record<string, unknown>>(await cli(['clusters', 'show', id, '--json']));
    expect(shown).toMatchObject({
      clusterId: id, name: 'cli-demo', gatewayId: GATEWAY, kind: 'SLURM', provider: 'STATIC', state: 'REQUESTED',
    });
    const text = await cli(['clusters', 'show', id]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^state: +REQUESTED$/m);
    expect(text.stdout).toMatch(/^ +node-a +REQUESTED +controller,worker /m);

    const events = json<{ seq: number; kind: string; message: string }[]>(await cli(['clusters', 'events', id, '--json']));
    expect(events[0]).toMatchObject({ kind: 'state', message: 'REQUESTED: cluster recorded' });
    const after = json<unknown[]>(await cli(['clusters', 'events', id, '--after', String(events.at(-1)?.seq), '--json']));
    expect(after).toEqual([]);
  });

  it('refuses a bad spec file with exit 2 and one line naming each bad field, creating nothing', async () => {
    const before = await database.db('clusters').count<{ count: string }[]>('* as count');
    const local = writeSpec('bad.yaml', 'name: bad\nkind: SLURMM\nprovider: STATIC\nhosts:\n  - address: node-a\n    sshPort: twenty-two\n');
    const run = await cli(['clusters', 'create', '-f', local]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    const line = oneErrorLine(run);
    expect(line).toContain('bad.yaml');
    expect(line).toContain('kind: unknown value "SLURMM"; expected one of SLURM, MESOS_MARATHON');
    expect(line).toContain('hosts[0].sshPort: must be a whole number');

    // Well-formed but invalid for the service: its InvalidRequestException names the field.
    const remote = writeSpec('bad-host.json', JSON.stringify({ name: 'bad', kind: 'SLURM', provider: 'STATIC', hosts: [{ address: 'no such host!' }] }));
    const refused = await cli(['clusters', 'create', '-f', remote]);
    expect(refused.code).toBe(2);
    expect(oneErrorLine(refused)).toMatch(/^airavata-ms: invalid request: spec\.hosts\[0\]\.address: "no such host!" is not a host name/);

    const missing = await cli(['clusters', 'create', '-f', path.join(workDir, 'absent.yaml')]);
    expect(missing.code).toBe(2);
    expect(oneErrorLine(missing)).toMatch(/cannot read spec file .*absent\.yaml: ENOENT/);
    const after = await database.db('clusters').count<{ count: string }[]>('* as count');
    expect(after[0].count).toBe(before[0].count);
  });

  it('refuses a scale beyond the worker pool (exit 2) and deletes (TEARING_DOWN)', async () => {
    const id = await createCluster('cli-delete');
    const scale = await cli(['clusters', 'scale', id, '3']);
    expect(scale.code).toBe(2);
    expect(oneErrorLine(scale)).toContain('workerCount');
    const deleted = await cli(['clusters', 'delete', id]);
    expect(deleted).toMatchObject({ code: 0, stdout: `cluster ${id}: TEARING_DOWN\n`, stderr: '' });
    const key = await cli(['clusters', 'ssh-key']);
    expect(key.code).toBe(0);
    expect(key.stdout).toMatch(/^ecdsa-sha2-nistp256 \S+/);
  });
});

describe('airavata-ms jobs', () => {
  it('submits "-- /bin/echo hi", then shows, lists, reads logs, cancels and waits', async () => {
    const submitted = await cli(['jobs', 'submit', '--name', 'hello', '--env', 'GREETING=hi', '--walltime', '5', '--', '/bin/echo', 'hi']);
    expect(submitted).toMatchObject({ code: 0, stderr: '' });
    const id = submitted.stdout.trim();
    expect(id).toMatch(/^[0-9a-f-]{36}$/);

    const shown = json<{ jobId: string; jobName: string; state: string; description: string; statuses: unknown[] }>(
      await cli(['jobs', 'show', id, '--json']));
    expect(shown).toMatchObject({ jobId: id, jobName: 'hello', state: 'SUBMITTED' });
    expect(shown.description).toContain('["/bin/echo","hi"]');
    expect(shown.description).toContain('5 min');
    const [row] = await database.db('jobs').where({ id }).select('spec');
    expect((row as { spec: { environment: Record<string, string> } }).spec.environment).toEqual({ GREETING: 'hi' });

    const listed = json<{ jobId: string }[]>(await cli(['jobs', 'list', '--json', '--limit', '10']));
    expect(listed.map((j) => j.jobId)).toContain(id);
    const table = await cli(['jobs', 'list']);
    expect(table.stdout).toMatch(new RegExp(`^${id} +hello +SUBMITTED `, 'm'));

    // No output is kept until the job ends: nothing on stdout, a note on stderr, exit 0.
    const logs = await cli(['jobs', 'logs', id]);
    expect(logs).toMatchObject({ code: 0, stdout: '' });
    expect(logs.stderr).toContain('has no stdout yet (SUBMITTED)');
    expect(json<{ text: string | null; stream: string }>(await cli(['jobs', 'logs', id, '--stderr', '--json'])))
      .toEqual({ jobId: id, state: 'SUBMITTED', stream: 'stderr', text: null });

    const canceled = await cli(['jobs', 'cancel', id]);
    expect(canceled).toMatchObject({ code: 0, stdout: `job ${id}: CANCELED\n` });
    const waited = await cli(['jobs', 'wait', id, '--json']);
    expect(waited.code).toBe(1);
    expect((JSON.parse(waited.stdout) as { state: string }).state).toBe('CANCELED');
    expect(oneErrorLine(waited)).toContain(`job "${id}" ended CANCELED`);
  });

  it('passes the service\'s InvalidRequestException on as exit 2', async () => {
    const run = await cli(['jobs', 'submit', '--name', 'nothing']);
    expect(run.code).toBe(2);
    expect(oneErrorLine(run)).toMatch(/^airavata-ms: invalid request: spec\.command: must not be empty/);
  });

  it('exits 3 for a job the gateway does not have', async () => {
    const run = await cli(['jobs', 'show', 'no-such-job']);
    expect(run).toMatchObject({ code: 3, stdout: '' });
    expect(oneErrorLine(run)).toBe('airavata-ms: not found: job "no-such-job"');
  });
});

describe('airavata-ms credentials and reachability', () => {
  it('calls with a given token, taking the gateway from its claim', async () => {
    const token = await mintHs256Token({ secret: TEST_SECRET, gatewayId: 'gw-other', userName: 'bob', ttlSeconds: 60 });
    const env = cliEnv({ AIRAVATA_MS_GATEWAY: undefined, AUTH_HS256_SECRET: undefined });
    const run = await cli(['clusters', 'list', '--json', '--token', token], env);
    expect(json<unknown[]>(run)).toEqual([]); // gw-other has none; gw-cli's clusters are not shown
  });

  it('exits 4 for a forged token and keeps the token out of the error line', async () => {
    const forged = await mintHs256Token({ secret: 'not-the-secret-of-the-service-0123456789', gatewayId: GATEWAY, userName: 'mallory', ttlSeconds: 60 });
    const run = await cli(['jobs', 'list'], cliEnv({ AIRAVATA_MS_TOKEN: forged }));
    expect(run).toMatchObject({ code: 4, stdout: '' });
    const line = oneErrorLine(run);
    expect(line).toMatch(/^airavata-ms: not authorized: the access token was rejected/);
    expect(run.stderr).not.toContain(forged.split('.')[2]);
  });

  it('exits 5 when nothing listens on the port', async () => {
    const dead = await freePort();
    const run = await cli(['clusters', 'list', '--port', String(dead)]);
    expect(run).toMatchObject({ code: 5, stdout: '' });
    expect(oneErrorLine(run)).toBe(`airavata-ms: cannot connect to 127.0.0.1:${dead}: ECONNREFUSED`);
  });
});

describe('airavata-ms clusters watch', () => {
  it('follows a build as it happens: per-host progress, the failure, a summary and exit 1', async () => {
    const id = await createCluster('cli-watched');
    const t0 = Date.now();
    let offset = 0;
    const event = (kind: string, message: string, host?: string, task?: string) => ({
      cluster_id: id, time: t0 + (offset += 1000), kind, message, host: host ?? null, task: task ?? null,
    });

    const watch = startCli(['clusters', 'watch', id, '--interval', '0.2']);
    await until('the watcher to start', () => watch.stdout().includes(`watching cluster ${id}`));

    // First half of a build, as the workflow writes it.
    await database.db('cluster_events').insert([
      event('state', 'PROVISIONING: provisioning STATIC resources'),
      event('state', 'CONFIGURING: running the Slurm playbook'),
      event('step', 'configure: slurm.yml started'),
      event('task_start', 'started', undefined, 'Install munge'),
      event('task', 'ok: ok', 'node-a', 'Install munge'),
      event('task', 'changed: changed', 'node-b', 'Install munge'),
    ]);
    await until('the first task results', () => /node-b 1\/1 changed "Install munge"/.test(watch.stdout()));
    expect(watch.child.exitCode).toBeNull(); // still following: the cluster is only CONFIGURING

    // The second task fails on node-b; the cluster goes FAILED with the failure, in one transaction.
    await database.db.transaction(async (tx) => {
      await tx('cluster_events').insert([
        event('task_start', 'started', undefined, 'Start slurmd'),
        event('task', 'ok: ok', 'node-a', 'Start slurmd'),
        event('task', 'failed: slurmd: fatal: bad config', 'node-b', 'Start slurmd'),
        event('state', 'FAILED: configure failed at task "Start slurmd" on node-b: slurmd: fatal: bad config'),
      ]);
      await tx('cluster_failures').insert({
        cluster_id: id, step: 'configure', host: 'node-b', task: 'Start slurmd', message: 'slurmd: fatal: bad config', time: t0 + offset,
      });
      await tx('clusters').where({ id }).update({
        state: 'FAILED', state_reason: 'configure failed at task "Start slurmd" on node-b: slurmd: fatal: bad config', updated_at: t0 + offset,
      });
    });

    const run = await watch.done;
    expect(run.code).toBe(1);
    const out = run.stdout;
    // Plain lines (stdout is not a terminal), in the order things happened.
    const order = [
      'state PROVISIONING', 'state CONFIGURING', 'step configure: slurm.yml started', 'task "Install munge"',
      'node-a 1/1 ok "Install munge"', 'node-b 1/1 changed "Install munge"', 'task "Start slurmd"',
      'node-a 2/2 ok "Start slurmd"', 'node-b 2/2 FAILED "Start slurmd": slurmd: fatal: bad config', 'state FAILED',
    ].map((text) => out.indexOf(text));
    expect(order.every((at) => at >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(out).not.toMatch(/\x1b\[/); // no cursor movement in a pipe
    // The summary: state, duration, per-host counts, the failure with step/host/task/message.
    expect(out).toMatch(new RegExp(`^cluster ${id} "cli-watched" FAILED after \\d+ s: configure failed`, 'm'));
    expect(out).toMatch(/^node-a +2 +2 +0 +0 +0 +0$/m);
    expect(out).toMatch(/^node-b +2 +0 +1 +0 +1 +0$/m);
    expect(out).toMatch(/^failures:\n {2}configure node-b "Start slurmd": slurmd: fatal: bad config$/m);
    expect(oneErrorLine(run)).toBe(`airavata-ms: cluster "${id}" FAILED: configure failed at task "Start slurmd" on node-b: slurmd: fatal: bad config`);

    // Watching it again replays the whole build at once; --json prints the summary alone.
    const again = await cli(['clusters', 'watch', id, '--json']);
    expect(again.code).toBe(1);
    const summary = JSON.parse(again.stdout) as {
      state: string; durationMs: number; hosts: { host: string; tasks: number; failed: number }[];
      failures: { step: string; host: string; task: string; message: string }[];
    };
    expect(summary.state).toBe('FAILED');
    expect(summary.durationMs).toBeGreaterThanOrEqual(9000);
    expect(summary.hosts).toEqual([
      expect.objectContaining({ host: 'node-a', tasks: 2, failed: 0 }),
      expect.objectContaining({ host: 'node-b', tasks: 2, failed: 1 }),
    ]);
    expect(summary.failures).toEqual([{ step: 'configure', host: 'node-b', task: 'Start slurmd', message: 'slurmd: fatal: bad config', time: t0 + offset }]);
  });

  it('create --watch prints the id, then follows to READY and exits 0', async () => {
    const file = writeSpec('ready.yaml', CLUSTER_YAML.replace('cli-demo', 'cli-ready'));
    const watch = startCli(['clusters', 'create', '-f', file, '--watch', '--interval', '0.2']);
    await until('the watcher to start', () => /watching cluster/.test(watch.stdout()));
    const id = watch.stdout().split('\n')[0];
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    await database.db.transaction(async (tx) => {
      await tx('cluster_events').insert({ cluster_id: id, time: Date.now(), kind: 'state', message: 'READY: every host configured and verified' });
      await tx('clusters').where({ id }).update({ state: 'READY', state_reason: 'every host configured and verified', updated_at: Date.now() });
    });
    const run = await watch.done;
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toMatch(new RegExp(`^cluster ${id} "cli-ready" READY after \\d+ s`, 'm'));
  });

  it('delete --wait follows the teardown to TERMINATED and exits 0', async () => {
    const id = await createCluster('cli-teardown');
    const wait = startCli(['clusters', 'delete', id, '--wait', '--interval', '0.2']);
    await until('the watcher to start', () => wait.stdout().includes(`watching cluster ${id} "cli-teardown" (TEARING_DOWN)`));
    expect(wait.child.exitCode).toBeNull();
    await database.db.transaction(async (tx) => {
      await tx('cluster_events').insert({ cluster_id: id, time: Date.now(), kind: 'state', message: 'TERMINATED: nothing had been installed' });
      await tx('clusters').where({ id }).update({ state: 'TERMINATED', state_reason: 'nothing had been installed', updated_at: Date.now() });
    });
    const run = await wait.done;
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toMatch(new RegExp(`^cluster ${id} "cli-teardown" TERMINATED after \\d+ s: nothing had been installed$`, 'm'));
  });
});
