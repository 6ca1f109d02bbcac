import { randomBytes } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import { TUS_S3_CLIENT } from '@nestjs-tus/s3';
import Redis from 'ioredis';
import { waitFor } from './support/eventually';
import { createUpload, headOffset, patch, rawRequest, TUS } from './support/raw-http';
import { heldKeys, heldRun } from './support/redis-runs';
import { serviceEnv } from './support/s3-env';
import { MiB, startTestApp, TestApp } from './support/test-app';
import { idOf, uploadWithTusClient } from './support/tus-client';

/** `holdBackIn: 'redis'`: bytes below a part wait in Redis, not in S3 chunk objects. */
/** Two instances sharing a bucket prefix and Redis, with held-back bytes in Redis under a fresh key prefix. */
function redisPair() {
  const pair = {} as { a: TestApp; b: TestApp; redis: Redis; keyPrefix: string };
  beforeAll(async () => {
    const env = serviceEnv();
    if (env.redisUrls.length === 0) throw new Error('REDIS_URLS is not set: run through `npm test`');
    pair.keyPrefix = `tus-e2e-${randomBytes(3).toString('hex')}:`;
    const options = { holdBackIn: 'redis' as const, redis: { urls: env.redisUrls, keyPrefix: pair.keyPrefix } };
    pair.a = await startTestApp({ options });
    pair.b = await startTestApp({ options: { ...options, objectPrefix: pair.a.prefix } });
    pair.redis = new Redis(env.redisUrls[0]);
  });
  afterAll(async () => {
    await pair.a?.close();
    await pair.b?.close();
    pair.redis?.disconnect();
  });
  return pair;
}

