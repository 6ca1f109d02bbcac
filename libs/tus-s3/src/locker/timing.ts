/** Small timing helpers for the Redis locker. Timers are unref'd: a pending lock retry must not keep a process alive. */

export class OperationTimeoutError extends Error {
  constructor(what: string, ms: number) {
    super(`${what} got no answer within ${ms} ms`);
    this.name = 'OperationTimeoutError';
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)).unref());
}

/** `base` ± up to `jitter`, never negative. */
export function jittered(base: number, jitter: number): number {
  return Math.max(0, base + Math.round((Math.random() * 2 - 1) * jitter));
}

/**
 * Rejects with {@link OperationTimeoutError} if `operation` takes longer than `ms`. The operation itself keeps
 * running (a Redis command cannot be recalled), so `onLateSuccess` gets its value if it arrives after all; that is
 * where a lock acquired too late is given back.
 */
export function withTimeout<T>(
  operation: Promise<T>,
  ms: number,
  what: string,
  onLateSuccess?: (value: T) => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let timedOut = false;
    const timer = setTimeout(
      () => {
        timedOut = true;
        reject(new OperationTimeoutError(what, ms));
      },
      Math.max(0, ms),
    );
    timer.unref();
    operation.then(
      (value) => {
        clearTimeout(timer);
        if (timedOut) onLateSuccess?.(value);
        else resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}
