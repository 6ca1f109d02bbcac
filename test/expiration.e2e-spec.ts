import { randomBytes } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectTaggingCommand,
  ListMultipartUploadsCommand,
} from '@aws-sdk/client-s3';
import { SweepReport, TusSweeper } from '@nestjs-tus/s3';
import Redis from 'ioredis';
import { waitFor } from './support/eventually';
import { call } from './support/raw-http';
import { heldKeys } from './support/redis-runs';
import { serviceEnv } from './support/s3-env';
import { startTestApp, TestApp } from './support/test-app';

/**
 * The expiration extension and the sweeper against the real RGW and Redis: Upload-Expires, 410 once expired, the
 * sweep removing every trace of expired uploads and crash orphans while finished uploads stay, tags for lifecycle
 * rules, and the Redis lease keeping two instances from sweeping at once.
 */

const EXPIRE_MS = 1500;
const OFFSET_STREAM = { 'Content-Type': 'application/offset+octet-stream' };
let a: TestApp;
/** A second instance on the same bucket, prefix and Redis: it competes with `a` for the sweep lease. */
let b: TestApp;
/** Sweeps on its own timer. */
let timed: TestApp;
/** Holds small PATCHes in Redis. */
let inRedis: TestApp;

beforeAll(async () => {
  const options = { expireAfterMs: EXPIRE_MS, sweepMaxCallsPerMinute: 60_000 };
  a = await startTestApp({ redis: true, options });
  b = await startTestApp({ redis: true, options: { ...options, objectPrefix: a.prefix } });
  timed = await startTestApp({ redis: true, options: { ...options, sweepEveryMs: 500 } });
  inRedis = await startTestApp({ redis: true, options: { ...options, holdBackIn: 'redis' } });
});

afterAll(async () => {
  for (const t of [a, timed, inRedis]) {
    if (!t) continue;
    const uploads = await t.s3.client.send(new ListMultipartUploadsCommand({ Bucket: t.s3.bucket, Prefix: t.prefix }));
    for (const u of uploads.Uploads ?? []) {
      await t.s3.client.send(
        new AbortMultipartUploadCommand({ Bucket: t.s3.bucket, Key: u.Key, UploadId: u.UploadId }),
      );
    }
    for (const key of await t.s3.keys(t.prefix))
      await t.s3.client.send(new DeleteObjectCommand({ Bucket: t.s3.bucket, Key: key }));
  }
  await Promise.all([a?.close(), b?.close(), timed?.close(), inRedis?.close()]);
});

async function create(t: TestApp, size: number) {
  const reply = await call('POST', t.endpoint, { 'Upload-Length': size });
  expect(reply.status).toBe(201);
  return { url: reply.get('location')!, id: new URL(reply.get('location')!).pathname.split('/').pop()!, reply };
}

async function tagsOf(t: TestApp, key: string): Promise<Record<string, string>> {
  const { TagSet } = await t.s3.client.send(new GetObjectTaggingCommand({ Bucket: t.s3.bucket, Key: key }));
  return Object.fromEntries((TagSet ?? []).map((tag) => [tag.Key, tag.Value]));
}

it('OPTIONS lists expiration', async () => {
  const reply = await call('OPTIONS', a.endpoint, { 'Tus-Resumable': undefined });
  expect(reply.get('tus-extension')!.split(',')).toContain('expiration');
});

