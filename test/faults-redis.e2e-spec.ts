import { createHash, randomBytes } from 'node:crypto';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { createUpload, headOffset, patch } from './support/raw-http';
import { freezeMidway } from './support/freeze-midway';
import { freePorts, RedisMaster, waitForRedisServerBinary } from './support/redis-masters';
import { MiB, startTestApp, TestApp } from './support/test-app';
import { idOf, uploadWithTusClient } from './support/tus-client';

/**
 * Faults of Redis while uploads run, on a redis-server of this test's own (never the shared one): paused (SIGSTOP,
 * a hung host that keeps its connections) and restarted without persistence. test/multi-instance.e2e-spec.ts covers
 * masters stopped and restarted with held bytes in S3; here: a pause in both modes, and a restart that loses bytes
 * held in Redis. The server may answer 503 meanwhile; it must not hang, must not claim bytes it lost, and every
 * upload ends byte-identical.
 */

const RETRIES = [0, 300, 600, 1000, 1000, 1000, 1000, 1000, 1000];

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

describe('Redis paused and restarted', () => {
  let redis: RedisMaster;
  const apps = new Map<'s3' | 'redis', TestApp>();
  /** Held back in S3, with locks kept between requests (the default). */
  let keeping: TestApp;

  beforeAll(async () => {
    await waitForRedisServerBinary();
    redis = new RedisMaster((await freePorts(1, 6420))[0]);
    await redis.start();
    // Locks are not kept between requests here (lock.keepMs: 0): every request needs Redis, so a pause is felt.
    for (const holdBackIn of ['s3', 'redis'] as const) {
      const options = { holdBackIn, redis: { urls: [redis.url] }, lock: { keepMs: 0 } };
      apps.set(holdBackIn, await startTestApp({ options }));
    }
    keeping = await startTestApp({ options: { redis: { urls: [redis.url] } } });
  });

  afterAll(async () => {
    redis?.thaw();
    for (const app of [...apps.values(), keeping]) {
      if (!app) continue;
      for (const key of await app.s3.keys(app.prefix))
        await app.s3.client.send(new DeleteObjectCommand({ Bucket: app.s3.bucket, Key: key }));
      await app.close();
    }
    await redis?.stop();
  });

  it.each(['s3', 'redis'] as const)(
    'finishes byte-identical when Redis pauses for 4 s in the middle of an upload (held back in %s)',
    async (holdBackIn) => {
      const app = apps.get(holdBackIn)!;
      const data = randomBytes(14 * MiB + 1);
      const pause = freezeMidway(redis, 4 * MiB);
      let failures = 0;
      const url = await uploadWithTusClient(data, {
        endpoint: app.endpoint,
        chunkSize: 2 * MiB,
        retryDelays: RETRIES,
        onAfterResponse: (_, res) => void (res.getStatus() >= 500 && failures++),
        onChunkComplete: pause.onChunkComplete,
      });
      await pause.thawed;
      expect(pause.frozen).toBe(true);
      expect(failures).toBeGreaterThan(0); // the pause was felt: requests were refused meanwhile, not hung
      expect(sha256(await app.s3.bytes(`${app.prefix}${idOf(url)}`))).toBe(sha256(data));
    },
  );

  it('finishes byte-identical when Redis pauses with locks kept between requests, hanging nothing', async () => {
    const data = randomBytes(14 * MiB + 1);
    const pause = freezeMidway(redis, 4 * MiB);
    const startedAt = Date.now();
    const url = await uploadWithTusClient(data, {
      endpoint: keeping.endpoint,
      chunkSize: 2 * MiB,
      retryDelays: RETRIES,
      onChunkComplete: pause.onChunkComplete,
    });
    await pause.thawed; // the upload may be done before the pause is over: the next test needs Redis back
    expect(pause.frozen).toBe(true);
    // PATCHes may go on under the kept lock, valid until its TTL whatever Redis does, or be refused once its
    // extension fails; either way the upload ends well within the pause plus the client's retries.
    expect(Date.now() - startedAt).toBeLessThan(20_000);
    expect(sha256(await keeping.s3.bytes(`${keeping.prefix}${idOf(url)}`))).toBe(sha256(data));
  });

  it('is honest about bytes held in a Redis that restarted without them: HEAD falls back to the parts, the client resends', async () => {
    const app = apps.get('redis')!;
    const data = randomBytes(20 * MiB + 3);
    const url = await createUpload(app.endpoint, data.length);
    // 10 MiB in 1 MiB PATCHes: all held in Redis, an 8 MiB part uploaded from there in the background.
    for (let at = 0; at < 10 * MiB; at += MiB)
      expect((await patch(url, at, data.subarray(at, at + MiB))).status).toBe(204);
    expect((await headOffset(url)).offset).toBe(10 * MiB);

    await redis.stop();
    await redis.start();

    // Whatever survived is in S3's journal: HEAD answers that (a multiple of the part size, at most what was
    // acknowledged), once the app reconnected; never more than it can prove.
    let head = await headOffset(url);
    const deadline = Date.now() + 10_000;
    while (head.status !== 200 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      head = await headOffset(url);
    }
    expect(head.status).toBe(200);
    expect(head.offset % (8 * MiB)).toBe(0);
    expect(head.offset).toBeLessThan(10 * MiB);
    const journal = (await app.s3.info(`${app.prefix}${idOf(url)}.info`)) as { parts: Array<{ size: number }> };
    expect(head.offset).toBe(journal.parts.reduce((sum, part) => sum + part.size, 0));

    await uploadWithTusClient(data, { uploadUrl: url, chunkSize: MiB, retryDelays: RETRIES });
    expect(sha256(await app.s3.bytes(`${app.prefix}${idOf(url)}`))).toBe(sha256(data));
  });
});
