// The batcher that lets concurrent calls share a round trip: grouping, bounds, and that each caller
// gets its own answer and only its own error.
import { Batcher } from '../../src/store/batcher';

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('Batcher', () => {
  it('answers calls made together from one batch, each with its own answer', async () => {
    const batches: number[][] = [];
    const batcher = new Batcher<number, number>(async (items) => {
      batches.push([...items]);
      return items.map((n) => n * 10);
    }, { maxItems: 100, maxInFlight: 1 });
    const answers = await Promise.all([1, 2, 3, 4].map((n) => batcher.run(n)));
    expect(answers).toEqual([10, 20, 30, 40]);
    expect(batches).toEqual([[1, 2, 3, 4]]);
  });

  it('sends a lone call at once, and calls arriving while a batch runs together in the next', async () => {
    const batches: number[][] = [];
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => { release = resolve; });
    const batcher = new Batcher<number, number>(async (items) => {
      batches.push([...items]);
      if (batches.length === 1) await gate;
      return [...items];
    }, { maxItems: 100, maxInFlight: 1 });
    const first = batcher.run(1);
    await tick();
    expect(batches).toEqual([[1]]);
    const later = [2, 3, 4].map((n) => batcher.run(n));
    await tick();
    expect(batches).toEqual([[1]]); // the only slot is busy: they wait together
    release();
    expect(await Promise.all([first, ...later])).toEqual([1, 2, 3, 4]);
    expect(batches).toEqual([[1], [2, 3, 4]]);
  });

  it('keeps batches to maxItems and at most maxInFlight running', async () => {
    let running = 0;
    let mostRunning = 0;
    const sizes: number[] = [];
    const batcher = new Batcher<number, number>(async (items) => {
      running += 1;
      mostRunning = Math.max(mostRunning, running);
      sizes.push(items.length);
      await tick();
      running -= 1;
      return [...items];
    }, { maxItems: 3, maxInFlight: 2 });
    const answers = await Promise.all(Array.from({ length: 10 }, (_, n) => batcher.run(n)));
    expect(answers).toEqual(Array.from({ length: 10 }, (_, n) => n));
    expect(Math.max(...sizes)).toBeLessThanOrEqual(3);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(10);
    expect(mostRunning).toBe(2);
  });

  it('fails only the call whose slot holds an Error', async () => {
    const batcher = new Batcher<number, number>(async (items) =>
      items.map((n) => (n === 2 ? new Error('two is refused') : n)), { maxItems: 10, maxInFlight: 1 });
    const results = await Promise.allSettled([1, 2, 3].map((n) => batcher.run(n)));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toEqual(new Error('two is refused'));
  });

  it('runs each call of a failed batch again alone, so one bad call fails alone', async () => {
    const batches: number[][] = [];
    const batcher = new Batcher<number, number>(async (items) => {
      batches.push([...items]);
      if (items.includes(13)) throw new Error('the statement failed on 13');
      return items.map((n) => n + 1);
    }, { maxItems: 10, maxInFlight: 1 });
    const results = await Promise.allSettled([12, 13, 14].map((n) => batcher.run(n)));
    expect(results[0]).toEqual({ status: 'fulfilled', value: 13 });
    expect(results[1]).toEqual({ status: 'rejected', reason: new Error('the statement failed on 13') });
    expect(results[2]).toEqual({ status: 'fulfilled', value: 15 });
    expect(batches).toEqual([[12, 13, 14], [12], [13], [14]]);
  });

  it('fails every call of a batch that answers the wrong number of requests', async () => {
    const batcher = new Batcher<number, number>(async () => [1], { maxItems: 10, maxInFlight: 1 });
    const results = await Promise.allSettled([1, 2].map((n) => batcher.run(n)));
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
  });
});