it('announces Upload-Expires, answers 410 once expired, and a sweep removes it all while a finished upload stays', async () => {
  const startedAt = Date.now();
  const open = await create(a, 10 * 1024 * 1024);
  const expires = open.reply.get('upload-expires')!;
  expect(expires).toMatch(/^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
  expect(Date.parse(expires)).toBeGreaterThan(startedAt - 1000);
  expect(Date.parse(expires)).toBeLessThanOrEqual(startedAt + EXPIRE_MS + 1000);
  const patched = await call('PATCH', open.url, { 'Upload-Offset': 0, ...OFFSET_STREAM }, Buffer.alloc(1024, 7));
  expect(patched.status).toBe(204);
  expect(patched.get('upload-expires')).toBe(expires);
  const head = await call('HEAD', open.url);
  expect(head.status).toBe(200);
  expect(head.get('upload-expires')).toBe(expires);

  const finished = await create(a, 3);
  expect((await call('PATCH', finished.url, { 'Upload-Offset': 0, ...OFFSET_STREAM }, 'abc')).status).toBe(204);
  expect((await call('HEAD', finished.url)).get('upload-expires')).toBeUndefined();

  // Tags for lifecycle rules: the unfinished upload's .info and chunk carry tus-incomplete=true, a finished .info none.
  const openKeys = (await a.s3.keys(`${a.prefix}${open.id}`)).filter((key) => key !== `${a.prefix}${open.id}`);
  expect(openKeys.some((key) => key.includes('.chunk.'))).toBe(true);
  for (const key of openKeys) expect(await tagsOf(a, key)).toEqual({ 'tus-incomplete': 'true' });
  expect(await tagsOf(a, `${a.prefix}${finished.id}.info`)).toEqual({});

  // An orphan: a multipart upload under the prefix that no .info claims (a crash during creation).
  const orphanKey = `${a.prefix}orphan${randomBytes(4).toString('hex')}`;
  await a.s3.client.send(new CreateMultipartUploadCommand({ Bucket: a.s3.bucket, Key: orphanKey }));

  await new Promise((resolve) => setTimeout(resolve, Math.max(0, startedAt + EXPIRE_MS + 1100 - Date.now())));
  const gone = await call('HEAD', open.url);
  expect(gone.status).toBe(410);
  expect((await call('PATCH', open.url, { 'Upload-Offset': 1024, ...OFFSET_STREAM }, 'x')).status).toBe(410);
  const get = await call('GET', open.url);
  expect(get.status).toBe(410);
  expect(get.text).toMatch(/expired/);

  const report = await a.app.get(TusSweeper).sweepNow();
  expect(report).toMatchObject({ ran: true, complete: true, failures: 0 });
  expect(report.terminated).toEqual([open.id]);
  expect(report.abortedOrphans).toEqual([orphanKey]);
  expect(await a.s3.keys(`${a.prefix}${open.id}`)).toEqual([]);
  expect(await a.s3.multipartUploads(`${a.prefix}${open.id}`)).toBe(0);
  expect(await a.s3.multipartUploads(orphanKey)).toBe(0);
  expect((await call('HEAD', open.url)).status).toBe(404);
  expect(await a.s3.keys(`${a.prefix}${finished.id}`)).toEqual([
    `${a.prefix}${finished.id}`,
    `${a.prefix}${finished.id}.info`,
  ]);
  expect((await call('GET', finished.url)).text).toBe('abc');
});

it('two instances sweeping at once never both run a sweep (the Redis lease)', async () => {
  for (let round = 0; round < 5; round++) {
    const reports: SweepReport[] = await Promise.all([
      a.app.get(TusSweeper).sweepNow(),
      b.app.get(TusSweeper).sweepNow(),
    ]);
    expect(reports.filter((report) => report.ran)).toHaveLength(1);
  }
});

it('sweeps on its own every sweepEveryMs', async () => {
  const open = await create(timed, 100);
  expect((await call('PATCH', open.url, { 'Upload-Offset': 0, ...OFFSET_STREAM }, 'abc')).status).toBe(204);
  await waitFor(async () => (await timed.s3.keys(`${timed.prefix}${open.id}`)).length === 0, 10_000);
  expect(await timed.s3.multipartUploads(`${timed.prefix}${open.id}`)).toBe(0);
});

it('a sweep also deletes the bytes an expired upload held in Redis', async () => {
  const redis = new Redis(serviceEnv().redisUrls[0]);
  try {
    const open = await create(inRedis, 10 * 1024 * 1024);
    expect(
      (await call('PATCH', open.url, { 'Upload-Offset': 0, ...OFFSET_STREAM }, Buffer.alloc(4096, 1))).status,
    ).toBe(204);
    expect((await heldKeys(redis, 'tus:', open.id)).length).toBeGreaterThan(0);
    await new Promise((resolve) => setTimeout(resolve, EXPIRE_MS + 1100));
    const report = await inRedis.app.get(TusSweeper).sweepNow();
    expect(report.terminated).toEqual([open.id]);
    expect(await heldKeys(redis, 'tus:', open.id)).toEqual([]);
    expect(await inRedis.s3.keys(`${inRedis.prefix}${open.id}`)).toEqual([]);
    expect(await inRedis.s3.multipartUploads(`${inRedis.prefix}${open.id}`)).toBe(0);
  } finally {
    redis.disconnect();
  }
});
