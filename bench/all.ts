// `npm run bench`: every benchmark of the project, one after the other (they would skew each other
// on a shared machine), each in its own process printing its own figures, baseline, ratio and
// machine. Ends with one line per benchmark: whether it ran to the end, and how long it took. A
// benchmark that fails does not stop the others; the exit code says whether any failed.
//
//   node dist/bench/all.js [--only rpc,dispatch,monitor,ansible,provision] [--rpc-args="--seconds 3"] [--dispatch-args=...]
//                          [--monitor-args=...] [--ansible-args=...] [--provision-args=...]   (the "=" form: the values start with a dash)
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

const BENCHES = ['rpc', 'dispatch', 'monitor', 'ansible', 'provision'] as const;
type Bench = (typeof BENCHES)[number];

interface Outcome {
  bench: Bench;
  status: string;
  seconds: number;
}

let interrupted = false;

function run(file: string, args: string[]): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [file, ...args], { stdio: 'inherit' });
    child.once('error', (error) => resolve(`could not start: ${error.message}`));
    child.once('exit', (code, signal) => resolve(code === 0 ? 'ok' : `failed (${code ?? signal})`));
  });
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      only: { type: 'string', default: BENCHES.join(',') },
      'rpc-args': { type: 'string', default: '' },
      'dispatch-args': { type: 'string', default: '' },
      'monitor-args': { type: 'string', default: '' },
      'ansible-args': { type: 'string', default: '' },
      'provision-args': { type: 'string', default: '' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write('usage: node dist/bench/all.js [--only rpc,dispatch,monitor,ansible] [--rpc-args="..."] [--dispatch-args="..."] ' +
      '[--monitor-args="..."] [--ansible-args="..."] [--provision-args="..."]\n');
    return 0;
  }
  const only = values.only.split(',').map((name) => name.trim()).filter((name) => name !== '');
  const unknown = only.filter((name) => !(BENCHES as readonly string[]).includes(name));
  if (unknown.length > 0) throw new Error(`--only: unknown benchmark ${unknown.join(', ')} (known: ${BENCHES.join(', ')})`);
  const argsOf: Record<Bench, string> = {
    rpc: values['rpc-args'], dispatch: values['dispatch-args'], monitor: values['monitor-args'], ansible: values['ansible-args'],
    provision: values['provision-args'],
  };
  // Ctrl-C reaches the running benchmark too, which cleans up after itself; no new one is started.
  process.on('SIGINT', () => { interrupted = true; });

  const outcomes: Outcome[] = [];
  for (const bench of BENCHES.filter((name) => only.includes(name))) {
    const file = path.join(__dirname, `${bench}.js`);
    if (interrupted) {
      outcomes.push({ bench, status: 'not run (interrupted)', seconds: 0 });
      continue;
    }
    if (!existsSync(file)) {
      process.stdout.write(`\n== bench/${bench}: missing: no ${file} (bench/${bench}.ts not written yet, or not built)\n`);
      outcomes.push({ bench, status: 'missing', seconds: 0 });
      continue;
    }
    const args = argsOf[bench].split(/\s+/).filter((arg) => arg !== '');
    process.stdout.write(`\n== bench/${bench}${args.length ? ` ${args.join(' ')}` : ''} (${new Date().toISOString()})\n`);
    const t0 = performance.now();
    const status = await run(file, args);
    outcomes.push({ bench, status, seconds: (performance.now() - t0) / 1000 });
  }

  process.stdout.write(`\n== summary\n${outcomes.map((o) => `bench/${o.bench}: ${o.status}${o.seconds ? `, ${o.seconds.toFixed(0)} s` : ''}`).join('\n')}\n`);
  return outcomes.some((o) => o.status !== 'ok') ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench/all: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
