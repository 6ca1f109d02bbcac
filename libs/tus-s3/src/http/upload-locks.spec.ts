import type { Locker, UploadLock } from '../locker/locker.interface';
import { MemoryLocker } from '../locker/memory-locker';
import { DEFAULT_LOCK_OPTIONS } from '../locker/locker-options';
import { UploadLocks } from './upload-locks';

const KEEP_LOCK_MS = DEFAULT_LOCK_OPTIONS.keepMs;

const id = 'b'.repeat(32);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** What a PATCH or HEAD of an unfinished upload says after its work. */
const keep = () => true;

/** Counts the locks a locker hands out. */
function counting(locker: Locker): Locker & { taken: number } {
  const counted = Object.create(locker) as Locker & { taken: number };
  counted.taken = 0;
  counted.lock = async (uploadId: string) => {
    counted.taken++;
    return locker.lock(uploadId);
  };
  return counted;
}

describe('UploadLocks', () => {
  it("keeps an upload's lock for its next request, then lets it go when the time is up", async () => {
    const locker = counting(new MemoryLocker({ waitMs: 5000 }));
    const locks = new UploadLocks(locker);
    const seen: UploadLock[] = [];
    await locks.withLock(id, async (lock) => void seen.push(lock), keep);
    await locks.withLock(id, async (lock) => void seen.push(lock), keep);
    expect(locker.taken).toBe(1);
    expect(seen[1]).toBe(seen[0]);
    expect(() => seen[0].assertHeld()).not.toThrow(); // kept: still held between the requests

    await sleep(KEEP_LOCK_MS + 100);
    expect(() => seen[0].assertHeld()).toThrow(); // released once the time was up
    await locks.withLock(id, async (lock) => void seen.push(lock), keep);
    expect(seen[2]).not.toBe(seen[0]);
    expect(locker.taken).toBe(2);
  });

  it('keeps nothing with lock.keepMs 0', async () => {
    const locker = counting(new MemoryLocker({ waitMs: 5000 }));
    const locks = new UploadLocks(locker, { lock: { keepMs: 0 } });
    await locks.withLock(id, async () => undefined, keep);
    await locks.withLock(id, async () => undefined, keep);
    expect(locker.taken).toBe(2);
  });

  it('keeps nothing unless the caller says the upload is still in progress, nor after a failure', async () => {
    const locker = counting(new MemoryLocker({ waitMs: 5000 }));
    const locks = new UploadLocks(locker);
    await locks.withLock(id, async () => 'finished'); // DELETE, GET, announcements: no keepFor
    await locks.withLock(
      id,
      async () => 'finished',
      (result) => result !== 'finished',
    );
    await expect(locks.withLock(id, async () => Promise.reject(new Error('S3 is down')), keep)).rejects.toThrow(
      'S3 is down',
    );
    await locks.withLock(id, async () => undefined, keep);
    expect(locker.taken).toBe(4);
  });

  it('lets a kept lock go at once when anyone asks for the upload', async () => {
    const locker = new MemoryLocker({ waitMs: 5000 });
    const locks = new UploadLocks(locker);
    let kept: UploadLock | undefined;
    await locks.withLock(id, async (lock) => void (kept = lock), keep);
    const startedAt = Date.now();
    const other = await locker.lock(id); // another instance, or a request that waits in the locker
    expect(Date.now() - startedAt).toBeLessThan(KEEP_LOCK_MS / 2);
    expect(() => kept!.assertHeld()).toThrow();
    await other.release();
  });

  it('does not keep a lock that was asked to let go, nor one that cannot say how long it is valid', async () => {
    const locker = counting(new MemoryLocker({ waitMs: 5000 }));
    const locks = new UploadLocks(locker);
    const waiting = locks.withLock(
      id,
      async (lock) => {
        const asking = locker.lock(id); // asks this holder to let go
        expect(lock.signal.aborted).toBe(true);
        return { asking }; // not awaited here: it waits for this holder to let go
      },
      keep,
    );
    const handedOver = await (await waiting).asking;
    expect(() => handedOver.assertHeld()).not.toThrow();
    await handedOver.release();

    const plain: UploadLock = {
      signal: new AbortController().signal,
      lost: new AbortController().signal,
      assertHeld: () => undefined,
      release: jest.fn(async () => undefined),
    };
    const noValidity = new UploadLocks({ lock: async () => plain } as unknown as Locker);
    await noValidity.withLock(id, async () => undefined, keep);
    expect(plain.release).toHaveBeenCalledTimes(1);
  });

  it('takes the lock afresh when the kept one is close to its expiry (a stalled process must not act on it)', async () => {
    const released: string[] = [];
    const lockValidFor = (ms: number, name: string): UploadLock => ({
      signal: new AbortController().signal,
      lost: new AbortController().signal,
      assertHeld: () => undefined,
      release: async () => void released.push(name),
      validUntil: Date.now() + ms,
    });
    const handedOut = [lockValidFor(60_000, 'first'), lockValidFor(60_000, 'second')];
    const locker = { lock: jest.fn(async () => handedOut.shift()!) } as unknown as Locker;
    const locks = new UploadLocks(locker);
    let first: UploadLock | undefined;
    await locks.withLock(id, async (lock) => void (first = lock), keep);
    (first as { validUntil: number }).validUntil = Date.now() + 200; // as if the process had stalled
    let second: UploadLock | undefined;
    await locks.withLock(id, async (lock) => void (second = lock), keep);
    expect(released).toEqual(['first']);
    expect(second).not.toBe(first);
  });

  describe('createKeeping', () => {
    /** A creation as a store makes it: the lock is asked for once the id is known. */
    const creation =
      (finishedAt: string | null = null, seen: (UploadLock | null)[] = []) =>
      async (lockFor?: (uploadId: string) => Promise<UploadLock | null>) => {
        seen.push((await lockFor?.(id)) ?? null);
        return { id, finishedAt };
      };

    it("creates under the new upload's lock and keeps it for the upload's first request", async () => {
      const locker = counting(new MemoryLocker({ waitMs: 5000 }));
      const locks = new UploadLocks(locker);
      const seen: (UploadLock | null)[] = [];
      await locks.createKeeping(creation(null, seen));
      let first: UploadLock | undefined;
      await locks.withLock(id, async (lock) => void (first = lock), keep);
      expect(seen[0]).not.toBeNull();
      expect(first).toBe(seen[0]); // the PATCH after the POST took no lock of its own
      expect(locker.taken).toBe(0);
    });

    it('keeps nothing for an upload finished at its creation, nor after a failed creation', async () => {
      const locker = counting(new MemoryLocker({ waitMs: 5000 }));
      const locks = new UploadLocks(locker);
      const seen: (UploadLock | null)[] = [];
      await locks.createKeeping(creation('2026-01-01T00:00:00.000Z', seen));
      await expect(
        locks.createKeeping(async (lockFor) => {
          seen.push((await lockFor?.(id)) ?? null);
          throw new Error('S3 is down');
        }),
      ).rejects.toThrow('S3 is down');
      expect(seen).toHaveLength(2);
      for (const lock of seen) expect(() => lock!.assertHeld()).toThrow(); // both released
      await locks.withLock(id, async () => undefined, keep);
      expect(locker.taken).toBe(1);
    });

    it('creates without the lock when the lock service fails, or when locks are never kept', async () => {
      const failing = new MemoryLocker({ waitMs: 5000 });
      failing.tryLock = () => Promise.reject(new Error('no quorum'));
      const seen: (UploadLock | null)[] = [];
      await expect(new UploadLocks(failing).createKeeping(creation(null, seen))).resolves.toEqual({
        id,
        finishedAt: null,
      });
      await new UploadLocks(new MemoryLocker(), { lock: { keepMs: 0 } }).createKeeping(creation(null, seen));
      expect(seen).toEqual([null, null]);
    });
  });
});
