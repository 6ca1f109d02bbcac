import { Readable } from 'node:stream';

export type BodyEnd = 'end' | 'client-aborted' | 'stopped';

type Wakeup = 'readable' | 'ended' | 'gone' | 'stopped';

/**
 * Iterates a request body until it ends, the client goes away, or `stop` aborts. A stalled client may send nothing
 * for minutes, so waiting for data also wakes up on `stop`: a release request takes effect at once instead of at
 * the next byte. `onEnd` tells which of the three happened.
 *
 * Each wait adds listeners and removes them when it wakes up. (Racing `iterator.next()` against one long-lived
 * "stopped" promise instead would leave a reaction on that promise per chunk, each holding its chunk: the whole
 * body would stay in memory until the request ended.)
 */
export async function* readUntil(
  body: Readable,
  stop: AbortSignal,
  onEnd: (end: BodyEnd) => void,
): AsyncGenerator<Buffer> {
  // Between waits nobody else listens for errors; without this an aborted request would throw from its emitter.
  const ignoreErrors = () => undefined;
  body.on('error', ignoreErrors);
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
      await nextWakeup(body, stop);
    }
  } finally {
    body.off('error', ignoreErrors);
  }
}

function nextWakeup(body: Readable, stop: AbortSignal): Promise<Wakeup> {
  return new Promise((resolve) => {
    const wake = (why: Wakeup) => () => {
      body.off('readable', onReadable).off('end', onEnded).off('error', onGone).off('close', onGone);
      stop.removeEventListener('abort', onStop);
      resolve(why);
    };
    const onReadable = wake('readable');
    const onEnded = wake('ended');
    const onGone = wake('gone');
    const onStop = wake('stopped');
    body.once('readable', onReadable).once('end', onEnded).once('error', onGone).once('close', onGone);
    stop.addEventListener('abort', onStop, { once: true });
  });
}
