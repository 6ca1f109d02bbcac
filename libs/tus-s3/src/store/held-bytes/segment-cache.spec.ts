import { ChunkRelease } from '../chunk-release';
import { SegmentCache } from './segment-cache';

const bytes = (text: string) => Buffer.from(text);
const joined = (slices: Buffer[] | undefined) => (slices ? Buffer.concat(slices).toString() : undefined);
/** A chunk that is the whole of its own memory, as Node's HTTP parser hands them over. */
const ownChunk = (size: number) => Buffer.from(new ArrayBuffer(size)).fill(7);

/** One read, as a transfer that succeeded makes it. */
function read(cache: SegmentCache, key: string, first: number, last: number): Buffer[] | undefined {
  const lease = cache.lease();
  try {
    return lease.read(key, first, last);
  } finally {
    lease.end(true);
  }
}

describe('SegmentCache', () => {
  it('serves any range of what was written, across appends', () => {
    const cache = new SegmentCache(100);
    cache.wrote('a', 0, bytes('hello '));
    cache.wrote('a', 6, bytes('world'));
    expect(joined(read(cache, 'a', 0, 11))).toBe('hello world');
    expect(joined(read(cache, 'a', 4, 8))).toBe('o wo');
    expect(joined(read(cache, 'a', 6, 6))).toBe('');
  });

  it('serves nothing for bytes it does not hold', () => {
    const cache = new SegmentCache(100);
    cache.wrote('a', 0, bytes('hello'));
    expect(read(cache, 'a', 0, 6)).toBeUndefined();
    expect(read(cache, 'b', 0, 1)).toBeUndefined();
  });

  it('drops a segment when a write would leave a gap (another instance appended in between)', () => {
    const cache = new SegmentCache(100);
    cache.wrote('a', 0, bytes('hello'));
    cache.wrote('a', 8, bytes('xyz'));
    expect(read(cache, 'a', 0, 1)).toBeUndefined();
    expect(cache.size).toBe(0);
    cache.wrote('b', 3, bytes('xyz')); // never saw its start
    expect(read(cache, 'b', 3, 6)).toBeUndefined();
  });

  it('evicts the oldest segments past its size, and forgets by prefix', () => {
    const cache = new SegmentCache(10);
    cache.wrote('u1:a', 0, bytes('12345'));
    cache.wrote('u1:b', 0, bytes('12345'));
    cache.wrote('u2:c', 0, bytes('123'));
    expect(read(cache, 'u1:a', 0, 1)).toBeUndefined();
    expect(joined(read(cache, 'u1:b', 0, 5))).toBe('12345');
    expect(cache.size).toBe(8);
    cache.forgetPrefix('u1:');
    expect(read(cache, 'u1:b', 0, 1)).toBeUndefined();
    expect(joined(read(cache, 'u2:c', 0, 3))).toBe('123');
    expect(cache.size).toBe(3);
  });

  it('keeps nothing when its size is zero', () => {
    const cache = new SegmentCache(0);
    cache.wrote('a', 0, bytes('hello'));
    expect(read(cache, 'a', 0, 5)).toBeUndefined();
  });

  describe('freeing the memory of what it forgets', () => {
    beforeAll(() => ChunkRelease.ready());

    it('frees chunks that are its own once forgotten and no transfer reads them any more', () => {
      const cache = new SegmentCache(100_000);
      const [first, second] = [ownChunk(1000), ownChunk(500)];
      cache.wroteChunks('a', 0, [first, second], ChunkRelease.free);
      const lease = cache.lease();
      expect(lease.read('a', 200, 1500)?.map((slice) => slice.length)).toEqual([800, 500]);

      cache.forget('a');
      expect([first.length, second.length]).toEqual([1000, 500]); // still being sent
      lease.end(true);
      expect([first.length, second.length]).toEqual([0, 0]);
    });

    it('frees what it evicts, and what it forgets unread', () => {
      const cache = new SegmentCache(1500);
      const [a, b, c] = [ownChunk(1000), ownChunk(1000), ownChunk(300)];
      cache.wrote('a', 0, a, ChunkRelease.free);
      cache.wrote('b', 0, b, ChunkRelease.free); // past 1500 bytes: 'a' goes
      cache.wrote('c', 0, c, ChunkRelease.free);
      expect([a.length, b.length, c.length]).toEqual([0, 1000, 300]);
      cache.forget('c');
      expect(c.length).toBe(0);
    });

    it('leaves to the collector what a failed transfer read, what one read twice, and what is not its own', () => {
      const cache = new SegmentCache(100_000);
      const [failed, twice, shared] = [ownChunk(100), ownChunk(100), ownChunk(100)];
      cache.wrote('failed', 0, failed, ChunkRelease.free);
      cache.wrote('twice', 0, twice, ChunkRelease.free);
      cache.wrote('shared', 0, shared);

      const failing = cache.lease();
      failing.read('failed', 0, 100);
      failing.end(false); // a socket may still have these bytes queued
      const retried = cache.lease();
      retried.read('twice', 0, 100);
      retried.read('twice', 0, 100); // a second attempt: the first one's socket may still send
      retried.end(true);
      for (const key of ['failed', 'twice', 'shared']) cache.forget(key);

      expect([failed.length, twice.length, shared.length]).toEqual([100, 100, 100]);
    });

    it('frees an entry the way its writes said, and only when they all said the same', () => {
      const cache = new SegmentCache(100_000);
      const freed: Buffer[] = [];
      const giveBack = (chunk: Buffer) => void freed.push(chunk);
      const [one, two, other] = [ownChunk(10), ownChunk(10), ownChunk(10)];
      cache.wrote('same', 0, one, giveBack);
      cache.wrote('same', 10, two, giveBack);
      cache.wrote('mixed', 0, ownChunk(10), giveBack);
      cache.wrote('mixed', 10, other, ChunkRelease.free);
      cache.forget('same');
      cache.forget('mixed');
      expect(freed).toEqual([one, two]);
      expect(other.length).toBe(10);
    });

    it('waits for every transfer that read a chunk, and never frees a chunk cut from a larger buffer', () => {
      const cache = new SegmentCache(100_000);
      const whole = ownChunk(100);
      const view = ownChunk(300).subarray(100, 200);
      cache.wroteChunks('a', 0, [whole, view], ChunkRelease.free);
      const [one, two] = [cache.lease(), cache.lease()];
      one.read('a', 0, 200);
      two.read('a', 50, 150);
      cache.forget('a');
      one.end(true);
      expect(whole.length).toBe(100);
      two.end(true);
      expect([whole.length, view.length]).toEqual([0, 100]);
    });
  });
});
