import * as promClient from 'prom-client';
import { Registry } from 'prom-client';
import { TusMetrics } from './tus-metrics';

/** One sample of the registry: `name` may be a histogram's `_count`, `_sum` or `_bucket` series. */
async function value(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number | undefined> {
  const metric = registry.getSingleMetric(name.replace(/_(count|sum|bucket)$/, ''));
  if (!metric) return undefined;
  const { values } = await metric.get();
  const match = values.find(
    (v) =>
      ((v as { metricName?: string }).metricName ?? name) === name &&
      Object.entries(labels).every(([k, l]) => String(v.labels[k]) === l) &&
      Object.keys(v.labels).length === Object.keys(labels).length,
  );
  return match?.value;
}

describe('TusMetrics', () => {
  it('registers every metric into the given registry, under the prefix', async () => {
    const registry = new Registry();
    new TusMetrics(promClient, { registry, prefix: 'app_' });
    const names = (await registry.getMetricsAsJSON()).map((m) => `${m.name} ${m.type}`).sort();
    expect(names).toEqual([
      'app_tus_lock_release_requests_total counter',
      'app_tus_lock_wait_seconds histogram',
      'app_tus_received_bytes_total counter',
      'app_tus_redis_held_bytes gauge',
      'app_tus_requests_total counter',
      'app_tus_s3_request_duration_seconds histogram',
      'app_tus_upload_duration_seconds histogram',
      'app_tus_uploads_created_total counter',
      'app_tus_uploads_finished_total counter',
      'app_tus_uploads_terminated_total counter',
    ]);
  });

  it('counts requests by method and status, folding unknown methods into OTHER', async () => {
    const registry = new Registry();
    const metrics = new TusMetrics(promClient, { registry });
    metrics.observeRequest('patch', 204);
    metrics.observeRequest('PATCH', 204);
    metrics.observeRequest('POST', 'aborted');
    metrics.observeRequest('BREW', 405);
    expect(await value(registry, 'tus_requests_total', { method: 'PATCH', status: '204' })).toBe(2);
    expect(await value(registry, 'tus_requests_total', { method: 'POST', status: 'aborted' })).toBe(1);
    expect(await value(registry, 'tus_requests_total', { method: 'OTHER', status: '405' })).toBe(1);
  });

  it('counts bytes, uploads, release requests and held bytes', async () => {
    const registry = new Registry();
    const metrics = new TusMetrics(promClient, { registry });
    metrics.addReceivedBytes(1000);
    metrics.addReceivedBytes(24);
    metrics.addReceivedBytes(0);
    metrics.uploadCreated();
    metrics.uploadCreated();
    metrics.uploadTerminated();
    const hooks = metrics.lockerHooks();
    hooks.releaseRequested?.('a');
    hooks.releaseRequestReceived?.('a');
    hooks.releaseRequestReceived?.('b');
    let held = 300;
    metrics.measureHeldBytesInRedis(async () => held);
    expect(await value(registry, 'tus_received_bytes_total')).toBe(1024);
    expect(await value(registry, 'tus_uploads_created_total')).toBe(2);
    expect(await value(registry, 'tus_uploads_terminated_total')).toBe(1);
    expect(await value(registry, 'tus_lock_release_requests_total', { direction: 'sent' })).toBe(1);
    expect(await value(registry, 'tus_lock_release_requests_total', { direction: 'received' })).toBe(2);
    expect(await value(registry, 'tus_redis_held_bytes')).toBe(300);
    held = 42;
    expect(await value(registry, 'tus_redis_held_bytes')).toBe(42); // read again at every scrape
    metrics.measureHeldBytesInRedis(() => Promise.reject(new Error('Redis is down')));
    expect(await value(registry, 'tus_redis_held_bytes')).toBe(42);
  });

  it('observes an upload duration from its createdAt, whichever instance created it', async () => {
    const registry = new Registry();
    const metrics = new TusMetrics(promClient, { registry });
    const now = Date.parse('2026-01-01T00:01:30Z');
    metrics.uploadFinished('2026-01-01T00:00:00Z', now);
    metrics.uploadFinished(undefined, now); // counted, no duration
    metrics.uploadFinished('not a date', now);
    expect(await value(registry, 'tus_uploads_finished_total')).toBe(3);
    expect(await value(registry, 'tus_upload_duration_seconds_count')).toBe(1);
    expect(await value(registry, 'tus_upload_duration_seconds_sum')).toBe(90);
    expect(await value(registry, 'tus_upload_duration_seconds_bucket', { le: '60' })).toBe(0);
    expect(await value(registry, 'tus_upload_duration_seconds_bucket', { le: '120' })).toBe(1);
  });

  it('observes S3 calls and lock waits with their labels', async () => {
    const registry = new Registry();
    const metrics = new TusMetrics(promClient, { registry });
    metrics.observeS3Request('PutObject', 'success', 0.02);
    metrics.observeS3Request('GetObject', 'client_error', 0.01);
    metrics.observeLockWait('acquired', 0.003);
    metrics.observeLockWait('timeout', 5);
    const s3 = { operation: 'PutObject', outcome: 'success' };
    expect(await value(registry, 'tus_s3_request_duration_seconds_count', s3)).toBe(1);
    expect(await value(registry, 'tus_lock_wait_seconds_count', { outcome: 'timeout' })).toBe(1);
    expect(await value(registry, 'tus_lock_wait_seconds_sum', { outcome: 'acquired' })).toBeCloseTo(0.003);
  });

  it('shares metrics with another module on the same registry instead of failing on the names', async () => {
    const registry = new Registry();
    const a = new TusMetrics(promClient, { registry });
    const b = new TusMetrics(promClient, { registry });
    a.uploadCreated();
    b.uploadCreated();
    expect(await value(registry, 'tus_uploads_created_total')).toBe(2);
  });

  it('refuses a registry where a name is taken by another kind of metric', () => {
    const registry = new Registry();
    new promClient.Gauge({ name: 'tus_requests_total', help: 'not ours', registers: [registry] });
    expect(() => new TusMetrics(promClient, { registry })).toThrow(/tus_requests_total .*another type or labels/);
  });

  it('uses the global registry by default', () => {
    const metrics = new TusMetrics(promClient);
    expect(metrics.registry).toBe(promClient.register);
    promClient.register.clear();
  });

  describe('create', () => {
    it('is off with metrics: false, without loading prom-client', () => {
      expect(TusMetrics.create(false, () => fail('loaded prom-client'))).toBeNull();
    });

    it('is off when not configured and prom-client is missing', () => {
      expect(TusMetrics.create(undefined, () => undefined)).toBeNull();
    });

    it('fails when configured and prom-client is missing', () => {
      expect(() => TusMetrics.create({ prefix: 'x_' }, () => undefined)).toThrow(/needs prom-client/);
    });

    it('is on when configured and prom-client is there', () => {
      const registry = new Registry();
      expect(TusMetrics.create({ registry })?.registry).toBe(registry);
    });
  });
});
