import Redlock, { Lock } from 'redlock';
import { LockHandle } from './lock-handle';
import { withTimeout } from './timing';

export interface LockKeeperTiming {
  ttlMs: number;
  /** Longest wait for one extend or release round trip. */
  operationTimeoutMs: number;
}

/**
 * Keeps one acquired Redlock lock alive for as long as its holder needs it, and tells the holder the moment
 * exclusivity can no longer be guaranteed.
 *
 * The lock is extended every ttl/3, so two extensions can fail in a row before it would expire on its own. Still,
 * a failed extension counts as a loss at once: either a quorum of masters no longer has our value (someone else
 * may hold the lock), or a quorum cannot be reached and the next extension would very likely fail too. Separately,
 * a timer fires just before the last validity Redlock vouched for runs out; if no extension succeeded by then (a
 * stuck event loop, a hanging master), the holder hears `lost` before the lock actually expires.
 */
export class RedlockLockKeeper {
  private extensionTimer: NodeJS.Timeout | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly redlock: Redlock,
    private lock: Lock,
    private readonly handle: LockHandle,
    private readonly timing: LockKeeperTiming,
  ) {}

  start(): void {
    this.armExpiryTimer();
    this.scheduleExtension();
  }

  /** Stops keeping the lock alive and deletes it on the masters that still have it. */
  async release(): Promise<void> {
    this.stop();
    // Deleting goes by the lock's value, so it also covers an extension still in flight: whichever of the two a
    // master runs first, the key is gone afterwards.
    await withTimeout(this.redlock.release(this.lock), this.timing.operationTimeoutMs, 'lock release');
  }

  private stop(): void {
    this.stopped = true;
    clearTimeout(this.extensionTimer);
    clearTimeout(this.expiryTimer);
  }

  private scheduleExtension(): void {
    this.extensionTimer = setTimeout(() => void this.extend(), Math.floor(this.timing.ttlMs / 3));
    this.extensionTimer.unref();
  }

  private armExpiryTimer(): void {
    clearTimeout(this.expiryTimer);
    this.handle.validUntil = this.lock.expiration;
    // Redlock's expiration already subtracts clock drift; the extra margin covers a late timer.
    const margin = Math.max(10, Math.round(this.timing.ttlMs * 0.02));
    this.expiryTimer = setTimeout(() => this.loseLock(), this.lock.expiration - margin - Date.now());
    this.expiryTimer.unref();
  }

  private async extend(): Promise<void> {
    if (this.stopped || !this.handle.active) return;
    const validForMs = this.lock.expiration - Date.now();
    try {
      const extended = await withTimeout(
        this.redlock.extend(this.lock, this.timing.ttlMs),
        Math.min(this.timing.operationTimeoutMs, Math.max(0, validForMs)),
        'lock extension',
        // Too late to count, but it set our value again: give it back so the upload is not blocked for a TTL.
        (late) => void this.redlock.release(late).catch(() => undefined),
      );
      // Released or already declared lost meanwhile: the holder has been told, this result changes nothing.
      if (this.stopped || !this.handle.active) return;
      this.lock = extended;
      this.armExpiryTimer();
      this.scheduleExtension();
    } catch {
      if (!this.stopped) this.loseLock();
    }
  }

  private loseLock(): void {
    if (this.stopped) return;
    this.handle.interrupt('lost');
    clearTimeout(this.extensionTimer);
    clearTimeout(this.expiryTimer);
  }
}
