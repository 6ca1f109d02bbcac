import { LockInterruptedError, UploadLock } from '../../../libs/tus-s3/src/locker/locker.interface';

/**
 * What the upload lock guarantees the store, without a locker: the harness runs one writer at a time, so a lock is
 * held until released. A crashed writer's lock is never released nor lost: a process paused past its TTL does not
 * learn that it lost the lock before its next request goes out, the worst case for a stale writer.
 */
export function testLock(): UploadLock {
  const interrupted = new AbortController();
  const lost = new AbortController();
  let released = false;
  return {
    signal: interrupted.signal,
    lost: lost.signal,
    assertHeld: () => {
      if (released) throw new LockInterruptedError('lost');
    },
    release: async () => {
      released = true;
    },
  };
}
