// Refused connections are logged at once, then at most once a second with how many were refused.
import { createLogger } from '../../src/log';
import { RefusedConnections } from '../../src/rpc/refusedConnections';

describe('RefusedConnections', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('logs the first refusal at once and folds the rest of the second into one line', () => {
    const lines: { refused: number; maxConnections: number }[] = [];
    const log = createLogger('info', { write: (line: string) => void lines.push(JSON.parse(line) as { refused: number; maxConnections: number }) });
    const refused = new RefusedConnections(log, 8);

    refused.record();
    expect(lines.map((line) => line.refused)).toEqual([1]);
    expect(lines[0].maxConnections).toBe(8);
    jest.advanceTimersByTime(100);
    for (let i = 0; i < 50; i += 1) refused.record();
    jest.advanceTimersByTime(800);
    expect(lines).toHaveLength(1);
    jest.advanceTimersByTime(100);
    expect(lines.map((line) => line.refused)).toEqual([1, 50]);

    // After a quiet spell, the next refusal is logged at once again.
    jest.advanceTimersByTime(5000);
    refused.record();
    expect(lines.map((line) => line.refused)).toEqual([1, 50, 1]);
    refused.record();
    refused.stop();
    expect(lines.map((line) => line.refused)).toEqual([1, 50, 1, 1]);
    jest.advanceTimersByTime(5000);
    expect(lines).toHaveLength(4);
  });
});
