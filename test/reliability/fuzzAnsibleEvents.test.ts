// Fuzzing the Ansible event reader: the lines `ansible-runner run --json` prints (parseEventLine)
// and their translation into our events and failures (EventTranslator). Events are built the way
// ansible-runner writes them (event, counter, created, stdout, event_data with play, task, host,
// res, and the per-host counters of playbook_on_stats), then given wrong types, NUL bytes, secrets,
// prototype keys, deep nesting and MBs of text. What reaches the cluster's events and failures
// (Postgres text columns) must be a string without NUL, a message within MESSAGE_LIMIT, and no
// secret of the run anywhere; counters must be numbers; nothing may throw.
import { EventTranslator, failureMessage, MESSAGE_LIMIT, parseEventLine } from '../../src/ansible/events';
import type { AnsibleEvent, AnsibleEventKind } from '../../src/ansible/runner';
import { SecretSet } from '../../src/ansible/secrets';
import { anyNumber, anyUnits, fuzzSettings, hostileString, mutate, PROTOTYPE_KEYS, text, type Rng } from './support/generators';
import { Fuzzer, liveHeapMb, type Case } from './support/harness';

const FILE = 'test/reliability/fuzzAnsibleEvents.test.ts';
const settings = fuzzSettings(FILE, 1500);
const fuzzer = new Fuzzer(settings, FILE);
const N = settings.iterations;
const SIZES = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048].map((k) => k * 1024);

const KINDS: readonly AnsibleEventKind[] = ['play_start', 'task_start', 'task_ok', 'task_changed', 'task_skipped', 'task_failed', 'host_unreachable', 'stats'];
const EVENT_NAMES = [
  'playbook_on_start', 'playbook_on_play_start', 'playbook_on_task_start', 'playbook_on_handler_task_start', 'runner_on_start',
  'runner_on_ok', 'runner_on_skipped', 'runner_on_failed', 'runner_on_unreachable', 'runner_item_on_ok', 'runner_item_on_failed',
  'playbook_on_stats', 'verbose', 'error', 'playbook_on_no_hosts_matched', 'playbook_on_include', 'debug',
] as const;

/** Any JSON value, objects keyed by anything (prototype names included), nested a little. */
function jsonValue(rng: Rng, depth = 0): unknown {
  return rng.weighted<unknown>([
    [4, () => hostileString(rng, 60)],
    [2, () => anyNumber(rng)],
    [1, () => rng.bool()],
    [1, () => null],
    [depth < 3 ? 1 : 0, () => Array.from({ length: rng.size(4) }, () => jsonValue(rng, depth + 1))],
    [depth < 3 ? 1 : 0, () => Object.fromEntries(Array.from({ length: rng.size(4) }, () => [rng.bool(0.3) ? rng.pick(PROTOTYPE_KEYS) : text(rng, 10), jsonValue(rng, depth + 1)]))],
  ]);
}

/** Mostly the type ansible-runner writes, now and then anything at all. */
function usually<T>(rng: Rng, make: () => T, p = 0.85): T | unknown {
  return rng.bool(p) ? make() : jsonValue(rng);
}

/** What a task prints: plain text, text with a secret of the run in it, NUL bytes, ANSI colour. */
function output(rng: Rng, secrets: readonly string[]): string {
  return rng.weighted<string>([
    [4, () => text(rng, 300, ['printable', 'spaces', 'unicode'])],
    [2, () => `${text(rng, 40)}${secrets.length ? rng.pick(secrets) : ''}${text(rng, 40)}`],
    [1, () => `\u001b[0;31m${text(rng, 40)}\u0000${text(rng, 20)}\u001b[0m`],
    [1, () => hostileString(rng, 300)],
    [1, () => anyUnits(rng, 300)],
  ]);
}

function taskResult(rng: Rng, secrets: readonly string[], depth = 0): Record<string, unknown> {
  const res: Record<string, unknown> = {};
  if (rng.bool(0.7)) res.msg = usually(rng, () => output(rng, secrets));
  if (rng.bool(0.5)) res.stderr = usually(rng, () => output(rng, secrets));
  if (rng.bool(0.4)) res.stdout = usually(rng, () => output(rng, secrets));
  if (rng.bool(0.3)) res.rc = usually(rng, () => rng.range(-1, 255));
  if (rng.bool(0.1)) res.module_stderr = usually(rng, () => output(rng, secrets));
  if (rng.bool(0.1)) res.module_stdout = usually(rng, () => output(rng, secrets));
  if (rng.bool(0.05)) res.censored = usually(rng, () => "the output has been hidden due to the fact that 'no_log: true' was specified for this result");
  if (rng.bool(0.5)) res.changed = usually(rng, () => rng.bool());
  if (rng.bool(0.3)) res.failed = usually(rng, () => rng.bool());
  if (depth < 3 && rng.bool(0.2)) {
    res.results = usually(rng, () => Array.from({ length: rng.size(5) }, () => (rng.bool(0.9) ? { ...taskResult(rng, secrets, depth + 1), failed: rng.bool() } : jsonValue(rng))));
  }
  return res;
}

