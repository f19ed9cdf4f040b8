// One publisher's hold on the job-event outbox drain. Replicas take turns through a lease row
// (migration 012) rather than a lock inside a transaction: a lock would keep a transaction and a
// pool connection open for as long as a slow broker takes to confirm. The lease is claimed in one
// short statement, renewed while delivery runs, and checked again in the short transaction that
// records the outcome. A holder that dies stops renewing; its lease lapses within leaseMs.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Db, Queryable } from '../store/db';
import type { OutboxStore } from './outboxStore';

/**
 * How long a lease lasts unless renewed: how soon another replica takes over from a dead holder.
 * Short, since a live holder renews it every third of it while it delivers.
 */
export const DRAIN_LEASE_MS = 10_000;

export class DrainLease {
  /** Unique per publisher instance: two publishers in one process are two holders. */
  readonly holder = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;

  constructor(
    private readonly db: Db,
    private readonly outbox: OutboxStore,
    private readonly leaseMs: number = DRAIN_LEASE_MS,
  ) {}

  /** Takes or renews the lease; false while another holder's lease runs. */
  claim(): Promise<boolean> {
    return this.outbox.claimDrainLease(this.db, this.holder, this.leaseMs);
  }

  /**
   * Runs work with nothing held in Postgres, renewing the lease meanwhile, so a slow but live
   * holder (a broker confirming late) is not taken over. Renewal stops once the lease is found
   * lost; a renewal that fails (Postgres unreachable) is retried at the next tick, and if the lease
   * lapsed meanwhile, stillOurs tells.
   */
  async renewedDuring<T>(work: () => Promise<T>): Promise<T> {
    let lost = false;
    let renewing: Promise<void> | undefined;
    const renew = (): void => {
      if (lost || renewing) return;
      renewing = this.outbox.renewDrainLease(this.db, this.holder, this.leaseMs)
        .then((ours) => { lost = !ours; }, () => undefined)
        .finally(() => { renewing = undefined; });
    };
    const timer = setInterval(renew, Math.max(1, Math.floor(this.leaseMs / 3)));
    try {
      return await work();
    } finally {
      clearInterval(timer);
      // Not left running into the recording transaction, nor past stop().
      await renewing;
    }
  }

  /**
   * Inside the recording transaction: whether the lease is still ours, renewing it and locking
   * its row until commit. False when another holder claimed it meanwhile.
   */
  stillOurs(tx: Queryable): Promise<boolean> {
    return this.outbox.renewDrainLease(tx, this.holder, this.leaseMs);
  }

  /** Hands the drain on at once instead of after the lease lapses. */
  release(): Promise<void> {
    return this.outbox.releaseDrainLease(this.db, this.holder);
  }
}
