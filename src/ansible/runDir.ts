// One private data dir per ansible-runner run, and what is left of it afterwards.
//
// Fresh per run because ansible-runner 2.3.1 reads env/cmdline, env/extravars etc. from the private
// data dir on every run: a reused dir would carry the previous run's tags or variables into this one.
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { InvalidRequestError, type FieldError } from '../domain/errors';
import type { AnsibleHost, AnsibleInventory, PlaybookRun } from './runner';
import { redactVars } from './secrets';
import { TEMPLATE_SYNTAX, unsafeExtraVarsYaml } from './unsafeVars';

/** `<UTC timestamp>-<random>`: sorts by creation time, which rotation relies on. */
const RUN_DIR_NAME = /^\d{8}T\d{9}Z-[0-9a-f]{8}$/;

/** A tag goes into env/cmdline, which ansible-runner splits like a shell would: keep it plain. */
const TAG = /^[A-Za-z0-9_.:-]+$/;

const INVENTORY_NAME = /^[A-Za-z0-9_.:-]+$/;

export interface RunDir {
  /** Absolute path of the private data dir. */
  dir: string;
  /** Name of the dir, also the ansible-runner ident (artifacts/<ident>/). */
  ident: string;
  artifactDir: string;
}

/** Checks what ansible-runner would otherwise reject late or misread; names every bad field. */
export function validateRun(run: PlaybookRun, playbookDir: string): void {
  const errors: FieldError[] = [];
  if (!run.playbook || path.basename(run.playbook) !== run.playbook || run.playbook.startsWith('.')) {
    errors.push({ field: 'playbook', message: `must be a file name under the playbook dir, got ${JSON.stringify(run.playbook)}` });
  } else if (!existsSync(path.join(playbookDir, run.playbook))) {
    errors.push({ field: 'playbook', message: `${run.playbook} not found in ${playbookDir}` });
  }
  const names = new Set<string>();
  run.inventory.hosts.forEach((host, i) => {
    if (!INVENTORY_NAME.test(host.name)) errors.push({ field: `inventory.hosts[${i}].name`, message: 'must be a host name or address' });
    if (names.has(host.name)) errors.push({ field: `inventory.hosts[${i}].name`, message: `duplicate host ${host.name}` });
    names.add(host.name);
    if (host.sshPort !== undefined && !(Number.isInteger(host.sshPort) && host.sshPort > 0 && host.sshPort < 65536)) {
      errors.push({ field: `inventory.hosts[${i}].sshPort`, message: 'must be a port number' });
    }
    // Inventory values are not tagged unsafe (connection settings must stay plain strings), so
    // none may carry template syntax; every one comes from a validated field anyway.
    for (const [name, value] of Object.entries({ address: host.address, sshUser: host.sshUser, ...host.vars })) {
      if (typeof value === 'string' && TEMPLATE_SYNTAX.test(value)) {
        errors.push({ field: `inventory.hosts[${i}].${name}`, message: 'must not contain template syntax' });
      }
    }
  });
  if (run.inventory.hosts.length === 0) errors.push({ field: 'inventory.hosts', message: 'at least one host is required' });
  for (const [group, members] of Object.entries(run.inventory.groups)) {
    if (!INVENTORY_NAME.test(group) || group === 'all' || group === 'ungrouped') {
      errors.push({ field: `inventory.groups.${group}`, message: 'invalid group name' });
    }
    for (const m of members) {
      if (!names.has(m)) errors.push({ field: `inventory.groups.${group}`, message: `host ${m} is not in inventory.hosts` });
    }
  }
  (run.tags ?? []).forEach((tag, i) => {
    if (!TAG.test(tag)) errors.push({ field: `tags[${i}]`, message: 'letters, digits and _ . : - only' });
  });
  if (!(Number.isFinite(run.timeoutMs) && run.timeoutMs > 0)) errors.push({ field: 'timeoutMs', message: 'must be > 0' });
  if (errors.length > 0) throw new InvalidRequestError(errors);
}

function hostVars(host: AnsibleHost): Record<string, string | number | boolean> {
  const vars: Record<string, string | number | boolean> = {};
  if (host.connection === 'local') {
    vars.ansible_connection = 'local';
    vars.ansible_python_interpreter = '/usr/bin/python3';
  } else {
    vars.ansible_connection = 'ssh';
    vars.ansible_host = host.address ?? host.name;
    if (host.sshUser !== undefined) vars.ansible_user = host.sshUser;
    if (host.sshPort !== undefined) vars.ansible_port = host.sshPort;
  }
  return { ...vars, ...(host.vars ?? {}) };
}

