import { Readable } from 'node:stream';

export type BodyEnd = 'end' | 'client-aborted' | 'stopped';

type Wakeup = 'readable' | 'ended' | 'gone' | 'stopped';

/**
 * Iterates a request body until it ends, the client goes away, or `stop` aborts. A stalled client may send nothing
 * for minutes, so waiting for data also wakes up on `stop`: a release request takes effect at once instead of at
 * the next byte. `onEnd` tells which of the three happened.
 *
 * Each wait adds listeners to the body and removes them when it wakes up (a 'readable' listener left attached makes
 * the stream emit an event on every push, even while nobody waits), except on a body an app also listens to (below).
 * `stop`, an AbortSignal (an EventTarget, whose listener calls are slow), gets one listener for the whole body, which
 * wakes whichever wait is current. (Racing `iterator.next()` against one long-lived "stopped" promise instead would
 * leave a reaction on that promise per chunk, each holding its chunk: the whole body would stay in memory until the
 * request ended.)
 */
export async function* readUntil(
  body: Readable,
  stop: AbortSignal,
  onEnd: (end: BodyEnd) => void,
): AsyncGenerator<Buffer> {
  let wakeOnStop: (() => void) | undefined;
  const onStop = () => wakeOnStop?.();
  // Between waits nobody else listens for errors; without this an aborted request would throw from its emitter.
  const ignoreErrors = () => undefined;
  body.on('error', ignoreErrors);
  stop.addEventListener('abort', onStop, { once: true });
  // An app's 'data' listener (a middleware counting bytes) makes every removal of a 'readable' listener resume the
  // flow, and the chunks would then go to that listener alone: such a body keeps one 'readable' listener throughout.
  let wakeOnReadable: (() => void) | undefined;
  const onReadable = body.listenerCount('data') > 0 ? () => wakeOnReadable?.() : undefined;
  if (onReadable) body.on('readable', onReadable);
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
      await nextWakeup(body, (wake) => (wakeOnStop = wake), onReadable && ((wake) => (wakeOnReadable = wake)));
      wakeOnStop = wakeOnReadable = undefined;
    }
  } finally {
    if (onReadable) body.off('readable', onReadable);
    body.off('error', ignoreErrors);
    stop.removeEventListener('abort', onStop);
  }
}

/**
 * Resolves on the body's next event; `onStop` receives the function that ends the wait early, and `onReadable`, when
 * given, the one a 'readable' listener of the caller's calls (instead of one added for this wait).
 */
function nextWakeup(
  body: Readable,
  onStop: (wake: () => void) => void,
  onReadable?: (wake: () => void) => void,
): Promise<Wakeup> {
  return new Promise((resolve) => {
    const wake = (why: Wakeup) => () => {
      if (!onReadable) body.off('readable', wakeOnReadable);
      body.off('end', onEnded).off('error', onGone).off('close', onGone);
      resolve(why);
    };
    const wakeOnReadable = wake('readable');
    const onEnded = wake('ended');
    const onGone = wake('gone');
    if (onReadable) onReadable(wakeOnReadable);
    else body.once('readable', wakeOnReadable);
    body.once('end', onEnded).once('error', onGone).once('close', onGone);
    onStop(wake('stopped'));
  });
}
