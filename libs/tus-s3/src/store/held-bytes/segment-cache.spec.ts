import { SegmentCache } from './segment-cache';

const bytes = (text: string) => Buffer.from(text);
const joined = (slices: Buffer[] | undefined) => (slices ? Buffer.concat(slices).toString() : undefined);

describe('SegmentCache', () => {
  it('serves any range of what was written, across appends', () => {
    const cache = new SegmentCache(100);
    cache.wrote('a', 0, bytes('hello '));
    cache.wrote('a', 6, bytes('world'));
    expect(joined(cache.read('a', 0, 11))).toBe('hello world');
    expect(joined(cache.read('a', 4, 8))).toBe('o wo');
    expect(joined(cache.read('a', 6, 6))).toBe('');
  });

  it('serves nothing for bytes it does not hold', () => {
    const cache = new SegmentCache(100);
    cache.wrote('a', 0, bytes('hello'));
    expect(cache.read('a', 0, 6)).toBeUndefined();
    expect(cache.read('b', 0, 1)).toBeUndefined();
  });

  it('drops a segment when a write would leave a gap (another instance appended in between)', () => {
    const cache = new SegmentCache(100);
    cache.wrote('a', 0, bytes('hello'));
    cache.wrote('a', 8, bytes('xyz'));
    expect(cache.read('a', 0, 1)).toBeUndefined();
    expect(cache.size).toBe(0);
    cache.wrote('b', 3, bytes('xyz')); // never saw its start
    expect(cache.read('b', 3, 6)).toBeUndefined();
  });

  it('evicts the oldest segments past its size, and forgets by prefix', () => {
    const cache = new SegmentCache(10);
    cache.wrote('u1:a', 0, bytes('12345'));
    cache.wrote('u1:b', 0, bytes('12345'));
    cache.wrote('u2:c', 0, bytes('123'));
    expect(cache.read('u1:a', 0, 1)).toBeUndefined();
    expect(joined(cache.read('u1:b', 0, 5))).toBe('12345');
    expect(cache.size).toBe(8);
    cache.forgetPrefix('u1:');
    expect(cache.read('u1:b', 0, 1)).toBeUndefined();
    expect(joined(cache.read('u2:c', 0, 3))).toBe('123');
    expect(cache.size).toBe(3);
  });

  it('keeps nothing when its size is zero', () => {
    const cache = new SegmentCache(0);
    cache.wrote('a', 0, bytes('hello'));
    expect(cache.read('a', 0, 5)).toBeUndefined();
  });
});
