// The crash-chaos suite's knobs, from the environment, printed so that any run can be repeated:
// CHAOS_SEED (decimal, 0x-hex or "random"), CHAOS_KILLS and CHAOS_JOBS. CI runs the defaults; the
// long run is the same file with CHAOS_KILLS=50 CHAOS_JOBS=200.

/** The seed CI runs with, so a red run is reproducible from the commit alone. */
export const DEFAULT_CHAOS_SEED = 0xc4a05;
export const DEFAULT_CHAOS_KILLS = 10;
export const DEFAULT_CHAOS_JOBS = 40;

export interface ChaosSettings {
  seed: number;
  /** SIGKILLs of the service while jobs are submitted, dispatched, run and reported. */
  kills: number;
  /** Jobs the driver submits. */
  jobs: number;
}

function whole(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  const value = /^0x[0-9a-f]+$/i.test(raw) ? Number.parseInt(raw, 16) : Number(raw);
  if (!Number.isSafeInteger(value) || value < min) throw new Error(`${name}=${raw} is not a whole number >= ${min}`);
  return value;
}

export function chaosSettings(env: NodeJS.ProcessEnv = process.env): ChaosSettings {
  const rawSeed = env.CHAOS_SEED?.trim();
  const seed = rawSeed === 'random'
    ? Math.floor(Math.random() * 2 ** 32) >>> 0
    : whole(env, 'CHAOS_SEED', DEFAULT_CHAOS_SEED, 0) >>> 0;
  return {
    seed,
    kills: whole(env, 'CHAOS_KILLS', DEFAULT_CHAOS_KILLS, 1),
    jobs: whole(env, 'CHAOS_JOBS', DEFAULT_CHAOS_JOBS, 1),
  };
}

/** What a run prints first: the line that repeats it. */
export function describeSettings(settings: ChaosSettings): string {
  return `CHAOS_SEED=${settings.seed} CHAOS_KILLS=${settings.kills} CHAOS_JOBS=${settings.jobs}`;
}
