import { DEMO_AUTH, DEMO_ENV } from './support/demo-env'; // first: the demo reads the environment as it loads
import { randomBytes } from 'node:crypto';
import { HealthCheckResult, TerminusModule } from '@nestjs/terminus';
import { Registry } from 'prom-client';
import { HealthController } from '../src/health.controller';
import { DemoApp, startDemoApp } from './support/demo-app';
import { freePorts, RedisMaster, waitForRedisServerBinary } from './support/redis-masters';
import { serviceEnv } from './support/s3-env';
import { MiB, startTestApp, TestApp } from './support/test-app';
import { uploadWithTusClient } from './support/tus-client';
import { eventually } from './support/eventually';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition (enough of the format for prom-client's output). */
function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[pair[1]] = pair[2];
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}

/** Sum of the samples named `name` whose labels include `labels`. */
function total(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

/** Terminus answers 503 with the same shape as 200. */
async function getHealth(origin: string): Promise<{ status: number; body: Required<HealthCheckResult> }> {
  const res = await fetch(`${origin}/health`);
  return { status: res.status, body: (await res.json()) as Required<HealthCheckResult> };
}

describe('demo app: GET /health and GET /metrics', () => {
  let demo: DemoApp;
  let origin: string;

  beforeAll(async () => {
    demo = await startDemoApp();
    origin = demo.origin;
  });

  afterAll(async () => {
    await demo?.close();
  });

  it('answers 200 naming s3 and redis when both answer, without a token', async () => {
    const { status, body } = await getHealth(origin);
    expect(status).toBe(200);
    expect(body.status).toBe('ok');
    expect(body.info.s3).toEqual(expect.objectContaining({ status: 'up', bucket: DEMO_ENV.S3_BUCKET }));
    const masters = serviceEnv().redisUrls.length;
    expect(body.info.redis).toEqual(expect.objectContaining({ status: 'up', masters, answering: masters }));
  });

  it('counts a tus upload: requests, bytes, uploads, S3 calls and lock waits; and requests the guard refused', async () => {
    const data = randomBytes(2 * MiB + 3);
    const url = await uploadWithTusClient(data, {
      endpoint: `${origin}${DEMO_ENV.TUS_PATH}`,
      chunkSize: MiB,
      headers: { ...DEMO_AUTH },
    });
    // The POST took the upload's lock at once and kept it for the PATCHes, the last one for its delivery record: no
    // request waited for it. A HEAD afterwards takes it anew (once the record let it go).
    const head = await fetch(url, { method: 'HEAD', headers: { 'Tus-Resumable': '1.0.0', ...DEMO_AUTH } });
    expect(head.status).toBe(200);
    expect(head.headers.get('upload-offset')).toBe(String(data.length));
    const refused = await fetch(`${origin}${DEMO_ENV.TUS_PATH}`, {
      method: 'POST',
      headers: { 'Tus-Resumable': '1.0.0' },
    });
    expect(refused.status).toBe(401);
    expect((await fetch(`${origin}/metrics`)).status).toBe(401); // behind the token too

    const scrape = async () => {
      const res = await fetch(`${origin}/metrics`, { headers: DEMO_AUTH });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('text/plain');
      return parseExposition(await res.text());
    };
    // The last answer is counted when the server has finished sending it, which may be just after the client has it.
    const samples = await eventually(scrape, (s) => total(s, 'tus_requests_total', { method: 'PATCH' }) >= 3);

    expect(total(samples, 'tus_requests_total', { method: 'POST', status: '201' })).toBe(1);
    expect(total(samples, 'tus_requests_total', { method: 'POST', status: '401' })).toBe(1);
    expect(total(samples, 'tus_requests_total', { method: 'PATCH', status: '204' })).toBe(3);
    const byteCounters = [...new Set(samples.map((s) => s.name))].filter(
      (name) => name.startsWith('tus_') && name.includes('bytes') && name.endsWith('_total'),
    );
    expect(byteCounters).toEqual(['tus_received_bytes_total']);
    expect(total(samples, 'tus_received_bytes_total')).toBe(data.length);
    expect(total(samples, 'tus_uploads_created_total')).toBe(1);
    expect(total(samples, 'tus_uploads_finished_total')).toBe(1);
    expect(total(samples, 'tus_upload_duration_seconds_count')).toBe(1);
    expect(total(samples, 'tus_s3_request_duration_seconds_count', { outcome: 'success' })).toBeGreaterThan(0);
    // Smaller than a part, it was stored whole: PutObjects only (journals, chunks, the final object).
    expect(total(samples, 'tus_s3_request_duration_seconds_count', { operation: 'PutObject' })).toBeGreaterThan(0);
    expect(total(samples, 'tus_s3_request_duration_seconds_count', { operation: 'CreateMultipartUpload' })).toBe(0);
    expect(total(samples, 'tus_s3_request_duration_seconds_count', { operation: 'CompleteMultipartUpload' })).toBe(0);
    // The HEAD's wait for the lock (lock.keepMs kept it for the requests before, and for the delivery record).
    expect(total(samples, 'tus_lock_wait_seconds_count', { outcome: 'acquired' })).toBeGreaterThanOrEqual(1);
  });

  it('reports the bytes held back in Redis, read from Redis at each scrape', async () => {
    const held = async () => {
      const res = await fetch(`${origin}/metrics`, { headers: DEMO_AUTH });
      return total(parseExposition(await res.text()), 'tus_redis_held_bytes');
    };
    const endpoint = `${origin}${DEMO_ENV.TUS_PATH}`;
    const tus = { 'Tus-Resumable': '1.0.0', ...DEMO_AUTH };
    const before = await held();
    const created = await fetch(endpoint, { method: 'POST', headers: { ...tus, 'Upload-Length': String(3 * MiB) } });
    expect(created.status).toBe(201);
    const url = new URL(created.headers.get('location')!, endpoint).toString();
    const patched = await fetch(url, {
      method: 'PATCH',
      headers: { ...tus, 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' },
      body: randomBytes(MiB), // less than a part: held back in Redis (the demo's TUS_HOLD_BACK_IN)
    });
    expect(patched.status).toBe(204);
    expect(await held()).toBe(before + MiB);
    expect((await fetch(url, { method: 'DELETE', headers: tus })).status).toBe(204);
    expect(await held()).toBe(before);
  });
});

describe('GET /health when a dependency does not answer', () => {
  let master: RedisMaster;
  let withRedis: TestApp;
  let missingBucket: TestApp;

  beforeAll(async () => {
    await waitForRedisServerBinary();
    [master] = (await freePorts(1, 6520)).map((port) => new RedisMaster(port));
    await master.start();
    const health = { imports: [TerminusModule.forRoot({ logger: false })], controllers: [HealthController] };
    withRedis = await startTestApp({
      ...health,
      options: { redis: { urls: [master.url] }, metrics: { registry: new Registry() } },
    });
    missingBucket = await startTestApp({
      ...health,
      options: { bucket: `tus-e2e-missing-${randomBytes(4).toString('hex')}`, createBucket: false, metrics: false },
    });
  });

  afterAll(async () => {
    await withRedis?.close();
    await missingBucket?.close();
    await master?.stop();
  });

  it('answers 503 naming redis while its only lock master is down, 200 again once it is back', async () => {
    expect((await getHealth(withRedis.origin)).status).toBe(200);
    await master.stop();

    const down = await getHealth(withRedis.origin);
    expect(down.status).toBe(503);
    expect(down.body.status).toBe('error');
    expect(Object.keys(down.body.error)).toEqual(['redis']);
    expect(down.body.error.redis).toEqual(
      expect.objectContaining({
        status: 'down',
        message: '0 of 1 Redis lock masters answered PING, 1 are needed for a lock',
      }),
    );
    expect(down.body.info.s3?.status).toBe('up');

    await master.start();
    const back = await eventually(
      () => getHealth(withRedis.origin),
      (h) => h.status === 200,
    );
    expect(back.body.info.redis?.status).toBe('up');
  });

  it('answers 503 naming s3 when the bucket does not answer HeadBucket (and redis up without Redis)', async () => {
    const { status, body } = await getHealth(missingBucket.origin);
    expect(status).toBe(503);
    expect(Object.keys(body.error)).toEqual(['s3']);
    expect(body.error.s3?.message).toMatch(/^bucket tus-e2e-missing-\w+ did not answer HeadBucket: NotFound, HTTP 404/);
    expect(body.info.redis?.status).toBe('up');
    expect(body.info.redis?.message).toMatch(/no Redis/);
  });
});
