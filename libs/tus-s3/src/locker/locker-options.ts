/** Timing of upload locks. All durations are in milliseconds. */
export interface LockOptions {
  /**
   * How long a lock stays valid in the lock service without being extended. A held lock is extended while its
   * request runs, so this only bounds how long a crashed instance keeps an upload locked.
   */
  ttlMs: number;
  /** The longest `lock()` waits for the current holder to let go before it gives up with `LockTimeoutError`. */
  waitMs: number;
  /** Pause between two attempts while waiting. */
  retryDelayMs: number;
  /** Random spread added to each pause (±), so that waiters on different instances do not retry in lockstep. */
  retryJitterMs: number;
  /**
   * How long an instance keeps an upload's lock after a request, for the upload's next request, which then starts
   * without taking the lock again (and, for uploads held in S3, without reading the journal again). Anyone asking for
   * the upload gets it at once. 0: every request takes and releases the lock.
   */
  keepMs: number;
}

export const DEFAULT_LOCK_OPTIONS: Readonly<LockOptions> = Object.freeze({
  ttlMs: 10_000,
  waitMs: 5_000,
  retryDelayMs: 100,
  retryJitterMs: 50,
  keepMs: 1_000,
});

/** Fills in defaults and rejects values that would make the lockers misbehave silently. */
export function resolveLockOptions(options: Partial<LockOptions> = {}): LockOptions {
  const resolved: LockOptions = { ...DEFAULT_LOCK_OPTIONS };
  for (const [key, value] of Object.entries(options) as [keyof LockOptions, number | undefined][]) {
    if (value !== undefined) resolved[key] = value;
  }
  for (const [key, value] of Object.entries(resolved)) {
    if (!Number.isFinite(value) || value < 0) {
      throw new RangeError(`lock option ${key} must be a finite number >= 0, got ${value}`);
    }
  }
  // Redlock refuses fractional durations, and a TTL this short cannot be extended in time.
  if (!Number.isInteger(resolved.ttlMs) || resolved.ttlMs < 100) {
    throw new RangeError(`lock option ttlMs must be an integer >= 100, got ${resolved.ttlMs}`);
  }
  return resolved;
}
