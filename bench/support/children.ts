// The processes a benchmark starts (client processes, the no-op server, service replicas): each is
// tracked so that none outlives the benchmark, even one that exits on a timeout or a crash.
import { fork, type ChildProcess } from 'node:child_process';

const live = new Set<ChildProcess>();
let hooked = false;

/** Remembers a child to be killed if this process exits while it still runs. */
export function track(child: ChildProcess): void {
  if (!hooked) {
    hooked = true;
    // 'exit' handlers run synchronously: SIGKILL is all that can be done there, and it is enough.
    process.on('exit', () => {
      for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    });
  }
  live.add(child);
  child.once('exit', () => live.delete(child));
}

/** Resolves once the child has exited (at once if it already has). */
export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Asks a child to stop with `signal`, and kills it if it has not exited after `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  const done = exited(child);
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill(signal);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => { timer = setTimeout(() => resolve('late'), graceMs); });
  if ((await Promise.race([done, late])) === 'late') {
    child.kill('SIGKILL');
    await done;
  }
  clearTimeout(timer);
}

interface Typed { type: string }

/**
 * A forked Node process spoken to by messages, one request at a time: each request waits for the
 * next message of the expected type, or fails on a 'failed' message, the child's exit, or a timeout.
 */
export class MessageChild<Out extends Typed, In extends Typed> {
  private waiting?: { type: string; resolve(message: In): void; reject(error: Error): void };
  private ended?: string;
  private stderrTail = '';

  private constructor(readonly child: ChildProcess, readonly name: string) {
    child.on('message', (message: In) => this.receive(message));
    child.stderr?.on('data', (chunk: Buffer) => {
      process.stderr.write(chunk);
      this.stderrTail = (this.stderrTail + chunk.toString()).slice(-2000);
    });
    child.once('exit', (code, signal) => {
      this.ended = `${name} exited (${code ?? signal})${this.stderrTail ? `: ${this.stderrTail.trim()}` : ''}`;
      this.waiting?.reject(new Error(this.ended));
      this.waiting = undefined;
    });
  }

  /** Forks `modulePath` with an IPC channel and resolves once it sends a message of type `readyType`. */
  static async start<O extends Typed, I extends Typed>(
    modulePath: string, args: string[], name: string, readyType: I['type'], timeoutMs = 30_000,
  ): Promise<{ process: MessageChild<O, I>; ready: I }> {
    const child = fork(modulePath, args, { serialization: 'advanced', stdio: ['ignore', 'inherit', 'pipe', 'ipc'] });
    track(child);
    const wrapped = new MessageChild<O, I>(child, name);
    const ready = await wrapped.next(readyType, timeoutMs);
    return { process: wrapped, ready };
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Sends a message without waiting for an answer (a no-op once the child has gone). */
  send(message: Out): void {
    if (this.ended === undefined && this.child.connected) this.child.send(message);
  }

  /** Sends `message` and resolves with the child's next message of type `expect`. */
  request<T extends In['type']>(message: Out, expect: T, timeoutMs: number): Promise<Extract<In, { type: T }>> {
    const answer = this.next(expect, timeoutMs);
    this.send(message);
    return answer as Promise<Extract<In, { type: T }>>;
  }

  private next(type: string, timeoutMs: number): Promise<In> {
    if (this.ended !== undefined) return Promise.reject(new Error(this.ended));
    if (this.waiting) return Promise.reject(new Error(`${this.name}: a request is already waiting for ${this.waiting.type}`));
    return new Promise<In>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = undefined;
        reject(new Error(`${this.name}: no "${type}" within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting = {
        type,
        resolve: (message) => { clearTimeout(timer); resolve(message); },
        reject: (error) => { clearTimeout(timer); reject(error); },
      };
    });
  }

  private receive(message: In): void {
    const waiting = this.waiting;
    if (!waiting) return;
    if (message.type === 'failed') {
      this.waiting = undefined;
      const detail = (message as unknown as { error?: unknown }).error;
      waiting.reject(new Error(`${this.name}: ${typeof detail === 'string' ? detail : 'failed'}`));
    } else if (message.type === waiting.type) {
      this.waiting = undefined;
      waiting.resolve(message);
    }
  }

  /** Closes the IPC channel (the child exits on 'disconnect') and waits, killing it after `graceMs`. */
  async close(graceMs = 5000): Promise<void> {
    if (this.child.connected) this.child.disconnect();
    const done = exited(this.child);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => { timer = setTimeout(() => resolve('late'), graceMs); });
    if ((await Promise.race([done, late])) === 'late') {
      this.child.kill('SIGKILL');
      await done;
    }
    clearTimeout(timer);
  }
}
