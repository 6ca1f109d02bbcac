import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { sendWithBody } from './body-guard';
import { asS3Failure } from './store-errors';

/** How often a request with a streamed body is sent, and the first pause between attempts (doubled each time). */
export interface StreamRetryPolicy {
  attempts: number;
  baseDelayMs: number;
}

export const STREAM_RETRIES: StreamRetryPolicy = { attempts: 3, baseDelayMs: 100 };
/** For a transfer that has a fallback of its own when its one attempt fails (an early part upload). */
export const ONE_ATTEMPT: StreamRetryPolicy = { attempts: 1, baseDelayMs: 0 };

/**
 * Sends a request whose body is a stream we compose (a spooled part, held-back bytes), retrying it with a freshly
 * opened body. The SDK retries failed requests itself (`maxAttempts`), but never one with a stream body, which it can
 * read only once: it gives up at the first failure ("non-retryable streaming request"). Without this, one 500 or
 * SlowDown from S3, which S3 asks clients to retry, would fail the client's whole PATCH with a 503. Only failures S3
 * or the network call transient are retried, never once `signal` aborted (a lost lock).
 */
export async function sendStreamWithRetries<T>(
  open: () => Readable,
  signal: AbortSignal | undefined,
  send: (body: Readable, abortSignal: AbortSignal) => Promise<T>,
  policy: StreamRetryPolicy = STREAM_RETRIES,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const body = open();
    try {
      return await sendWithBody(body, signal, (abortSignal) => send(body, abortSignal));
    } catch (error) {
      if (attempt >= policy.attempts || signal?.aborted || !isTransientS3Failure(error)) throw error;
    }
    // Full jitter, as the SDK's own backoff: instances retrying at once do not hit S3 in step.
    const delay = Math.random() * policy.baseDelayMs * 2 ** (attempt - 1);
    await sleep(delay, undefined, { signal }).catch(() => undefined);
    if (signal?.aborted) throw signal.reason;
  }
}

const TRANSIENT_CODES = new Set([
  'InternalError',
  'ServiceUnavailable',
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'RequestThrottled',
  'RequestTimeout',
  'TimeoutError',
]);
const NETWORK_CODES = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNREFUSED', 'ECONNABORTED', 'EAI_AGAIN']);
/**
 * What the SDK throws for a failure that is not an `Error` of this realm (a socket error seen from a vm context, as
 * under Jest): a new Error with only the text, `AWS SDK error wrapper for TimeoutError: read ECONNRESET`.
 */
const WRAPPED_NETWORK_FAILURE =
  /^AWS SDK error wrapper for \w+: .*\b(ECONNRESET|EPIPE|ETIMEDOUT|ECONNREFUSED|ECONNABORTED|socket hang up)\b/;

/** A 5xx or 429 answer, a throttling or timeout code, or a connection that broke: worth sending again. */
export function isTransientS3Failure(error: unknown): boolean {
  const e = asS3Failure(error);
  if (!e || e.name === 'AbortError') return false;
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined && (status >= 500 || status === 429)) return true;
  if (TRANSIENT_CODES.has(e.name ?? '') || TRANSIENT_CODES.has(e.Code ?? '')) return true;
  return NETWORK_CODES.has(e.code ?? '') || WRAPPED_NETWORK_FAILURE.test(e.message ?? '');
}