/** The YAML-free inventory ansible-runner reads from inventory/hosts.json. */
export function inventoryJson(inventory: AnsibleInventory): Record<string, unknown> {
  const hosts: Record<string, unknown> = {};
  for (const host of inventory.hosts) hosts[host.name] = hostVars(host);
  const children: Record<string, unknown> = {};
  for (const [group, members] of Object.entries(inventory.groups)) {
    children[group] = { hosts: Object.fromEntries(members.map((m) => [m, {}])) };
  }
  return { all: { hosts, children } };
}

function writePrivate(file: string, content: string): void {
  writeFileSync(file, content, { mode: 0o600 });
  chmodSync(file, 0o600); // writeFileSync's mode is ignored when the file exists, and umask applies
}

function mkdirPrivate(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
}

export function runsRoot(dataDir: string): string {
  return path.join(dataDir, 'ansible');
}

/** The run's known_hosts file (when the run has known hosts). */
export function knownHostsFile(runDir: Pick<RunDir, 'dir'>): string {
  return path.join(runDir.dir, 'known_hosts');
}

/** Creates `<dataDir>/ansible/<timestamp>-<random>/` with inventory/ and env/ for this run only. */
export function createRunDir(dataDir: string, run: PlaybookRun): RunDir {
  const root = runsRoot(dataDir);
  mkdirPrivate(root);
  const stamp = new Date().toISOString().replace(/[-:.]/g, '');
  const ident = `${stamp}-${randomBytes(4).toString('hex')}`;
  const dir = path.join(root, ident);
  mkdirSync(dir, { mode: 0o700 }); // not recursive: fails rather than share a dir with another run
  chmodSync(dir, 0o700);
  mkdirPrivate(path.join(dir, 'inventory'));
  mkdirPrivate(path.join(dir, 'env'));
  writePrivate(path.join(dir, 'inventory', 'hosts.json'), JSON.stringify(inventoryJson(run.inventory), null, 2));
  writePrivate(path.join(dir, 'env', 'extravars'), unsafeExtraVarsYaml(run.extraVars));
  if (run.tags && run.tags.length > 0) writePrivate(path.join(dir, 'env', 'cmdline'), `--tags ${run.tags.join(',')}`);
  if (run.knownHosts) writePrivate(knownHostsFile({ dir }), run.knownHosts.map((line) => `${line}\n`).join(''));
  // ansible-runner loads the key into an ssh-agent of its own through a FIFO (artifacts/<ident>/
  // ssh_key_data), so it is never an ssh argument; the file here is deleted right after the run.
  if (run.sshPrivateKey) {
    writePrivate(path.join(dir, 'env', 'ssh_key'), run.sshPrivateKey.endsWith('\n') ? run.sshPrivateKey : `${run.sshPrivateKey}\n`);
  }
  return { dir, ident, artifactDir: path.join(dir, 'artifacts', ident) };
}

/**
 * Removes what held secrets for the run's duration; called whatever the outcome. The key file and
 * its FIFO go; the extravars and inventory stay for debugging, with secret-named values redacted.
 */
export function removeSecretFiles(runDir: RunDir, run: PlaybookRun): void {
  for (const f of [path.join(runDir.dir, 'env', 'ssh_key'), path.join(runDir.dir, 'env', 'passwords'),
    path.join(runDir.artifactDir, 'ssh_key_data')]) {
    rmSync(f, { force: true });
  }
  writePrivate(path.join(runDir.dir, 'env', 'extravars'), unsafeExtraVarsYaml(redactVars(run.extraVars) as Record<string, unknown>));
  const redactedInventory = { ...run.inventory, hosts: run.inventory.hosts.map((h) => ({ ...h, vars: redactVars(h.vars ?? {}) as AnsibleHost['vars'] })) };
  writePrivate(path.join(runDir.dir, 'inventory', 'hosts.json'), JSON.stringify(inventoryJson(redactedInventory), null, 2));
}

/**
 * Keeps the newest `keep` run dirs under `<dataDir>/ansible/` and deletes the rest, never one in
 * `active` (a run still going on in this process). Only names we create are touched.
 */
export function rotateRunDirs(dataDir: string, keep: number, active: ReadonlySet<string>): string[] {
  const root = runsRoot(dataDir);
  let names: string[];
  try {
    names = readdirSync(root).filter((n) => RUN_DIR_NAME.test(n)).sort();
  } catch {
    return [];
  }
  const removed: string[] = [];
  const excess = names.length - keep;
  for (const name of names.slice(0, Math.max(0, excess))) {
    if (active.has(name)) continue;
    rmSync(path.join(root, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}
