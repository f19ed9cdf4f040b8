// What counts as a secret in a playbook run, and how it is kept out of messages and files.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { PlaybookRun } from './runner';

/** Variable names whose values are secrets (extra vars and host vars). */
export const SECRET_NAME = /password|secret|token|key$/i;

export const REDACTED = '[redacted]';

/** Shorter values are not searched for: masking "a" or "yes" everywhere would garble every message. */
const MIN_NEEDLE = 6;

/** Files larger than this are not rewritten by the scrub (artifacts of our plays are far smaller). */
const MAX_SCRUB_BYTES = 64 * 1024 * 1024;

function collectValues(value: unknown, into: Set<string>): void {
  if (typeof value === 'string' || typeof value === 'number') {
    into.add(String(value));
  } else if (Array.isArray(value)) {
    for (const item of value) collectValues(item, into);
  } else if (value !== null && typeof value === 'object') {
    for (const item of Object.values(value)) collectValues(item, into);
  }
}

function collectSecretVars(value: unknown, into: Set<string>): void {
  if (Array.isArray(value)) {
    for (const item of value) collectSecretVars(item, into);
  } else if (value !== null && typeof value === 'object') {
    for (const [name, item] of Object.entries(value)) {
      if (SECRET_NAME.test(name)) collectValues(item, into);
      else collectSecretVars(item, into);
    }
  }
}

/** Replaces secret-named variables (at any depth) by REDACTED, for files kept after the run. */
export function redactVars(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactVars);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [name, item] of Object.entries(value)) out[name] = SECRET_NAME.test(name) ? REDACTED : redactVars(item);
    return out;
  }
  return value;
}

/** The secret strings of one run, longest first so a secret containing another is masked whole. */
export class SecretSet {
  private readonly needles: string[];

  constructor(values: Iterable<string>) {
    const set = new Set<string>();
    for (const v of values) if (v.length >= MIN_NEEDLE) set.add(v);
    this.needles = [...set].sort((a, b) => b.length - a.length);
  }

  static forRun(run: PlaybookRun): SecretSet {
    const values = new Set<string>();
    collectSecretVars(run.extraVars, values);
    for (const host of run.inventory.hosts) collectSecretVars(host.vars ?? {}, values);
    if (run.sshPrivateKey) {
      values.add(run.sshPrivateKey);
      values.add(run.sshPrivateKey.trim());
      // Each base64 line of the key body too, so a tool echoing part of the key is still masked.
      for (const line of run.sshPrivateKey.split('\n')) {
        const trimmed = line.trim();
        if (trimmed.length >= 16 && !trimmed.startsWith('-----')) values.add(trimmed);
      }
    }
    return new SecretSet(values);
  }

  get size(): number {
    return this.needles.length;
  }

  mask(text: string): string {
    let out = text;
    for (const needle of this.needles) if (out.includes(needle)) out = out.split(needle).join(REDACTED);
    return out;
  }

  /**
   * Rewrites, in place, every regular file under `dir` that holds a secret. ansible-runner copies
   * task results (module arguments included) into artifacts/<ident>/stdout and job_events/; a play
   * that echoes a secret without `no_log` would otherwise leave it on disk. Returns the files changed.
   */
  scrubTree(dir: string): string[] {
    const changed: string[] = [];
    if (this.needles.length === 0) return changed;
    const walk = (current: string): void => {
      let entries;
      try {
        entries = readdirSync(current, { withFileTypes: true });
      } catch {
        return;
      }
      for (const entry of entries) {
        const full = path.join(current, entry.name);
        if (entry.isDirectory()) {
          walk(full);
        } else if (entry.isFile()) {
          try {
            if (statSync(full).size > MAX_SCRUB_BYTES) continue;
            const text = readFileSync(full, 'utf8');
            const masked = this.mask(text);
            if (masked !== text) {
              writeFileSync(full, masked);
              changed.push(full);
            }
          } catch {
            // vanished or unreadable: nothing of ours to scrub
          }
        }
        // FIFOs (ansible-runner's ssh_key_data) hold nothing on disk and are removed by name.
      }
    };
    walk(dir);
    return changed;
  }
}
