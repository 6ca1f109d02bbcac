/**
 * Reads `probe` until `ok` accepts its value or `timeoutMs` has passed, and returns the last value either way: the
 * test asserts on it, so a timeout fails with what was seen rather than with "condition not met".
 */
export async function eventually<T>(
  probe: () => Promise<T>,
  ok: (value: T) => boolean,
  timeoutMs = 10_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (ok(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Waits until `condition` holds, polling it; throws once `timeoutMs` has passed without it. */
export async function waitFor(condition: () => Promise<boolean>, timeoutMs = 10_000, intervalMs = 100): Promise<void> {
  if (!(await eventually(condition, (met) => met, timeoutMs, intervalMs))) {
    throw new Error(`condition not met within ${timeoutMs} ms`);
  }
}
