// DrainLease's renewal while a delivery runs, against a stand-in store that counts renewals.
import { DRAIN_LEASE_MS, DrainLease } from '../../src/events/drainLease';
import { OutboxStore } from '../../src/events/outboxStore';
import type { Db, Queryable } from '../../src/store/db';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Answers renewals from `ours` and remembers who asked and for how long. */
class CountingStore extends OutboxStore {
  renewals: { holder: string; leaseMs: number }[] = [];
  ours = true;

  override async renewDrainLease(_db: Queryable, holder: string, leaseMs: number): Promise<boolean> {
    this.renewals.push({ holder, leaseMs });
    return this.ours;
  }
}

// Never queried: the stand-in store answers everything the lease asks.
const noDb = {} as Db;

describe('DrainLease', () => {
  it('lasts a few seconds unless renewed', () => {
    expect(DRAIN_LEASE_MS).toBeGreaterThanOrEqual(2000);
    expect(DRAIN_LEASE_MS).toBeLessThanOrEqual(30_000);
  });

  it('names a holder per instance, with host and pid', () => {
    const store = new CountingStore();
    const one = new DrainLease(noDb, store);
    const other = new DrainLease(noDb, store);
    expect(one.holder).not.toBe(other.holder);
    expect(one.holder).toContain(`:${process.pid}:`);
  });

  it('renews every third of the lease while the work runs, and not after', async () => {
    const store = new CountingStore();
    const lease = new DrainLease(noDb, store, 150);
    const started = Date.now();
    const result = await lease.renewedDuring(async () => {
      await sleep(400);
      return 'delivered';
    });
    const elapsed = Date.now() - started;
    expect(result).toBe('delivered');
    // A tick every 50 ms: never more often, and not much less (timers run late at times).
    expect(store.renewals.length).toBeGreaterThanOrEqual(4);
    expect(store.renewals.length).toBeLessThanOrEqual(Math.floor(elapsed / 50));
    expect(store.renewals.every((renewal) => renewal.holder === lease.holder && renewal.leaseMs === 150)).toBe(true);
    const after = store.renewals.length;
    await sleep(200);
    expect(store.renewals).toHaveLength(after);
  });

  it('stops renewing once the lease is found lost', async () => {
    const store = new CountingStore();
    store.ours = false;
    const lease = new DrainLease(noDb, store, 60);
    await lease.renewedDuring(() => sleep(300));
    expect(store.renewals).toHaveLength(1);
  });

  it('keeps trying when a renewal fails, and hands back the work\'s own error', async () => {
    const store = new CountingStore();
    store.renewDrainLease = async (_db, holder, leaseMs) => {
      store.renewals.push({ holder, leaseMs });
      throw new Error('postgres unreachable');
    };
    const lease = new DrainLease(noDb, store, 60);
    await expect(lease.renewedDuring(async () => {
      await sleep(200);
      throw new Error('sink failed');
    })).rejects.toThrow('sink failed');
    expect(store.renewals.length).toBeGreaterThanOrEqual(3);
  });
});
