import { Readable } from 'node:stream';

export type BodyEnd = 'end' | 'client-aborted' | 'stopped';

/**
 * Iterates a request body until it ends, the client goes away, or `stop` aborts. A stalled client may send nothing
 * for minutes: racing each read against `stop` lets a release request take effect at once instead of waiting for
 * the next byte. `onEnd` tells which of the three happened.
 */
export async function* readUntil(
  body: Readable,
  stop: AbortSignal,
  onEnd: (end: BodyEnd) => void,
): AsyncGenerator<Buffer> {
  const iterator = body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let unsubscribe = () => undefined as void;
  const stopped = new Promise<'stopped'>((resolve) => {
    if (stop.aborted) return resolve('stopped');
    const onAbort = () => resolve('stopped');
    stop.addEventListener('abort', onAbort, { once: true });
    unsubscribe = () => stop.removeEventListener('abort', onAbort);
  });
  try {
    for (;;) {
      let next: IteratorResult<Buffer> | 'stopped';
      try {
        next = await Promise.race([iterator.next(), stopped]);
      } catch {
        onEnd('client-aborted');
        return;
      }
      if (next === 'stopped') {
        onEnd('stopped');
        return;
      }
      if (next.done) {
        onEnd(body.readableAborted ? 'client-aborted' : 'end');
        return;
      }
      yield Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value);
    }
  } finally {
    unsubscribe();
  }
}