function hostCounts(rng: Rng, hosts: readonly string[]): unknown {
  return usually(rng, () => Object.fromEntries(hosts.map((h) => [h, usually(rng, () => rng.range(0, 50), 0.95)])));
}

/** One event as ansible-runner prints it on stdout with --json. */
function runnerEvent(rng: Rng, counter: number, secrets: readonly string[]): Record<string, unknown> {
  const event = rng.pick(EVENT_NAMES);
  const hosts = Array.from({ length: 1 + rng.size(4) }, () => rng.weighted<string>([
    [6, () => `10.0.0.${rng.range(1, 254)}`], [1, () => 'localhost'], [1, () => rng.pick(PROTOTYPE_KEYS)], [1, () => hostileString(rng, 30)],
  ]));
  const data: Record<string, unknown> = {
    play: usually(rng, () => rng.pick(['Slurm controller', 'Slurm workers', text(rng, 40)])),
    task: usually(rng, () => rng.pick(['Install packages', `Write slurm.conf - ${text(rng, 20)}`, `Set key ${secrets[0] ?? ''}`, text(rng, 60)])),
    host: usually(rng, () => rng.pick(hosts)),
    name: usually(rng, () => text(rng, 40)),
    ignore_errors: usually(rng, () => rng.pick([null, false, true])),
  };
  if (event.startsWith('runner_on') || event.startsWith('runner_item')) data.res = usually(rng, () => taskResult(rng, secrets));
  if (event === 'playbook_on_stats') {
    for (const key of ['ok', 'changed', 'failures', 'dark', 'skipped', 'ignored', 'rescued', 'processed']) {
      if (rng.bool(0.8)) data[key] = hostCounts(rng, hosts);
    }
  }
  return {
    uuid: '5f6c2c1e-0000-4000-8000-000000000000',
    counter,
    event: usually(rng, () => event, 0.97),
    created: usually(rng, () => rng.pick(['2026-12-02T10:00:00.123456', '2026-12-02T10:00:00', 'yesterday', '', '9999-99-99T99:99:99'])),
    stdout: usually(rng, () => output(rng, secrets)),
    ...(rng.bool(0.05) ? {} : { event_data: usually(rng, () => data, 0.95) }),
  };
}

/** Secrets of a run: at least 6 characters (shorter are not masked), never the mask's own text. */
function secretsOf(rng: Rng): string[] {
  return Array.from({ length: rng.size(4) }, () => rng.weighted<string>([
    [3, () => `pw-${text(rng, 20, ['word'])}`],
    [1, () => `${hostileString(rng, 30)}-secret`],
  ]).replace(/[[\]]/g, '_')).filter((s) => s.length >= 6);
}

/** A string that may go into a Postgres text column and a log line: no NUL, within bounds, no secret. */
function checkText(c: Case, what: string, value: unknown, secrets: readonly string[], optional: boolean): void {
  if (value === undefined && optional) return;
  c.check(typeof value === 'string', () => `${what} is ${typeof value}, not a string`);
  const textValue = value as string;
  c.check(!textValue.includes('\u0000'), () => `${what} holds NUL, which a Postgres text column refuses`);
  c.check(textValue.length <= MESSAGE_LIMIT, () => `${what} is ${textValue.length} characters, over MESSAGE_LIMIT ${MESSAGE_LIMIT}`);
  for (const secret of secrets) c.check(!textValue.includes(secret), () => `${what} shows a secret of the run: ${JSON.stringify(secret)}`);
}

function checkEvent(c: Case, event: AnsibleEvent, secrets: readonly string[]): void {
  c.check(KINDS.includes(event.kind), () => `kind ${event.kind}`);
  c.check(typeof event.time === 'number' && Number.isSafeInteger(event.time), () => `time ${event.time}`);
  checkText(c, 'message', event.message, secrets, false);
  checkText(c, 'host', event.host, secrets, true);
  checkText(c, 'task', event.task, secrets, true);
  checkText(c, 'play', event.play, secrets, true);
}

function checkTranslator(c: Case, translator: EventTranslator, secrets: readonly string[]): void {
  for (const failure of translator.failures) {
    checkText(c, 'failure message', failure.message, secrets, false);
    checkText(c, 'failure host', failure.host, secrets, true);
    checkText(c, 'failure task', failure.task, secrets, true);
  }
  c.check(translator.verboseTail.length <= 10, 'verbose tail over 10 lines');
  for (const line of translator.verboseTail) checkText(c, 'verbose line', line, secrets, false);
  c.check(typeof translator.changed === 'number' && Number.isSafeInteger(translator.changed) && translator.changed >= 0, () => `changed ${String(translator.changed)}`);
  for (const [host, stats] of Object.entries(translator.hostStats)) {
    for (const [key, n] of Object.entries(stats)) {
      c.check(typeof n === 'number' && Number.isSafeInteger(n) && n >= 0, () => `hostStats[${JSON.stringify(host)}].${key} is ${JSON.stringify(n)}`);
    }
  }
}

afterAll(() => {
  console.log(fuzzer.report());
});