describe('held-back bytes in Redis', () => {
  const t = redisPair();

  const held = (id: string) => heldKeys(t.redis, t.keyPrefix, id);

  it('keeps small PATCHes in Redis and writes the journal only when a part is added', async () => {
    const data = randomBytes(17 * MiB + 7); // above storeWholeUpTo: its multipart upload was created with it
    const url = await createUpload(t.a.endpoint, data.length);
    const id = idOf(url);
    const infoAtStart = await t.a.s3.bytes(`${t.a.prefix}${id}.info`);

    expect((await patch(url, 0, data.subarray(0, MiB))).status).toBe(204);
    expect(await t.a.s3.keys(`${t.a.prefix}${id}`)).toEqual([`${t.a.prefix}${id}.info`]); // no chunk object
    expect((await t.a.s3.bytes(`${t.a.prefix}${id}.info`)).equals(infoAtStart)).toBe(true); // journal untouched
    expect((await heldRun(t.redis, t.keyPrefix, id))?.equals(data.subarray(0, MiB))).toBe(true);
    expect((await headOffset(url)).offset).toBe(MiB);

    // The rest through the other instance, in 1 MiB PATCHes.
    const rest = await uploadWithTusClient(data, { uploadUrl: url.replace(t.a.origin, t.b.origin), chunkSize: MiB });
    expect(idOf(rest)).toBe(id);
    expect((await t.a.s3.bytes(`${t.a.prefix}${id}`)).equals(data)).toBe(true);
    expect(await t.a.s3.keys(`${t.a.prefix}${id}`)).toEqual([`${t.a.prefix}${id}`, `${t.a.prefix}${id}.info`]);
    expect(await held(id)).toEqual([]);
  });

  it('gives an upload that could be stored whole its parts at its first small PATCH, then uploads them in the background', async () => {
    const data = randomBytes(12 * MiB + 3);
    const url = await createUpload(t.a.endpoint, data.length);
    const id = idOf(url);
    expect(await t.a.s3.info(`${t.a.prefix}${id}.info`)).toMatchObject({ multipartUploadId: null });
    expect((await patch(url, 0, data.subarray(0, MiB))).status).toBe(204);
    // The journal names the multipart upload before any part can go to it.
    expect((await t.a.s3.info(`${t.a.prefix}${id}.info`)).multipartUploadId).toEqual(expect.any(String));
    for (let offset = MiB; offset < 10 * MiB; offset += MiB)
      expect((await patch(url, offset, data.subarray(offset, offset + MiB))).status).toBe(204);
    // A part's worth is held: the flusher uploads it before the last PATCH comes.
    await waitFor(async () => (await t.redis.hlen(`${t.keyPrefix}flushed:${id}`)) >= 1, 10_000);
    await uploadWithTusClient(data, { uploadUrl: url, chunkSize: MiB });
    expect((await t.a.s3.bytes(`${t.a.prefix}${id}`)).equals(data)).toBe(true);
    expect((await t.a.s3.head(`${t.a.prefix}${id}`)).ETag).toMatch(/^"[0-9a-f]{32}-2"$/);
    expect(await held(id)).toEqual([]);
  });

  it('stores an upload of up to two parts whole when one PATCH brings it: no multipart upload, nothing in Redis', async () => {
    const data = randomBytes(12 * MiB + 3);
    const url = await uploadWithTusClient(data, { endpoint: t.a.endpoint });
    const id = idOf(url);
    expect((await t.a.s3.bytes(`${t.a.prefix}${id}`)).equals(data)).toBe(true);
    expect((await t.a.s3.head(`${t.a.prefix}${id}`)).ETag).toMatch(/^"[0-9a-f]{32}"$/);
    expect(await t.a.s3.multipartUploads(`${t.a.prefix}${id}`)).toBe(0);
    expect(await t.redis.keys(`${t.keyPrefix}*${id}*`)).toEqual([]);
  });

  it('falls back to the bytes in parts when Redis lost the held-back bytes, and the client resends them', async () => {
    const data = randomBytes(8 * MiB + 2 * MiB + 5);
    const url = await createUpload(t.a.endpoint, data.length);
    const id = idOf(url);
    expect((await patch(url, 0, data.subarray(0, 8 * MiB + MiB))).status).toBe(204); // one 8 MiB part + 1 MiB held
    expect((await headOffset(url)).offset).toBe(9 * MiB);
    await t.redis.del(await held(id)); // Redis restarted without persistence

    expect((await headOffset(url)).offset).toBe(8 * MiB);
    await uploadWithTusClient(data, { uploadUrl: url, chunkSize: MiB });
    expect((await t.a.s3.bytes(`${t.a.prefix}${id}`)).equals(data)).toBe(true);
  });

  it('recovers when Redis lost some segments of a run it still has: 503, then HEAD gives the parts, and resuming works', async () => {
    const data = randomBytes(8 * MiB + 3 * MiB + 5);
    const url = await createUpload(t.a.endpoint, data.length);
    const id = idOf(url);
    expect((await patch(url, 0, data.subarray(0, 9 * MiB))).status).toBe(204); // one 8 MiB part + 1 MiB held
    expect((await patch(url, 9 * MiB, data.subarray(9 * MiB, 10 * MiB))).status).toBe(204);
    await t.redis.del(await t.redis.keys(`${t.keyPrefix}seg:${id}:*`)); // evicted, say; the run's index is still there
    // Through the other instance, which has no copy of the segments in memory. It completes the upload, so it cuts the
    // run into the last parts.
    const last = await patch(url.replace(t.a.origin, t.b.origin), 10 * MiB, data.subarray(10 * MiB));
    expect(last.status).toBe(503);
    expect(last.body).toContain('HEAD');
    expect((await headOffset(url)).offset).toBe(8 * MiB);
    await uploadWithTusClient(data, { uploadUrl: url, chunkSize: MiB });
    expect((await t.a.s3.bytes(`${t.a.prefix}${id}`)).equals(data)).toBe(true);
    expect(await held(id)).toEqual([]);
  });

  it('cuts an upload of known length with a short last part: the PATCH that completes it uploads only that one', async () => {
    const data = randomBytes(20 * MiB + 5); // in 8 MiB parts, the last would hold 4 MiB
    const url = await createUpload(t.a.endpoint, data.length);
    const id = idOf(url);
    const partSize = Math.floor((data.length - 3 * MiB) / 3); // 3 parts of 5.67 MiB, then 3 MiB
    expect(await t.a.s3.info(`${t.a.prefix}${id}.info`)).toMatchObject({ partSize });
    const last = data.length - MiB;
    for (let offset = 0; offset < last; offset += MiB)
      expect((await patch(url, offset, data.subarray(offset, Math.min(offset + MiB, last)))).status).toBe(204);
    // The parts before the last one go up in the background while the client sends.
    await waitFor(async () => (await t.redis.hlen(`${t.keyPrefix}flushed:${id}`)) === 3, 10_000);

    const client = t.a.app.get<S3Client>(TUS_S3_CLIENT);
    const sent: Array<{ part: number; bytes: number }> = [];
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as { PartNumber?: number; ContentLength?: number };
        if (context.commandName === 'UploadPartCommand')
          sent.push({ part: input.PartNumber!, bytes: input.ContentLength! });
        return next(args);
      },
      { step: 'initialize', name: 'uploadPartsOfTheLastPatch' },
    );
    try {
      expect((await patch(url, last, data.subarray(last))).status).toBe(204);
    } finally {
      client.middlewareStack.remove('uploadPartsOfTheLastPatch');
    }
    expect(sent).toEqual([{ part: 4, bytes: data.length - 3 * partSize }]);
    expect(data.length - 3 * partSize).toBeLessThan(3 * MiB + 3);
    expect((await t.a.s3.bytes(`${t.a.prefix}${id}`)).equals(data)).toBe(true);
    expect((await t.a.s3.head(`${t.a.prefix}${id}`)).ETag).toMatch(/^"[0-9a-f]{32}-4"$/);
    expect(await held(id)).toEqual([]);
  });

  it('cuts a PATCH of at least 5 MiB into a short part, unless a background part upload is announced', async () => {
    const data = randomBytes(2 * (5 * MiB + 1) + 3);
    const url = await createUpload(t.a.endpoint, data.length);
    const id = idOf(url);
    expect((await patch(url, 0, data.subarray(0, 5 * MiB + 1))).status).toBe(204);
    expect((await t.a.s3.info(`${t.a.prefix}${id}.info`)).parts).toEqual([
      expect.objectContaining({ partNumber: 1, size: 5 * MiB + 1 }),
    ]);

    // A flusher of another instance said it is at work: part 2 could be on its way as a full 8 MiB part.
    await t.redis.set(`${t.keyPrefix}flushing:${id}`, '1', 'PX', 60_000);
    expect((await patch(url, 5 * MiB + 1, data.subarray(5 * MiB + 1, 2 * (5 * MiB + 1)))).status).toBe(204);
    expect((await t.a.s3.info(`${t.a.prefix}${id}.info`)).parts).toHaveLength(1);
    expect(
      (await heldRun(t.redis, t.keyPrefix, id, 5 * MiB + 1))?.equals(data.subarray(5 * MiB + 1, 2 * (5 * MiB + 1))),
    ).toBe(true);
    await t.redis.del(`${t.keyPrefix}flushing:${id}`);

    expect((await patch(url, 2 * (5 * MiB + 1), data.subarray(2 * (5 * MiB + 1)))).status).toBe(204);
    expect((await t.a.s3.bytes(`${t.a.prefix}${id}`)).equals(data)).toBe(true);
  });

  it('lets only one of two racing small PATCHes append', async () => {
    for (let round = 0; round < 5; round++) {
      const size = 2 * MiB;
      const url = await createUpload(t.a.endpoint, size);
      const mine = randomBytes(MiB);
      const theirs = randomBytes(MiB);
      const [first, second] = await Promise.all([
        patch(url, 0, mine),
        patch(url.replace(t.a.origin, t.b.origin), 0, theirs),
      ]);
      for (const s of [first.status, second.status]) expect([204, 409, 423]).toContain(s);
      const { offset } = await headOffset(url);
      const winner = first.status === 204 && Number(first.headers['upload-offset']) === offset ? mine : theirs;
      const run = await heldRun(t.redis, t.keyPrefix, idOf(url));
      expect(run!.equals(winner.subarray(0, offset))).toBe(true);
    }
  });

  it('finishes a deferred-length upload whose tail is held in Redis when the length is declared', async () => {
    const data = randomBytes(3 * MiB);
    const created = await rawRequest(t.a.endpoint, 'POST', { ...TUS, 'Upload-Defer-Length': '1' });
    const url = created.headers.location as string;
    expect((await patch(url, 0, data)).status).toBe(204);
    const declared = await rawRequest(url, 'PATCH', {
      ...TUS,
      'Content-Type': 'application/offset+octet-stream',
      'Upload-Offset': String(data.length),
      'Upload-Length': String(data.length),
      'Content-Length': '0',
    });
    expect(declared.status).toBe(204);
    expect((await t.a.s3.bytes(`${t.a.prefix}${idOf(url)}`)).equals(data)).toBe(true);
    expect(await held(idOf(url))).toEqual([]);
  });
});

