import type { Locker } from './locker.interface';
import { MemoryLocker } from './memory-locker';
import { tryLockOn } from './try-lock';

describe('tryLock', () => {
  it('MemoryLocker: the lock when free; null when held, without asking the holder to let go', async () => {
    const locker = new MemoryLocker({ waitMs: 50 });
    const held = await locker.lock('u1');
    expect(await locker.tryLock('u1')).toBeNull();
    expect(held.signal.aborted).toBe(false);
    await held.release();
    const taken = await locker.tryLock('u1');
    expect(taken).not.toBeNull();
    await expect(locker.lock('u1')).rejects.toThrow(/locked/);
    await taken!.release();
  });

  it('falls back to lock() for a locker without tryLock, a timeout counting as busy', async () => {
    const inner = new MemoryLocker({ waitMs: 50 });
    const plain: Locker = { lock: (id) => inner.lock(id), close: () => inner.close(), ping: () => inner.ping() };
    const held = await plain.lock('u2');
    expect(await tryLockOn(plain, 'u2')).toBeNull();
    await held.release();
    const lock = await tryLockOn(plain, 'u2');
    expect(lock).not.toBeNull();
    await lock!.release();
  });
});