describe('ansible-runner event lines', () => {
  it('reads any line as an event (string event, number counter) or as no event, never throwing', () => {
    fuzzer.run('event line', N, (c) => {
      const secrets = secretsOf(c.rng);
      const json = JSON.stringify(runnerEvent(c.rng, c.rng.range(1, 1000), secrets));
      const line = c.rng.weighted<string>([
        [3, () => json],
        [3, () => mutate(c.rng, json, ['{', '}', '[', ']', '"', ',', ':', '\\u0000', '\\ud800', 'null', '1e999', '"counter":', '"event":'])],
        [1, () => c.rng.pick(['Identity added: /tmp/key (/tmp/key)', '', 'ERROR! the playbook could not be found', '{', '{}', ' {"event":"x","counter":1} '])],
        [1, () => anyUnits(c.rng, 500)],
      ]);
      c.note('line', line);
      const event = c.call(() => parseEventLine(line));
      if (event !== undefined) c.check(typeof event.event === 'string' && typeof event.counter === 'number', 'an event without a string event or a number counter');
      const parsed = JSON.parse(json) as { event: unknown; counter: unknown };
      if (line === json && typeof parsed.event === 'string' && typeof parsed.counter === 'number') expect(event).toEqual(parsed);
    });
  });
});

describe('EventTranslator', () => {
  it('turns any stream of events into storable events and failures, secrets masked, counters numbers', () => {
    const before = liveHeapMb();
    fuzzer.run('translate stream', N, (c) => {
      const secrets = secretsOf(c.rng);
      const translator = new EventTranslator(new SecretSet(secrets));
      c.note('secrets', secrets);
      let counter = 0;
      let last = 0;
      for (let i = 0; i < 1 + c.rng.size(40); i += 1) {
        // Counters mostly rise; a repeat or a step back is a duplicate the translator skips.
        counter = c.rng.weighted<number>([[8, () => counter + 1], [1, () => counter], [1, () => Math.max(0, counter - c.rng.range(1, 5))]]);
        const raw = runnerEvent(c.rng, counter, secrets);
        const ev = parseEventLine(JSON.stringify(raw));
        if (!ev) continue;
        c.note(`event ${i}`, raw);
        const out = c.call(() => translator.translate(ev));
        if (ev.counter <= last) c.check(out === undefined, 'a repeated counter was translated again');
        last = Math.max(last, ev.counter);
        if (out) checkEvent(c, out, secrets);
      }
      checkTranslator(c, translator, secrets);
    });
    const grown = liveHeapMb() - before;
    fuzzer.log(`translate stream: live heap ${grown.toFixed(1)} MiB after the cases`);
    expect(grown).toBeLessThan(32);
  });

  it('says why a task failed in a bounded message, whatever its result holds', () => {
    fuzzer.run('failure message', N, (c) => {
      const res = c.rng.bool(0.9) ? taskResult(c.rng, []) : (jsonValue(c.rng) as Record<string, unknown>);
      c.note('res', res);
      const message = c.call(() => failureMessage(res));
      c.check(typeof message === 'string' && message.length > 0, 'no message');
    });
  });

  it('stays linear on huge and deeply nested events', () => {
    const translate = (line: string): void => {
      const ev = parseEventLine(line);
      if (!ev) return;
      const out = new EventTranslator(new SecretSet(['secret-value-1'])).translate(ev);
      if (out) expect(out.message.length).toBeLessThanOrEqual(MESSAGE_LIMIT);
    };
    fuzzer.growth('huge stderr', SIZES, (size) => JSON.stringify({ event: 'runner_on_failed', counter: 1, event_data: { host: 'h', task: 't', res: { msg: 'x', stderr: 'e\u0000secret-value-1 '.repeat(size / 20) } } }), translate);
    fuzzer.growth('huge task name', SIZES, (size) => JSON.stringify({ event: 'playbook_on_task_start', counter: 1, event_data: { task: 't'.repeat(size) } }), translate);
    fuzzer.growth('many failed loop items', SIZES, (size) => JSON.stringify({
      event: 'runner_on_failed', counter: 1, event_data: { res: { results: Array.from({ length: size / 40 }, (_, i) => ({ failed: i % 2 === 1, msg: `item ${i}` })) } },
    }), translate);
    // Loop items inside loop items: ansible-runner nests no deeper than Python's json allows, but
    // a line is a line; depth in thousands must not overflow the stack.
    fuzzer.growth('nested loop items', [1, 10, 100, 1000, 5000, 20_000].map((n) => n * 8), (size) => {
      const depth = size / 8;
      return `{"event":"runner_on_failed","counter":1,"event_data":{"res":${'{"failed":true,"results":['.repeat(depth)}{"failed":true,"msg":"deep"}${']}'.repeat(depth)}}}`;
    }, translate);
    fuzzer.growth('stats for many hosts', SIZES, (size) => JSON.stringify({
      event: 'playbook_on_stats', counter: 1, event_data: { ok: Object.fromEntries(Array.from({ length: size / 20 }, (_, i) => [`10.0.${i >> 8}.${i & 255}`, 1])) },
    }), translate);
  });
});
