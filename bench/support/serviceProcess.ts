// One replica of the service for a benchmark: `node dist/src/main.js` in its own process, configured
// by environment variables only, as an operator would start it.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import * as path from 'node:path';
import { exited, stopChild, track } from './children';

/** dist/bench/support/ -> dist/src/main.js: benchmarks run compiled, next to the compiled service. */
export const SERVICE_MAIN = path.resolve(__dirname, '../../src/main.js');

export interface ServiceReplica {
  pid: number;
  port: number;
  /** The last few kilobytes the process wrote (stdout and stderr), for a failure report. */
  output(): string;
  /** SIGTERM (the service drains calls in flight), then SIGKILL after `graceMs`. */
  stop(graceMs: number): Promise<void>;
}

/** A TCP port free on loopback right now. */
export async function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, host, () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => { socket.destroy(); resolve(false); });
  });
}

/**
 * Starts a replica on `port` and resolves once it accepts connections. The port is chosen by the
 * caller rather than read from the log, so the service can run at LOG_LEVEL=warn, as a busy one would.
 */
export async function startServiceReplica(options: {
  host: string;
  port: number;
  env: Record<string, string>;
  /** Node options for the service only, e.g. ['--cpu-prof']. */
  nodeArgs?: string[];
  timeoutMs?: number;
}): Promise<ServiceReplica> {
  if (!existsSync(SERVICE_MAIN)) throw new Error(`${SERVICE_MAIN} is missing: build first (npm run build)`);
  const child: ChildProcess = spawn(process.execPath, [...(options.nodeArgs ?? []), SERVICE_MAIN], {
    env: {
      PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
      HOME: process.env.HOME ?? '/root',
      ...options.env,
      THRIFT_HOST: options.host,
      THRIFT_PORT: String(options.port),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child);
  let output = '';
  const keep = (chunk: Buffer): void => { output = (output + chunk.toString()).slice(-8000); };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const replica: ServiceReplica = {
    pid: child.pid ?? -1,
    port: options.port,
    output: () => output,
    stop: (graceMs) => stopChild(child, graceMs),
  };
  const deadline = performance.now() + (options.timeoutMs ?? 60_000);
  let gone = false;
  void exited(child).then(() => { gone = true; });
  while (!(await accepts(options.host, options.port))) {
    if (gone) throw new Error(`service on port ${options.port} exited (${child.exitCode ?? child.signalCode}) before listening:\n${output.trim()}`);
    if (performance.now() > deadline) {
      await replica.stop(2000);
      throw new Error(`service on port ${options.port} did not listen within ${options.timeoutMs ?? 60_000} ms:\n${output.trim()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return replica;
}
