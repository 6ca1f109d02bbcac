/**
 * Why a held lock asks its holder to stop:
 * - `release-requested`: another request (maybe on another instance) wants this upload. The holder should stop
 *   reading its request body, save what it already has, and release.
 * - `lost`: the lock could not be extended (Redis quorum lost, or the TTL ran out). The holder must stop writing
 *   at once: anything written from now on may race with a new holder.
 */
export type LockInterruption = 'release-requested' | 'lost';

export interface UploadLock {
  /** Aborted when the holder must stop; `signal.reason` is a {@link LockInterruptedError}. */
  readonly signal: AbortSignal;
  /**
   * Aborted only when the lock is lost (also after a release request already aborted `signal`): in-flight
   * writes should be cancelled at once. Reason: a {@link LockInterruptedError} with why `lost`.
   */
  readonly lost: AbortSignal;
  /**
   * Throws {@link LockInterruptedError} (why `lost`) when the lock was lost, or was already released. Call it right
   * before every write that commits state. A release request alone does not make it throw.
   */
  assertHeld(): void;
  /** Releases the lock. Never throws; safe to call twice. */
  release(): Promise<void>;
  /**
   * Until when (ms since the epoch) the lock is guaranteed without a further extension: Infinity for an in-process
   * lock. Optional: a lock without it is never kept between requests (see UploadLocks).
   */
  readonly validUntil?: number;
}

/** Whether `lock` is still held: not lost, not released (what `assertHeld()` checks, as a boolean). */
export function isHeld(lock: UploadLock): boolean {
  try {
    lock.assertHeld();
    return true;
  } catch {
    return false;
  }
}

export interface Locker {
  /**
   * Takes the lock on one upload, waiting a bounded time. While it waits it asks the current holder to let go.
   * @throws LockTimeoutError when the lock could not be had in time (HTTP 423)
   * @throws LockUnavailableError when the lock service cannot be reached or has no quorum (HTTP 503)
   */
  lock(uploadId: string): Promise<UploadLock>;
  /**
   * Takes the lock only when it is free now: never waits and never asks the holder to let go (background work such
   * as the expiry sweeper, which skips busy uploads). Resolves null when the upload is busy. Optional: without it,
   * the sweeper falls back to `lock()`.
   * @throws LockUnavailableError when the lock service cannot be reached or has no quorum
   */
  tryLock?(uploadId: string): Promise<UploadLock | null>;
  /**
   * Stops the locker: later `lock()` calls fail with LockUnavailableError, holders are asked to let go and get a
   * moment to save what they have. Idempotent. Resources the locker was given (Redis clients) stay open.
   */
  close(): Promise<void>;

  /**
   * Whether the lock service could grant a lock now: how many of its masters answer PING within `timeoutMs`, and
   * how many are needed (a majority). For health checks; never throws. An in-process locker has no masters:
   * `{ masters: 0, up: 0, needed: 0 }`.
   */
  ping(timeoutMs?: number): Promise<LockServiceStatus>;
}

export interface LockServiceStatus {
  /** Masters the locker uses (0: in-process locker, no lock service). */
  masters: number;
  /** Masters that answered. */
  up: number;
  /** Masters that must answer for a lock to be granted (the quorum). */
  needed: number;
}

/**
 * Optional observers a locker calls (for metrics). They must be cheap and must not throw.
 */
export interface LockerHooks {
  /** A `lock()` call found the upload held and asked its holder to let go: once per call, however often it repeats. */
  releaseRequested?(uploadId: string): void;
  /**
   * A lock held in this process was asked to let go, by a waiter here or (through Redis) on another instance: once
   * per held lock, however often the request is repeated.
   */
  releaseRequestReceived?(uploadId: string): void;
}

export class LockInterruptedError extends Error {
  constructor(readonly why: LockInterruption) {
    super(why === 'lost' ? 'the upload lock was lost' : 'another request asked for the upload lock');
    this.name = 'LockInterruptedError';
  }
}

export class LockTimeoutError extends Error {
  constructor(uploadId: string, waitedMs: number) {
    super(`upload ${uploadId} is locked by another request (waited ${waitedMs} ms)`);
    this.name = 'LockTimeoutError';
  }
}

export class LockUnavailableError extends Error {
  constructor(
    message: string,
    override readonly cause?: unknown,
  ) {
    super(message);
    this.name = 'LockUnavailableError';
  }
}
