// Playbook variables as data, never as templates.
//
// Ansible evaluates Jinja2 in every string variable when a task uses it, on the control node (this
// machine), before anything reaches a remote host: a caller's `{{ lookup('pipe', 'id') }}` in an
// install command or an archive URL would run as the service. Ansible's own answer is the
// `!unsafe` YAML tag: a value so tagged is never templated, only substituted as it is. ansible-runner
// hands env/extravars to ansible-playbook as `-e @file`, which Ansible reads with its YAML loader, so
// writing the extra vars as YAML with every string tagged makes every caller value inert, whatever
// call or provider put it there. Role defaults that build on them ("{{ app_root }}/{{ app_name }}")
// still work: the unsafe value is inserted literally and not evaluated again.

/** A variable name Ansible accepts and that needs no quoting. */
const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Jinja2's statement, expression and comment openers. */
export const TEMPLATE_SYNTAX = /\{\{|\{%|\{#/;

/**
 * The extra vars as a YAML flow mapping with every string scalar tagged `!unsafe`, at any depth.
 * Strings are double-quoted with every character outside printable ASCII escaped, so nothing in a
 * value (newlines, quotes, control characters YAML forbids raw) can change the document's shape.
 */
export function unsafeExtraVarsYaml(vars: Record<string, unknown>): string {
  for (const name of Object.keys(vars)) {
    if (!VAR_NAME.test(name)) throw new Error(`extra var name ${JSON.stringify(name)} is not an Ansible variable name`);
  }
  return `${emit(vars)}\n`;
}

function emit(value: unknown): string {
  if (typeof value === 'string') return `!unsafe ${quote(value)}`;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`extra var value ${value} is not a finite number`);
    return String(value);
  }
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return `[${value.map(emit).join(', ')}]`;
  if (typeof value === 'object') {
    // Keys are quoted but not tagged: a mapping key is never templated.
    return `{${Object.entries(value).map(([k, v]) => `${quote(k)}: ${emit(v)}`).join(', ')}}`;
  }
  throw new Error(`extra var of type ${typeof value} cannot be passed to Ansible`);
}

/** A YAML double-quoted scalar holding exactly `text`. */
function quote(text: string): string {
  let out = '"';
  for (const char of text) {
    const code = char.codePointAt(0) as number;
    if (char === '"' || char === '\\') out += `\\${char}`;
    else if (code >= 0x20 && code < 0x7f) out += char;
    else if (code <= 0xffff) out += `\\u${code.toString(16).padStart(4, '0')}`;
    else out += `\\U${code.toString(16).padStart(8, '0')}`;
  }
  return `${out}"`;
}