describe('held-back bytes in Redis, across instances, with background part uploads', () => {
  const t = redisPair();

  it('stores the right bytes when 1 MiB PATCHes alternate between instances over many parts', async () => {
    const data = randomBytes(27 * MiB + 11);
    const url = await createUpload(t.a.endpoint, data.length);
    const id = idOf(url);
    const instances = [url, url.replace(t.a.origin, t.b.origin)];
    for (let offset = 0, i = 0; offset < data.length; offset += MiB, i++) {
      const res = await patch(instances[i % 2], offset, data.subarray(offset, offset + MiB));
      expect(res.status).toBe(204);
      expect(Number(res.headers['upload-offset'])).toBe(Math.min(offset + MiB, data.length));
    }
    expect((await t.a.s3.bytes(`${t.a.prefix}${id}`)).equals(data)).toBe(true);
    const info = await t.a.s3.info(`${t.a.prefix}${id}.info`);
    // In 8 MiB parts the last would hold 3 MiB + 11: 4 parts of a little over 6 MiB instead, then 3 MiB + 3.
    const partSize = 6 * MiB + 2;
    expect((info.parts as Array<{ size: number }>).map((p) => p.size)).toEqual([
      partSize,
      partSize,
      partSize,
      partSize,
      3 * MiB + 3,
    ]);
    // Finished: nothing of it is left in Redis (run, flushed-part records, journal version).
    expect(await t.redis.keys(`${t.keyPrefix}*${id}*`)).toEqual([]);
  });

  it('uploads full parts in the background, adopts them, and leaves the journal in S3 alone until several gathered', async () => {
    const data = randomBytes(19 * MiB); // 8 MiB parts: its last part is short already (3 MiB)
    const url = await createUpload(t.a.endpoint, data.length);
    const id = idOf(url);
    expect(await t.a.s3.info(`${t.a.prefix}${id}.info`)).toMatchObject({ partSize: 8 * MiB });
    for (let offset = 0; offset < 17 * MiB; offset += MiB) {
      expect((await patch(url, offset, data.subarray(offset, offset + MiB))).status).toBe(204);
    }
    // Two parts' worth are held: the flusher uploads them without any further request.
    await waitFor(async () => (await t.redis.hlen(`${t.keyPrefix}flushed:${id}`)) >= 1, 10_000);
    expect((await headOffset(url)).offset).toBe(17 * MiB);
    // The next PATCH adopts them and drops their bytes from Redis; the journal in S3 is only written once several
    // parts have gathered (until then Redis records them), so it still lists none.
    expect((await patch(url, 17 * MiB, data.subarray(17 * MiB, 18 * MiB))).status).toBe(204);
    expect((await t.a.s3.info(`${t.a.prefix}${id}.info`)).parts).toEqual([]);
    const run = await t.redis.get(`${t.keyPrefix}run:${id}:0`);
    expect(run).toMatch(/^0{8}18874368~,(8388608|16777216);/); // 18 MiB held in all, the first part's or two parts' trimmed
    await uploadWithTusClient(data, { uploadUrl: url, chunkSize: MiB });
    expect((await t.a.s3.bytes(`${t.a.prefix}${id}`)).equals(data)).toBe(true);
    expect(await heldKeys(t.redis, t.keyPrefix, id)).toEqual([]);
  });

  it('forgets everything in Redis when the upload is terminated', async () => {
    const url = await createUpload(t.a.endpoint, 10 * MiB);
    const id = idOf(url);
    expect((await patch(url, 0, randomBytes(MiB))).status).toBe(204);
    expect((await rawRequest(url, 'DELETE', { ...TUS })).status).toBe(204);
    expect(await t.redis.keys(`${t.keyPrefix}*${id}*`)).toEqual([]);
    expect((await headOffset(url)).status).toBe(404);
  });
});
