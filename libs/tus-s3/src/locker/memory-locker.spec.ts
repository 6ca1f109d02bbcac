import { LockInterruptedError, LockTimeoutError } from './locker.interface';
import { MemoryLocker } from './memory-locker';

const reasonOf = (signal: AbortSignal) => (signal.reason as LockInterruptedError).why;

describe('MemoryLocker', () => {
  it('grants a free upload at once and again after release', async () => {
    const locker = new MemoryLocker();
    const first = await locker.lock('a');
    expect(first.signal.aborted).toBe(false);
    expect(() => first.assertHeld()).not.toThrow();
    await first.release();
    const second = await locker.lock('a');
    expect(second.signal.aborted).toBe(false);
    await second.release();
  });

  it('locks uploads independently', async () => {
    const locker = new MemoryLocker({ waitMs: 0 });
    const a = await locker.lock('a');
    const b = await locker.lock('b');
    expect(a.signal.aborted).toBe(false);
    await Promise.all([a.release(), b.release()]);
  });

  it('asks the holder to release, then hands the lock to the waiter', async () => {
    const locker = new MemoryLocker({ waitMs: 1000 });
    const holder = await locker.lock('a');
    const waiting = locker.lock('a');
    expect(holder.signal.aborted).toBe(true);
    expect(reasonOf(holder.signal)).toBe('release-requested');
    // A release request is not a loss: the holder may still commit what it has.
    expect(holder.lost.aborted).toBe(false);
    expect(() => holder.assertHeld()).not.toThrow();

    let granted = false;
    void waiting.then(() => (granted = true));
    await Promise.resolve();
    expect(granted).toBe(false);

    await holder.release();
    const next = await waiting;
    expect(next.signal.aborted).toBe(false);
    expect(() => holder.assertHeld()).toThrow(LockInterruptedError);
    await next.release();
  });

  it('serves waiters in arrival order and lets each ask its predecessor to release', async () => {
    const locker = new MemoryLocker({ waitMs: 1000 });
    const order: string[] = [];
    const holder = await locker.lock('a');
    const first = locker.lock('a').then((lock) => (order.push('first'), lock));
    const second = locker.lock('a').then((lock) => (order.push('second'), lock));

    await holder.release();
    const firstLock = await first;
    // The second waiter is still queued, so the new holder is asked to let go right away.
    expect(reasonOf(firstLock.signal)).toBe('release-requested');
    await firstLock.release();
    const secondLock = await second;
    expect(secondLock.signal.aborted).toBe(false);
    expect(order).toEqual(['first', 'second']);
    await secondLock.release();
  });

  it('gives up with LockTimeoutError after waitMs and leaves the queue', async () => {
    const locker = new MemoryLocker({ waitMs: 50 });
    const holder = await locker.lock('a');
    const startedAt = Date.now();
    await expect(locker.lock('a')).rejects.toBeInstanceOf(LockTimeoutError);
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(45);
    expect(Date.now() - startedAt).toBeLessThan(500);

    // The timed-out waiter must not receive the lock later: the next lock() after release is granted at once.
    await holder.release();
    const next = await locker.lock('a');
    expect(next.signal.aborted).toBe(false);
    await next.release();
  });

  it('makes release idempotent and never throwing', async () => {
    const locker = new MemoryLocker({ waitMs: 100 });
    const holder = await locker.lock('a');
    const waiting = locker.lock('a');
    await Promise.all([holder.release(), holder.release()]);
    const next = await waiting;
    // A stale second release from the old holder must not free the new holder's lock.
    await holder.release();
    await expect(locker.lock('a')).rejects.toBeInstanceOf(LockTimeoutError);
    await next.release();
  });

  it('answers ping without a lock service: no masters, none needed', async () => {
    await expect(new MemoryLocker().ping()).resolves.toEqual({ masters: 0, up: 0, needed: 0 });
  });

  it('tells its hooks about release requests: once per waiting call, once per holder asked', async () => {
    const requested: string[] = [];
    const received: string[] = [];
    const locker = new MemoryLocker(
      { waitMs: 1000 },
      { releaseRequested: (id) => requested.push(id), releaseRequestReceived: (id) => received.push(id) },
    );
    const holder = await locker.lock('a');
    const first = locker.lock('a');
    const second = locker.lock('a'); // asks the same holder again: not a second request received
    expect(requested).toEqual(['a', 'a']);
    expect(received).toEqual(['a']);

    await holder.release();
    const firstLock = await first; // asked at once on behalf of the second waiter
    expect(received).toEqual(['a', 'a']);
    await firstLock.release();
    await (await second).release();
    expect(requested).toEqual(['a', 'a']);
    expect(received).toEqual(['a', 'a']);
  });
});
