import { Readable } from 'node:stream';
import { GetObjectCommand, HeadBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import * as promClient from 'prom-client';
import { Registry } from 'prom-client';
import { addS3Metrics, s3OutcomeOf } from './s3-metrics.middleware';
import { TusMetrics } from './tus-metrics';

/** An S3 client whose HTTP layer answers `statusFor(request)` at once: the SDK's whole stack runs, no network. */
function fakeS3(statusFor: (method: string) => number): S3Client {
  return new S3Client({
    region: 'us-east-1',
    endpoint: 'http://s3.invalid',
    forcePathStyle: true,
    credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
    maxAttempts: 1,
    requestHandler: {
      handle: (request: { method: string }, options?: { abortSignal?: AbortSignal }) => {
        // As the SDK's own handler does: an aborted call fails with an AbortError.
        if (options?.abortSignal?.aborted) {
          return Promise.reject(Object.assign(new Error('Request aborted'), { name: 'AbortError' }));
        }
        return Promise.resolve({
          response: { statusCode: statusFor(request.method), headers: {}, body: Readable.from([]) },
        });
      },
    },
  });
}

async function count(registry: Registry, labels: Record<string, string>): Promise<number> {
  const { values } = await registry.getSingleMetric('tus_s3_request_duration_seconds')!.get();
  const sample = values.find(
    (v) =>
      (v as { metricName?: string }).metricName === 'tus_s3_request_duration_seconds_count' &&
      Object.entries(labels).every(([k, l]) => v.labels[k] === l),
  );
  return sample?.value ?? 0;
}

describe('addS3Metrics', () => {
  it('times every call by operation and outcome, and can be removed', async () => {
    const registry = new Registry();
    const metrics = new TusMetrics(promClient, { registry });
    const client = fakeS3((method) => (method === 'GET' ? 404 : 200));
    const remove = addS3Metrics(client, metrics);
    expect(addS3Metrics(client, metrics)).toBeInstanceOf(Function); // a second module on the same client: no-op

    await client.send(new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: 'x' }));
    await client.send(new HeadBucketCommand({ Bucket: 'b' }));
    await expect(client.send(new GetObjectCommand({ Bucket: 'b', Key: 'missing' }))).rejects.toThrow();
    const aborted = new AbortController();
    aborted.abort();
    await expect(
      client.send(new HeadBucketCommand({ Bucket: 'b' }), { abortSignal: aborted.signal }),
    ).rejects.toThrow();

    expect(await count(registry, { operation: 'PutObject', outcome: 'success' })).toBe(1);
    expect(await count(registry, { operation: 'HeadBucket', outcome: 'success' })).toBe(1);
    expect(await count(registry, { operation: 'GetObject', outcome: 'client_error' })).toBe(1);
    expect(await count(registry, { operation: 'HeadBucket', outcome: 'aborted' })).toBe(1);

    remove();
    await client.send(new HeadBucketCommand({ Bucket: 'b' }));
    expect(await count(registry, { operation: 'HeadBucket', outcome: 'success' })).toBe(1);
    client.destroy();
  });

  it('tells server errors and network failures from 4xx answers', () => {
    expect(s3OutcomeOf({ name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } })).toBe('client_error');
    expect(s3OutcomeOf({ name: 'InternalError', $metadata: { httpStatusCode: 500 } })).toBe('error');
    expect(s3OutcomeOf(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBe('error');
    expect(s3OutcomeOf({ name: 'AbortError' })).toBe('aborted');
  });
});
