// AnsibleRunner on the ansible-runner CLI: one subprocess and one fresh private data dir per run,
// task events streamed from `ansible-runner run --json` as they happen.
//
// Subprocess discipline: argv arrays only; the child leads its own process group and a
// cancel or timeout kills that group and every session its descendants made (see processTree.ts);
// secrets go to 0600 files in the run dir, never argv, env or logs, and are removed after the run.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { execa } from 'execa';
import type { Logger } from '../log';
import { EventTranslator, parseEventLine } from './events';
import { ProcessTree } from './processTree';
import { createRunDir, knownHostsFile, removeSecretFiles, rotateRunDirs, validateRun, type RunDir } from './runDir';
import { shellQuote } from '../schedulers/slurm/shellQuote';
import type { AnsibleEvent, AnsibleFailure, AnsibleRunner, PlaybookResult, PlaybookRun } from './runner';
import { SecretSet } from './secrets';

export interface AnsibleRunnerBridgeOptions {
  /** Runs go under `<dataDir>/ansible/<timestamp>-<random>/`. */
  dataDir: string;
  /** Absolute path of our playbooks/ (the ansible-runner project dir, so its ansible.cfg applies). */
  playbookDir: string;
  log: Logger;
  /** Run dirs kept under `<dataDir>/ansible/` after each run, oldest deleted first. Default 20. */
  keepRuns?: number;
  /** The ansible-runner executable. Default "ansible-runner" (on PATH). */
  ansibleRunner?: string;
  /** Between SIGTERM (ansible-runner cancels its play) and SIGKILL of everything left. Default 3000. */
  killGraceMs?: number;
}

type StopReason = 'canceled' | 'timeout';

/** How the ansible-runner process went, beyond what its artifacts say. */
interface ExecOutcome {
  stopReason?: StopReason;
  exitCode?: number;
  /** Set when ansible-runner could not be started at all (e.g. not installed). */
  startError?: string;
  /** First lines of plain (non-event) output, e.g. ansible-playbook's "ERROR! ...". */
  outputHead: string[];
  stderrTail: string[];
  lastTask?: string;
}

/**
 * The environment ansible-runner gets: an allow-list, not ours. ansible-runner writes its whole
 * environment into artifacts/<ident>/command, and the service's holds secrets (AUTH_HS256_SECRET,
 * DATABASE_URL).
 */
function childEnv(controlDir: string, knownHosts?: string): Record<string, string> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
    LANG: process.env.LANG ?? 'C.UTF-8',
    // Python block-buffers a piped stdout: without this, events would arrive in bursts, not as they happen.
    PYTHONUNBUFFERED: '1',
    ANSIBLE_NOCOLOR: '1',
    // OpenSSH's shared master connections live here, one directory per run: a run never rides on
    // a connection another run (another gateway, another key, other host key checks) opened.
    // Short, under the temp dir: the socket path must fit a Unix socket's 108 bytes.
    ANSIBLE_SSH_CONTROL_PATH_DIR: controlDir,
  };
  if (knownHosts !== undefined) {
    // ansible-runner turns host key checking off unless told otherwise; with the service's pins,
    // OpenSSH refuses any host whose key is not the pinned one. The first three options are
    // Ansible's own defaults, which setting ANSIBLE_SSH_ARGS would otherwise drop.
    env.ANSIBLE_HOST_KEY_CHECKING = 'True';
    // Ansible splits this like a shell would: the file's path is quoted.
    env.ANSIBLE_SSH_ARGS = `-C -o ControlMaster=auto -o ControlPersist=60s -o StrictHostKeyChecking=yes -o ${shellQuote(`UserKnownHostsFile=${knownHosts}`)}`;
  }
  for (const name of ['LC_ALL', 'TMPDIR', 'USER', 'LOGNAME', 'SSH_AUTH_SOCK'] as const) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  return env;
}

