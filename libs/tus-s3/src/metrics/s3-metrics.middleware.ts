import type { S3Client, ServiceInputTypes, ServiceOutputTypes } from '@aws-sdk/client-s3';
// Types only (erased), from the package that defines the SDK's middleware stack; @aws-sdk/client-s3 depends on it.
import type { InitializeMiddleware } from '@smithy/types';
import type { S3CallOutcome, TusMetrics } from './tus-metrics';

export const S3_METRICS_MIDDLEWARE = 'tusS3MetricsMiddleware';

/**
 * Times every call of `client` (outermost, so retries and signing are included) into
 * `tus_s3_request_duration_seconds{operation,outcome}`. Added to the client's own middleware stack, so every
 * command sent through it is measured without the store knowing. Returns what removes it again; a client that
 * already carries it (shared by two modules) is left as it is.
 */
export function addS3Metrics(client: S3Client, metrics: TusMetrics): () => void {
  const stack = client.middlewareStack;
  if (stack.identify().some((entry) => entry.startsWith(`${S3_METRICS_MIDDLEWARE} `))) return () => undefined;
  const middleware: InitializeMiddleware<ServiceInputTypes, ServiceOutputTypes> = (next, context) => {
    const operation = (context.commandName ?? 'unknown').replace(/Command$/, '');
    return async (args) => {
      const startedAt = performance.now();
      try {
        const output = await next(args);
        metrics.observeS3Request(operation, 'success', (performance.now() - startedAt) / 1000);
        return output;
      } catch (error) {
        metrics.observeS3Request(operation, s3OutcomeOf(error), (performance.now() - startedAt) / 1000);
        throw error;
      }
    };
  };
  stack.add(middleware, {
    step: 'initialize',
    priority: 'high',
    name: S3_METRICS_MIDDLEWARE,
  });
  return () => void stack.remove(S3_METRICS_MIDDLEWARE);
}

export function s3OutcomeOf(error: unknown): S3CallOutcome {
  const { name, $metadata } = (error ?? {}) as { name?: string; $metadata?: { httpStatusCode?: number } };
  if (name === 'AbortError') return 'aborted';
  const status = $metadata?.httpStatusCode;
  return status !== undefined && status >= 400 && status < 500 ? 'client_error' : 'error';
}
