import type { OnModuleDestroy } from '@nestjs/common';
import {
  Locker,
  LockServiceStatus,
  LockTimeoutError,
  LockUnavailableError,
  UploadLock,
} from '../locker/locker.interface';
import { tryLockOn } from '../locker/try-lock';
import type { LockWaitOutcome, TusMetrics } from './tus-metrics';

type Destroyable = Partial<{ onModuleDestroy(): unknown }>;

/**
 * A Locker that times each `lock()` into `tus_lock_wait_seconds{outcome}` and otherwise is `inner`: it also passes on
 * `onModuleDestroy()`, which Nest calls on whatever TUS_LOCKER is (that is where lockers shut down).
 */
export class MeasuredLocker implements Locker, OnModuleDestroy {
  constructor(
    readonly inner: Locker,
    private readonly metrics: TusMetrics,
  ) {}

  async lock(uploadId: string): Promise<UploadLock> {
    const startedAt = performance.now();
    const seconds = () => (performance.now() - startedAt) / 1000;
    try {
      const lock = await this.inner.lock(uploadId);
      this.metrics.observeLockWait('acquired', seconds());
      return lock;
    } catch (error) {
      this.metrics.observeLockWait(lockOutcomeOf(error), seconds());
      throw error;
    }
  }

  /** Not timed: it never waits. */
  tryLock(uploadId: string): Promise<UploadLock | null> {
    return tryLockOn(this.inner, uploadId);
  }

  ping(timeoutMs?: number): Promise<LockServiceStatus> {
    return this.inner.ping(timeoutMs);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  async onModuleDestroy(): Promise<void> {
    await (this.inner as Destroyable).onModuleDestroy?.();
  }
}

function lockOutcomeOf(error: unknown): LockWaitOutcome {
  if (error instanceof LockTimeoutError) return 'timeout';
  if (error instanceof LockUnavailableError) return 'unavailable';
  return 'error';
}
