import { Readable } from 'node:stream';

export type BodyEnd = 'end' | 'client-aborted' | 'stopped';

/**
 * Iterates a request body until it ends, the client goes away, or `stop` aborts. A stalled client may send nothing
 * for minutes, so waiting for data also wakes up on `stop`: a release request takes effect at once instead of at
 * the next byte. `onEnd` tells which of the three happened.
 *
 * The listeners are added once per body, not once per wait: a body of 256 MiB waits thousands of times, and adding
 * and removing five listeners each time (one on an AbortSignal, an EventTarget) cost more CPU than copying the
 * bytes. Each wait is a fresh promise that the listeners resolve through `wake`, so no reaction outlives its wait
 * (racing `iterator.next()` against one long-lived "stopped" promise instead would leave a reaction on it per
 * chunk, each holding its chunk). An event that fires between waits is not lost: the state is checked before each.
 */
export async function* readUntil(
  body: Readable,
  stop: AbortSignal,
  onEnd: (end: BodyEnd) => void,
): AsyncGenerator<Buffer> {
  let wake: (() => void) | undefined;
  const wakeUp = () => {
    const resolve = wake;
    wake = undefined;
    resolve?.();
  };
  // Also keeps an aborted request's 'error' from being thrown by its emitter while nobody else listens.
  body.on('readable', wakeUp).on('end', wakeUp).on('error', wakeUp).on('close', wakeUp);
  stop.addEventListener('abort', wakeUp);
  try {
    for (;;) {
      if (stop.aborted) return onEnd('stopped');
      const chunk = body.read() as Buffer | string | null;
      if (chunk !== null) {
        yield Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
        continue;
      }
      if (body.readableEnded) return onEnd('end');
      if (body.destroyed || body.readableAborted) return onEnd('client-aborted');
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    body.off('readable', wakeUp).off('end', wakeUp).off('error', wakeUp).off('close', wakeUp);
    stop.removeEventListener('abort', wakeUp);
  }
}
