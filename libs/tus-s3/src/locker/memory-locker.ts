import { OnModuleDestroy } from '@nestjs/common';
import { LockHandle } from './lock-handle';
import { LockOptions, resolveLockOptions } from './locker-options';
import {
  Locker,
  LockerHooks,
  LockServiceStatus,
  LockTimeoutError,
  LockUnavailableError,
  UploadLock,
} from './locker.interface';

interface Waiter {
  grant(lock: LockHandle): void;
}

/** One upload's lock: who holds it and who queues for it, first come first served. */
interface LockSlot {
  holder: LockHandle;
  waiters: Waiter[];
}

/**
 * Upload locks inside one process. Correct only when a single instance serves the uploads; nothing expires, since
 * a holder in this process cannot vanish without its `finally` running (so `ttlMs` is not used).
 *
 * A waiter asks the holder to let go (`release-requested`) and queues; the lock passes directly from the releasing
 * holder to the oldest waiter, so a newcomer cannot barge in between.
 */
export class MemoryLocker implements Locker, OnModuleDestroy {
  private readonly options: LockOptions;
  private readonly slots = new Map<string, LockSlot>();
  private closing: Promise<void> | undefined;

  constructor(
    options: Partial<LockOptions> = {},
    private readonly hooks: LockerHooks = {},
  ) {
    this.options = resolveLockOptions(options);
  }

  /** No lock service to ask: locks live in this process. */
  ping(): Promise<LockServiceStatus> {
    return Promise.resolve({ masters: 0, up: 0, needed: 0 });
  }

  lock(uploadId: string): Promise<UploadLock> {
    if (this.closing) return Promise.reject(new LockUnavailableError('the locker is shutting down'));
    const slot = this.slots.get(uploadId);
    if (!slot) {
      const holder = this.newHandle(uploadId);
      this.slots.set(uploadId, { holder, waiters: [] });
      return Promise.resolve(holder);
    }
    return this.waitInLine(uploadId, slot);
  }

  tryLock(uploadId: string): Promise<UploadLock | null> {
    if (this.closing) return Promise.reject(new LockUnavailableError('the locker is shutting down'));
    if (this.slots.has(uploadId)) return Promise.resolve(null);
    const holder = this.newHandle(uploadId);
    this.slots.set(uploadId, { holder, waiters: [] });
    return Promise.resolve(holder);
  }

  /** Asks every holder to let go and waits up to `graceMs` for them (nothing else is owned: nothing to free). */
  close(graceMs = this.options.waitMs): Promise<void> {
    this.closing ??= this.shutDown(graceMs);
    return this.closing;
  }

  onModuleDestroy(): Promise<void> {
    return this.close();
  }

  private async shutDown(graceMs: number): Promise<void> {
    const holders = [...this.slots.values()].map((slot) => slot.holder);
    for (const holder of holders) holder.interrupt('release-requested');
    const released = Promise.all(holders.map((holder) => holder.whenReleased));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([released, new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
  }

  private waitInLine(uploadId: string, slot: LockSlot): Promise<UploadLock> {
    const startedAt = Date.now();
    return new Promise<UploadLock>((resolve, reject) => {
      const waiter: Waiter = {
        grant: (lock) => {
          clearTimeout(timer);
          resolve(lock);
        },
      };
      const timer = setTimeout(() => {
        const index = slot.waiters.indexOf(waiter);
        if (index >= 0) slot.waiters.splice(index, 1);
        reject(new LockTimeoutError(uploadId, Date.now() - startedAt));
      }, this.options.waitMs);
      slot.waiters.push(waiter);
      this.hooks.releaseRequested?.(uploadId);
      this.askToRelease(slot.holder);
    });
  }

  private askToRelease(holder: LockHandle): void {
    if (holder.active && !holder.signal.aborted) this.hooks.releaseRequestReceived?.(holder.uploadId);
    holder.interrupt('release-requested');
  }

  private newHandle(uploadId: string): LockHandle {
    const handle: LockHandle = new LockHandle(uploadId, () => Promise.resolve(this.handOver(uploadId, handle)));
    return handle;
  }

  private handOver(uploadId: string, released: LockHandle): void {
    const slot = this.slots.get(uploadId);
    if (!slot || slot.holder !== released) return;
    const next = slot.waiters.shift();
    if (!next) {
      this.slots.delete(uploadId);
      return;
    }
    slot.holder = this.newHandle(uploadId);
    // Those still queued asked for the lock too; the new holder hears it at once, as it would from a Redis waiter.
    if (slot.waiters.length > 0) this.askToRelease(slot.holder);
    next.grant(slot.holder);
  }
}
