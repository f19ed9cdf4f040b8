// The dependencies-down suite's knobs and its record of each outage: when the dependency went, when
// it came back, and when the service was seen to recover (the first thing that needed it working
// again), printed as one line per dependency and kept for RELIABILITY.md.
//
// DEPS_DOWN_SECONDS: how long RabbitMQ, sshd and slurmctld stay down (CI: 15). The long run, "down
// for minutes", is DEPS_DOWN_SECONDS=300. DEPS_PG_DOWN_SECONDS: how long Postgres stays stopped in
// its restart (default 5; a restart, not an outage, though any value works). DEPS_JOBS: jobs
// submitted per outage (default 6).

export interface DepsDownSettings {
  downSeconds: number;
  pgDownSeconds: number;
  jobsPerOutage: number;
}

function whole(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < min) throw new Error(`${name}=${raw} is not a whole number >= ${min}`);
  return value;
}

export function depsDownSettings(env: NodeJS.ProcessEnv = process.env): DepsDownSettings {
  return {
    downSeconds: whole(env, 'DEPS_DOWN_SECONDS', 15, 1),
    pgDownSeconds: whole(env, 'DEPS_PG_DOWN_SECONDS', 5, 0),
    jobsPerOutage: whole(env, 'DEPS_JOBS', 6, 1),
  };
}

export function describeDepsSettings(settings: DepsDownSettings): string {
  return `DEPS_DOWN_SECONDS=${settings.downSeconds} DEPS_PG_DOWN_SECONDS=${settings.pgDownSeconds} DEPS_JOBS=${settings.jobsPerOutage}`;
}

export interface Outage {
  dependency: string;
  /** When it was taken away and given back (epoch ms). */
  downAt: number;
  backAt?: number;
  /** Recovery milestones after backAt, in the order seen: what, when (epoch ms). */
  recovered: { what: string; at: number }[];
}

export class OutageLog {
  readonly outages: Outage[] = [];

  begin(dependency: string): Outage {
    const outage: Outage = { dependency, downAt: Date.now(), recovered: [] };
    this.outages.push(outage);
    return outage;
  }

  static back(outage: Outage): void {
    outage.backAt = Date.now();
  }

  static recovered(outage: Outage, what: string, at = Date.now()): void {
    outage.recovered.push({ what, at });
  }

  static describe(outage: Outage): string {
    const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
    if (outage.backAt === undefined) return `${outage.dependency}: down since ${new Date(outage.downAt).toISOString()}, never back`;
    const after = outage.recovered.map((r) => `${r.what} +${seconds(r.at - (outage.backAt as number))}`).join(', ');
    return `${outage.dependency}: down ${seconds(outage.backAt - outage.downAt)}; after its return: ${after || 'no recovery seen'}`;
  }

  lines(): string[] {
    return this.outages.map((o) => OutageLog.describe(o));
  }
}
