// The service as a process that the chaos suite SIGKILLs and starts again, always with the same
// environment (database, DATA_DIR and so its secrets key, Thrift port), as a host whose service
// crashed and was restarted by its supervisor. Every process's output is kept: the evidence when
// something goes wrong. A process that ends without being killed by us is noted, never hidden.
import { startServiceProcess, type ServiceProcess } from '../../support/serviceProcess';

export interface CrashingServiceStats {
  starts: number;
  kills: number;
  /** ms from spawn to "listening", per start. */
  startMs: number[];
}

export class CrashingService {
  private current: ServiceProcess | undefined;
  private readonly outputs: string[] = [];
  /** Processes that ended on their own (not our SIGKILL or SIGTERM): "exit code: last lines". */
  readonly unexpectedExits: string[] = [];
  readonly stats: CrashingServiceStats = { starts: 0, kills: 0, startMs: [] };

  constructor(private readonly env: Record<string, string>) {}

  get process(): ServiceProcess | undefined {
    return this.current;
  }

  get up(): boolean {
    return this.current !== undefined;
  }

  async start(): Promise<void> {
    if (this.current) throw new Error('the service is already running');
    const began = performance.now();
    const started = await startServiceProcess(this.env);
    this.stats.startMs.push(performance.now() - began);
    this.stats.starts += 1;
    this.current = started;
    void started.exited.then((code) => {
      // Still current: nobody asked it to stop.
      if (this.current !== started) return;
      this.current = undefined;
      this.outputs.push(started.output());
      this.unexpectedExits.push(`${code}: ${started.output().split('\n').slice(-15).join('\n')}`);
    });
  }

  /** SIGKILL: no shutdown hook runs; the queue's locks, claims and the drain lease stay as they were. */
  async kill(): Promise<void> {
    const victim = this.current;
    if (!victim) return;
    this.current = undefined;
    victim.child.kill('SIGKILL');
    await victim.exited;
    this.outputs.push(victim.output());
    this.stats.kills += 1;
  }

  /**
   * Gives the running process to whoever ends the file (endServiceRun stops it): from here on its
   * exit is no longer watched as unexpected.
   */
  handOver(): ServiceProcess | undefined {
    const running = this.current;
    this.current = undefined;
    if (running) void running.exited.then(() => this.outputs.push(running.output()));
    return running;
  }

  /** A clean stop (SIGTERM), for the end of the file. */
  async stop(): Promise<void> {
    const victim = this.current;
    if (!victim) return;
    this.current = undefined;
    victim.child.kill('SIGTERM');
    await victim.exited;
    this.outputs.push(victim.output());
  }

  /** Every process's output so far, oldest first, the running one last. */
  output(): string {
    return [...this.outputs, this.current?.output() ?? ''].join('\n--- restart ---\n');
  }

  /** Log lines at warn level or above (pino levels 40, 50, 60), across every process. */
  warnings(): string[] {
    return this.output().split('\n').filter((line) => /"level":(40|50|60)\b/.test(line));
  }

  /** Log lines at error level or above. */
  errors(): string[] {
    return this.output().split('\n').filter((line) => /"level":(50|60)\b/.test(line));
  }
}