function readTrimmed(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

export class AnsibleRunnerBridge implements AnsibleRunner {
  private readonly dataDir: string;
  private readonly playbookDir: string;
  private readonly log: Logger;
  private readonly keepRuns: number;
  private readonly binary: string;
  private readonly killGraceMs: number;
  /** Idents of runs in progress in this process: rotation never deletes them. */
  private readonly active = new Set<string>();

  constructor(options: AnsibleRunnerBridgeOptions) {
    if (!path.isAbsolute(options.playbookDir)) throw new Error(`playbookDir must be absolute, got ${options.playbookDir}`);
    if (!existsSync(options.playbookDir)) throw new Error(`playbookDir ${options.playbookDir} does not exist`);
    const keepRuns = options.keepRuns ?? 20;
    if (!Number.isInteger(keepRuns) || keepRuns < 0) throw new Error(`keepRuns must be an integer >= 0, got ${keepRuns}`);
    this.dataDir = path.resolve(options.dataDir);
    this.playbookDir = options.playbookDir;
    this.log = options.log;
    this.keepRuns = keepRuns;
    this.binary = options.ansibleRunner ?? 'ansible-runner';
    this.killGraceMs = options.killGraceMs ?? 3000;
  }

  async run(run: PlaybookRun): Promise<PlaybookResult> {
    validateRun(run, this.playbookDir);
    const started = Date.now();
    if (run.signal?.aborted) {
      return { status: 'canceled', rc: -1, failures: [], hostStats: {}, changed: 0, durationMs: 0 };
    }
    const secrets = SecretSet.forRun(run);
    const runDir = createRunDir(this.dataDir, run);
    const logCtx = { playbook: run.playbook, ident: runDir.ident };
    this.active.add(runDir.ident);
    this.log.info({ ...logCtx, dir: runDir.dir, hosts: run.inventory.hosts.map((h) => h.name), tags: run.tags ?? [] },
      'ansible run started');
    const translator = new EventTranslator(secrets);
    const controlDir = mkdtempSync(path.join(tmpdir(), 'ms-cp-'));
    let outcome: ExecOutcome | undefined;
    try {
      outcome = await this.execute(run, runDir, translator, secrets, controlDir);
    } finally {
      rmSync(controlDir, { recursive: true, force: true });
      // Whatever happened (even a throwing onEvent), no secret outlives the run on disk.
      try {
        removeSecretFiles(runDir, run);
        const scrubbed = secrets.scrubTree(runDir.dir);
        if (scrubbed.length > 0) this.log.warn({ ...logCtx, files: scrubbed.length }, 'secrets found in ansible artifacts were redacted');
      } finally {
        this.active.delete(runDir.ident);
        const removed = rotateRunDirs(this.dataDir, this.keepRuns, this.active);
        if (removed.length > 0) this.log.debug({ removed: removed.length }, 'old ansible run dirs removed');
      }
    }
    const result = this.result(run, runDir, translator, outcome, started);
    this.log.info({ ...logCtx, status: result.status, rc: result.rc, changed: result.changed,
      failures: result.failures.length, durationMs: result.durationMs }, 'ansible run ended');
    return result;
  }

  /** Spawns ansible-runner, streams its events to onEvent and stops it on abort or timeout. */
  private async execute(run: PlaybookRun, runDir: RunDir, translator: EventTranslator, secrets: SecretSet, controlDir: string): Promise<ExecOutcome> {
    const args = ['run', runDir.dir, '-p', run.playbook, '--project-dir', this.playbookDir, '-i', runDir.ident, '--json'];
    const child = execa(this.binary, args, {
      cwd: runDir.dir, env: childEnv(controlDir, run.knownHosts ? knownHostsFile(runDir) : undefined), extendEnv: false, detached: true, cleanup: false,
      stdin: 'ignore', stdout: 'pipe', stderr: 'pipe', buffer: false, reject: false,
    });
    const logCtx = { playbook: run.playbook, ident: runDir.ident };
    const tree = child.pid !== undefined ? new ProcessTree(child.pid) : undefined;
    let stopReason: StopReason | undefined;
    let graceTimer: NodeJS.Timeout | undefined;
    let exited = false;
    child.once('exit', () => { exited = true; });
    const stop = (reason: StopReason): void => {
      // After exit the run is over: a late timer must not relabel a finished run, nor signal a reused pid.
      if (stopReason || !tree || exited) return;
      stopReason = reason;
      this.log.info({ ...logCtx, reason }, 'stopping ansible run');
      tree.snapshot();
      tree.signalRootGroup('SIGTERM');
      graceTimer = setTimeout(() => tree.killAll(), this.killGraceMs);
    };
    const timeout = setTimeout(() => stop('timeout'), run.timeoutMs);
    const onAbort = (): void => stop('canceled');
    run.signal?.addEventListener('abort', onAbort, { once: true });

    const stderrTail: string[] = [];
    const stderrDone = (async () => {
      if (!child.stderr) return;
      for await (const line of createInterface({ input: child.stderr, crlfDelay: Infinity })) {
        const masked = secrets.mask(line);
        if (!masked.trim()) continue;
        stderrTail.push(masked);
        if (stderrTail.length > 10) stderrTail.shift();
        this.log.debug({ ...logCtx, line: masked }, 'ansible-runner stderr');
      }
    })();

    const outputHead: string[] = [];
    let sessionsSeen = false;
    let sinkError: unknown;
    let lastTask: string | undefined;
    try {
      if (child.stdout) {
        for await (const line of createInterface({ input: child.stdout, crlfDelay: Infinity })) {
          const raw = parseEventLine(line);
          if (!raw) {
            // Not an event: ansible-playbook's own errors (e.g. "ERROR! couldn't resolve module")
            // come through --json as plain text. The first lines say what went wrong.
            const masked = secrets.mask(line).trim();
            if (masked && outputHead.length < 10 && !masked.startsWith('Identity added:')) outputHead.push(masked);
            continue;
          }
          // ansible-playbook runs in a session of its own (pexpect): remembered while the play runs,
          // so that a runner killed from outside (OOM killer, operator) can still be swept after.
          if (!sessionsSeen || raw.event === 'playbook_on_task_start') {
            tree?.snapshot();
            sessionsSeen = true;
          }
          const event = translator.translate(raw);
          if (!event) continue;
          if (event.kind === 'task_start') lastTask = event.task;
          if (event.kind === 'task_failed' || event.kind === 'host_unreachable') {
            this.log.warn({ ...logCtx, host: event.host, task: event.task, message: event.message }, `ansible ${event.kind}`);
          }
          await this.deliver(run, event);
        }
      }
    } catch (err) {
      // onEvent failed: nobody would hear the rest, so the play stops rather than go on unobserved.
      sinkError = err;
      stop('canceled');
      child.stdout?.resume();
    }
    const result = await child;
    await stderrDone.catch(() => undefined);
    clearTimeout(timeout);
    run.signal?.removeEventListener('abort', onAbort);
    if (stopReason && tree) {
      clearTimeout(graceTimer);
      // ansible-runner is gone; sweep whatever of its play it did not take with it.
      const stragglers = tree.killAll();
      if (stragglers > 0) this.log.debug({ ...logCtx, stragglers }, 'killed leftover ansible processes');
    } else if (tree && result.signal !== undefined) {
      // Killed by someone else: its play lives on, reparented, and would go on changing the hosts
      // while the run is reported over (and a retry or a teardown runs beside it).
      const stragglers = tree.killAll();
      this.log.warn({ ...logCtx, signal: result.signal, stragglers }, 'ansible-runner was killed by a signal; killed what was left of its play');
    }
    if (sinkError !== undefined) throw sinkError;
    const startError = result.failed && result.exitCode === undefined && !stopReason
      ? secrets.mask(result.originalMessage || result.shortMessage || 'ansible-runner did not start') : undefined;
    return { stopReason, exitCode: result.exitCode, startError, outputHead, stderrTail, lastTask };
  }

  private async deliver(run: PlaybookRun, event: AnsibleEvent): Promise<void> {
    if (run.onEvent) await run.onEvent(event);
  }

  private result(run: PlaybookRun, runDir: RunDir, translator: EventTranslator,
    outcome: ExecOutcome | undefined, started: number): PlaybookResult {
    const durationMs = Date.now() - started;
    const statusFile = readTrimmed(path.join(runDir.artifactDir, 'status'));
    const rcText = readTrimmed(path.join(runDir.artifactDir, 'rc'));
    const rc = rcText !== undefined && /^-?\d+$/.test(rcText) ? Number(rcText) : (outcome?.exitCode ?? -1);
    const failures: AnsibleFailure[] = [...translator.failures];
    let status: PlaybookResult['status'];
    if (outcome?.stopReason === 'timeout') {
      status = 'timeout';
      failures.push({ task: outcome.lastTask, unreachable: false,
        message: `timed out after ${run.timeoutMs} ms${outcome.lastTask ? ` during task ${outcome.lastTask}` : ''}` });
    } else if (outcome?.stopReason === 'canceled' || statusFile === 'canceled') {
      status = 'canceled';
    } else if (statusFile === 'successful' && failures.length === 0) {
      status = 'successful';
    } else {
      status = 'failed';
      if (failures.length === 0) {
        // Failed before or outside any task (bad playbook, ansible-runner error): say what it printed.
        const said = outcome?.startError ? [outcome.startError]
          : [...(outcome?.outputHead ?? []), ...translator.verboseTail, ...(outcome?.stderrTail ?? [])];
        const detail = said.join(' ').replace(/\s+/g, ' ').trim().slice(0, 500);
        failures.push({ unreachable: false, message: `ansible-runner ${statusFile ?? 'failed'} (rc ${rc})${detail ? `: ${detail}` : ''}` });
      }
    }
    return { status, rc, failures, hostStats: translator.hostStats, changed: translator.changed, durationMs };
  }
}
