import { Readable } from 'node:stream';
import { StorageError } from './store-errors';

/**
 * Sends a request whose body is a stream we compose (held-back chunks read from S3 or Redis, spooled bytes). The
 * SDK pipes such a body without listening for its errors: a source failing mid-way would be an unhandled 'error'
 * event, which ends the process. Here a failing body aborts the request instead, and the caller gets a
 * StorageError. `signal` (e.g. a lost lock) aborts it too.
 */
export async function sendWithBody<T>(
  body: Readable,
  signal: AbortSignal | undefined,
  send: (abortSignal: AbortSignal) => Promise<T>,
): Promise<T> {
  const bodyFailed = new AbortController();
  body.once('error', (error) => bodyFailed.abort(error));
  try {
    return await send(signal ? AbortSignal.any([signal, bodyFailed.signal]) : bodyFailed.signal);
  } catch (error) {
    if (bodyFailed.signal.aborted)
      throw new StorageError('could not read the bytes to upload', bodyFailed.signal.reason);
    throw error;
  } finally {
    body.destroy();
  }
}
