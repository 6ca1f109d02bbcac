import { DefaultHttpStack, DetailedError, HttpRequest, HttpStack, Upload } from 'tus-js-client';

/**
 * Sends every request of an upload to whichever instance the balancer picks at that moment (no sticky sessions):
 * the upload URL's origin is replaced, its path kept.
 */
class BalancedHttpStack implements HttpStack {
  private readonly inner = new DefaultHttpStack({});

  constructor(private readonly pick: () => string) {}

  createRequest(method: string, url: string): HttpRequest {
    const { pathname, search } = new URL(url);
    return this.inner.createRequest(method, `${this.pick()}${pathname}${search}`);
  }

  getName(): string {
    return 'balanced';
  }
}

export interface ClientUpload {
  data: Buffer;
  chunkSize: number;
}

export interface UploadEnd {
  /** The upload URL, once created. */
  url: string | undefined;
  error?: Error;
  retries: number;
}

/** Retries of one request without progress, while instances die and come back (the attempt count resets on progress). */
const RETRY_DELAYS = [0, 250, 500, 1000, 1000, 2000, 2000, 3000, 3000, 5000, 5000, 5000, 5000];

/**
 * One tus-js-client upload through the balancer, retried and resumed on any live instance after failures (a killed
 * instance, a lock still held by it: 423, an offset that moved: 409). Resolves when it succeeded or gave up.
 */
export function runUpload(upload: ClientUpload, endpoint: string, pick: () => string): Promise<UploadEnd> {
  let retries = 0;
  return new Promise((resolve) => {
    const client: Upload = new Upload(upload.data, {
      endpoint,
      chunkSize: upload.chunkSize,
      retryDelays: RETRY_DELAYS,
      storeFingerprintForResuming: false,
      httpStack: new BalancedHttpStack(pick),
      onShouldRetry: (error: DetailedError) => {
        const status = error.originalResponse?.getStatus() ?? 0;
        const retry = status === 0 || status >= 500 || status === 409 || status === 423;
        if (retry) retries++;
        if (process.env.SOAK_VERBOSE) console.log(`retry ${retry} after ${status || error.message.slice(0, 120)}`);
        return retry;
      },
      onError: (error) => resolve({ url: client.url ?? undefined, error, retries }),
      onSuccess: () => resolve({ url: client.url ?? undefined, retries }),
    });
    client.start();
  });
}
