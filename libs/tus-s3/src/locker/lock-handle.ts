import { LockInterruptedError, LockInterruption, UploadLock } from './locker.interface';

/**
 * The holder's side of a lock, shared by the lockers: the two abort signals, the state behind `assertHeld()`, and
 * a release that runs at most once and never throws. The locker decides when to interrupt; this only records it.
 */
export class LockHandle implements UploadLock {
  private readonly stopController = new AbortController();
  private readonly lostController = new AbortController();
  private releasing: Promise<void> | undefined;
  private markReleased!: () => void;
  /** See UploadLock; a locker whose locks expire keeps it up to date (RedlockLockKeeper). */
  validUntil = Infinity;
  /** Settles once `release()` has run to the end. */
  readonly whenReleased = new Promise<void>((resolve) => (this.markReleased = resolve));

  constructor(
    readonly uploadId: string,
    private readonly releaseInService: () => Promise<void>,
  ) {}

  get signal(): AbortSignal {
    return this.stopController.signal;
  }

  get lost(): AbortSignal {
    return this.lostController.signal;
  }

  /** True until the lock is released or lost: a locker should only interrupt or extend active locks. */
  get active(): boolean {
    return !this.lost.aborted && this.releasing === undefined;
  }

  assertHeld(): void {
    if (this.lost.aborted) throw this.lost.reason;
    // After release() the lock is not held either; writing then is as unsafe as writing after a loss.
    if (this.releasing) throw new LockInterruptedError('lost');
  }

  /** Tells the holder to stop. `signal` keeps the first reason (a signal aborts once); `lost` only ever means lost. */
  interrupt(why: LockInterruption): void {
    if (!this.active) return;
    const error = new LockInterruptedError(why);
    if (why === 'lost') this.lostController.abort(error);
    if (!this.signal.aborted) this.stopController.abort(error);
  }

  release(): Promise<void> {
    // A second call shares the first one's promise, so awaiting either means the lock service was told.
    this.releasing ??= Promise.resolve()
      .then(this.releaseInService)
      .catch(() => undefined)
      .then(this.markReleased);
    return this.releasing;
  }
}
