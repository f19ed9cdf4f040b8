import { countWithinBudget, distinctIds, mebibytes } from '../../src/domain/replyBudget';

describe('distinctIds', () => {
  it('keeps each id once, in the order first given', () => {
    expect(distinctIds(['b', 'a', 'b', 'c', 'a'])).toEqual(['b', 'a', 'c']);
    expect(distinctIds(Array.from({ length: 500 }, () => 'same'))).toEqual(['same']);
  });
});

describe('countWithinBudget', () => {
  it('counts the leading sizes that fit together', () => {
    expect(countWithinBudget([3, 3, 3, 3], 10)).toBe(3);
    expect(countWithinBudget([3, 3, 4], 10)).toBe(3);
    expect(countWithinBudget([], 10)).toBe(0);
  });

  it('always lets the first through, as getJob would return it', () => {
    expect(countWithinBudget([50, 1], 10)).toBe(1);
  });
});

describe('mebibytes', () => {
  it('says sizes the way the errors do', () => {
    expect(mebibytes(8 * 1024 * 1024)).toBe('8.0 MiB');
  });
});
