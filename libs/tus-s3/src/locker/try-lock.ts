import { Locker, LockTimeoutError, UploadLock } from './locker.interface';

/**
 * The upload's lock when it is free, else null: the locker's `tryLock`, or for a locker without one `lock()` (which
 * waits up to `lock.waitMs` and asks the holder to let go) with a timeout counted as busy.
 */
export async function tryLockOn(locker: Locker, uploadId: string): Promise<UploadLock | null> {
  if (locker.tryLock) return locker.tryLock(uploadId);
  try {
    return await locker.lock(uploadId);
  } catch (error) {
    if (error instanceof LockTimeoutError) return null;
    throw error;
  }
}
