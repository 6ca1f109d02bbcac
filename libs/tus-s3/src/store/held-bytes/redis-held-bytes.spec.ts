/**
 * RedisHeldBytes, the `holdBackIn: 'redis'` strategy, through the S3Store it serves: a real redis-server started
 * here, S3 in memory. What the end-to-end suite checks over HTTP, here close to the code: small bodies go to Redis
 * and leave the journal alone, parts are flushed in the background and adopted, lost bytes lower the offset, and
 * the strategy's own connection is closed on shutdown.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { S3Client } from '@aws-sdk/client-s3';
import { EventEmitterModule } from '@nestjs/event-emitter';
import { Test } from '@nestjs/testing';
import Redis from 'ioredis';
import { FakeS3 } from '../../../../../test/support/fake-s3';
import { freePorts, RedisMaster, waitForRedisServerBinary } from '../../../../../test/support/redis-masters';
import { heldRun } from '../../../../../test/support/redis-runs';
import { MemoryLocker } from '../../locker/memory-locker';
import { TUS_HELD_BYTES } from '../../tus-s3.constants';
import { TusS3Module } from '../../tus-s3.module';
import { resolveOptions } from '../../tus-s3.options';
import { S3Objects } from '../s3-objects';
import { S3Store } from '../s3-store';
import { isHeldBytesMissing } from '../store-errors';
import { Upload } from '../tus-data-store';
import { UploadInfo } from '../upload-info';
import { createHeldBytesRedis } from './redis-client';
import { RedisHeldBytes } from './redis-held-bytes';
import { RedisRuns } from './redis-runs';

jest.setTimeout(30_000);

const KiB = 1024;
const keyPrefix = 'spec:';
const s3 = new FakeS3();
const locker = new MemoryLocker();

describe('RedisHeldBytes', () => {
  let master: RedisMaster;
  let redis: Redis;
  let held: RedisHeldBytes;
  let tus: S3Store;

  beforeAll(async () => {
    await waitForRedisServerBinary();
    const [port] = await freePorts(1, 6600);
    master = new RedisMaster(port);
    await master.start();
    redis = new Redis(master.url);
  });
  afterAll(async () => {
    held?.close();
    redis?.disconnect();
    await master?.stop();
  });
  beforeEach(async () => {
    s3.reset();
    await redis.flushall();
    held?.close();
    const options = resolveOptions({
      bucket: 'uploads',
      objectPrefix: 'p/',
      partSize: { min: 5 * KiB, preferred: 8 * KiB },
      // Small enough that an upload of deferred length gets 8 KiB parts too.
      maxSize: 64 * KiB * KiB,
      holdBackIn: 'redis',
      redis: { urls: [master.url], keyPrefix },
    });
    const client = new S3Client({ region: 'us-east-1' });
    held = new RedisHeldBytes(createHeldBytesRedis(options.redis), new S3Objects(client, options.bucket), {
      objectPrefix: options.objectPrefix,
      keyPrefix,
      minPartSize: options.minPartSize,
      equalParts: false,
    });
    let ids = 0;
    tus = new S3Store(
      client,
      options,
      { now: () => new Date('2026-01-01T00:00:00.000Z') },
      () => `upload${++ids}`,
      held,
    );
  });

  async function write(upload: Upload, data: Buffer, store = tus) {
    const lock = await locker.lock(upload.id);
    try {
      return await store.write(upload, Readable.from([data]), lock, { maxBytes: Infinity, expectedBytes: data.length });
    } finally {
      await lock.release();
    }
  }

  async function current(id: string): Promise<Upload> {
    const lock = await locker.lock(id);
    try {
      return await tus.get(id, lock);
    } finally {
      await lock.release();
    }
  }

  it('appends a small body to the run in Redis and leaves the journal in S3 alone', async () => {
    const upload = await tus.create({ size: 40 * KiB, metadataHeader: '', metadata: {} });
    const journal = s3.body('uploads/p/upload1.info');
    expect(s3.json('uploads/p/upload1.info')).toMatchObject({ heldIn: 'redis', pending: [] });
    const data = randomBytes(3 * KiB);

    const outcome = await write(upload, data);

    expect(outcome.upload.offset).toBe(3 * KiB);
    expect((await heldRun(redis, keyPrefix, 'upload1'))?.equals(data)).toBe(true);
    expect(s3.body('uploads/p/upload1.info')).toBe(journal); // not written again
    expect(s3.names('uploads/p/upload1.chunk.')).toEqual([]);
    expect((await current('upload1')).offset).toBe(3 * KiB);
  });

  it('records the delivery of an upload it finished under the same lock without reading the journal back', async () => {
    const data = randomBytes(20 * KiB); // parts, not stored whole
    const upload = await tus.create({ size: data.length, metadataHeader: '', metadata: {} });
    const lock = await locker.lock(upload.id);
    try {
      const { upload: finished } = await tus.write(upload, Readable.from([data]), lock, { maxBytes: Infinity });
      expect(finished.finishedAt).not.toBeNull();
      const gets = s3.counts().GetObject ?? 0;

      // As FinishedAnnouncements records it: the journal as it is now, under the lock the finish kept.
      await tus.markAnnounced(await tus.get(finished.id, lock), lock);

      expect(s3.counts().GetObject ?? 0).toBe(gets);
      expect(s3.json('uploads/p/upload1.info').announce).toMatchObject({ due: false });
    } finally {
      await lock.release();
    }
    expect(s3.body('uploads/p/upload1')).toEqual(data);
  });

  it('plans small bodies whole but the last, and equal parts while a flusher may be cutting them', async () => {
    const journal = { id: 'upload1', size: null, partSize: 8 * KiB, parts: [], pending: [] } as unknown as UploadInfo;
    expect(await held.planWrite(journal, 4 * KiB)).toEqual({ holdWhole: true, equalParts: true });
    expect(await held.planWrite(journal, 6 * KiB)).toEqual({ holdWhole: false, equalParts: false });
    expect(await held.planWrite(journal, undefined)).toEqual({ holdWhole: false, equalParts: false });
    const full = { ...journal, pending: [{ in: 'redis', base: 0, size: 8 * KiB, skip: 0 }] } as UploadInfo;
    expect(await held.planWrite(full, 6 * KiB)).toEqual({ holdWhole: false, equalParts: true });
    await redis.set(`${keyPrefix}flushing:upload1`, '1');
    expect(await held.planWrite(journal, 6 * KiB)).toEqual({ holdWhole: false, equalParts: true });
    // The body that completes the upload streams into the last part, after what is held (no write to Redis first).
    const ending = { ...full, size: 12 * KiB } as UploadInfo;
    expect(await held.planWrite(ending, 4 * KiB)).toEqual({ holdWhole: false, equalParts: true });
    expect(await held.planWrite(ending, 3 * KiB)).toEqual({ holdWhole: true, equalParts: true });
  });

  it('creates uploads of known length with a short last part, since their other parts upload in the background', async () => {
    const create = async (size: number | null) => {
      const upload = await tus.create({ size, metadataHeader: '', metadata: {} });
      return s3.json(`uploads/p/${upload.id}.info`).partSize;
    };
    expect(await create(20 * KiB)).toBe(Math.floor((20 * KiB - 3 * KiB) / 3)); // 3 parts of 5.67 KiB, then 3 KiB
    expect(await create(19 * KiB)).toBe(8 * KiB); // its last part is 3 KiB already
    expect(await create(null)).toBe(8 * KiB); // the length is not known yet
  });

  it('stores an upload that fits in one part whole from its run, and leaves nothing in Redis', async () => {
    const data = randomBytes(7 * KiB);
    let upload = await tus.create({ size: data.length, metadataHeader: '', metadata: {} });
    for (let offset = 0; offset < data.length; offset += 3 * KiB)
      upload = (await write(upload, data.subarray(offset, offset + 3 * KiB))).upload;

    expect(upload.finishedAt).not.toBeNull();
    expect(s3.body('uploads/p/upload1')).toEqual(data);
    expect(s3.uploads.size).toBe(0);
    expect(await redis.keys(`${keyPrefix}*`)).toEqual([]);

    // Sent in one PATCH (held whole, as a small body is, then stored): its run goes too.
    const small = randomBytes(4 * KiB);
    const one = await write(await tus.create({ size: small.length, metadataHeader: '', metadata: {} }), small);
    expect(one.upload.finishedAt).not.toBeNull();
    expect(s3.body('uploads/p/upload2')).toEqual(small);
    expect(await redis.keys(`${keyPrefix}*`)).toEqual([]);
  });

  it('uploads full parts in the background, and a later request adopts them without writing the journal yet', async () => {
    const data = randomBytes(19 * KiB); // 8 KiB parts: its last part (3 KiB) is short already
    let upload = await tus.create({ size: data.length, metadataHeader: '', metadata: {} });
    for (let offset = 0; offset < 12 * KiB; offset += 3 * KiB)
      upload = (await write(upload, data.subarray(offset, offset + 3 * KiB))).upload;
    await held.beforeApplicationShutdown(); // waits for the flusher

    expect(await redis.hlen(`${keyPrefix}flushed:upload1`)).toBe(1);
    expect(s3.uploads.get('mpu-1')!.parts.get(1)!.body).toEqual(data.subarray(0, 8 * KiB));
    const outcome = await write(await current('upload1'), data.subarray(12 * KiB, 15 * KiB));
    expect(outcome.upload.offset).toBe(15 * KiB);
    expect(s3.json('uploads/p/upload1.info').parts).toEqual([]); // adopted from Redis, saved once 8 have gathered
    expect(await redis.get(`${keyPrefix}run:upload1:0`)).toMatch(/^0{11}15360/); // the same run, grown

    await write(await current('upload1'), data.subarray(15 * KiB));
    await held.beforeApplicationShutdown();
    expect(s3.body('uploads/p/upload1')).toEqual(data);
    expect(await redis.keys(`${keyPrefix}*`)).toEqual([]);
  });

  it('lets its background part upload finish before a write that cuts parts, instead of uploading that part again', async () => {
    const data = randomBytes(19 * KiB); // 8 KiB parts: its last part (3 KiB) is short already
    let upload = await tus.create({ size: data.length, metadataHeader: '', metadata: {} });
    let partInFlight!: () => void;
    let releasePart!: () => void;
    const flushing = new Promise<void>((resolve) => (partInFlight = resolve));
    s3.beforePart = (partNumber) => {
      s3.beforePart = async () => undefined;
      expect(partNumber).toBe(1);
      partInFlight();
      return new Promise((resolve) => (releasePart = resolve));
    };
    for (let offset = 0; offset < 9 * KiB; offset += 3 * KiB)
      upload = (await write(upload, data.subarray(offset, offset + 3 * KiB))).upload;
    await flushing; // the flusher is sending part 1, and stays there until released
    for (let offset = 9 * KiB; offset < 15 * KiB; offset += 3 * KiB)
      upload = (await write(upload, data.subarray(offset, offset + 3 * KiB))).upload; // held whole: no waiting

    let completed = false;
    const last = write(upload, data.subarray(15 * KiB)).then((outcome) => ((completed = true), outcome));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(completed).toBe(false);
    releasePart();
    const outcome = await last;

    expect(outcome.upload.offset).toBe(data.length);
    expect(s3.body('uploads/p/upload1')).toEqual(data);
    expect(s3.counts().UploadPart).toBe(3); // part 1 by the flusher, parts 2 and 3 by the last write; none twice
    expect(await redis.keys(`${keyPrefix}*`)).toEqual([]);
  });

  it('keeps a length declared while its background part upload settles', async () => {
    const data = randomBytes(17 * KiB);
    let upload = await tus.create({ size: null, metadataHeader: '', metadata: {} });
    upload = (await write(upload, data.subarray(0, 8 * KiB))).upload; // part 1, by this request
    let partInFlight!: () => void;
    let releasePart!: () => void;
    const flushing = new Promise<void>((resolve) => (partInFlight = resolve));
    s3.beforePart = (partNumber) => {
      if (partNumber !== 2) return Promise.resolve();
      s3.beforePart = async () => undefined;
      partInFlight();
      return new Promise((resolve) => (releasePart = resolve));
    };
    for (let offset = 8 * KiB; offset < data.length; offset += 3 * KiB)
      upload = (await write(upload, data.subarray(offset, offset + 3 * KiB))).upload;
    await flushing; // the flusher is sending part 2, and stays there until released

    const lock = await locker.lock(upload.id);
    let declared: Upload;
    try {
      // Complete at once, its tail held: the declaration folds the tail into the last part, after the flush settled.
      const declaring = tus.declareLength(upload, data.length, lock);
      await new Promise((resolve) => setTimeout(resolve, 50));
      releasePart();
      declared = await declaring;
    } finally {
      await lock.release();
    }

    expect(declared.size).toBe(data.length);
    expect(declared.finishedAt).not.toBeNull();
    expect(s3.body('uploads/p/upload1')).toEqual(data);
    expect(s3.counts().UploadPart).toBe(3); // the flusher's part 2 adopted, not sent again
  });

  it('does not count the run a dead writer left under the base its journal moves to', async () => {
    const data = randomBytes(20 * KiB);
    const upload = await tus.create({ size: data.length, metadataHeader: '', metadata: {} });
    // Another instance cut the same first part from a body of its own, held 3 KiB after it, and died before its
    // journal landed: its run waits under the key this upload's next run will have.
    const dead = new RedisRuns(redis, keyPrefix);
    await dead.start({ uploadId: upload.id, base: 8 * KiB }, randomBytes(3 * KiB));

    const outcome = await write(upload, data.subarray(0, 8 * KiB)); // part 1, nothing held: the run moves to 8 KiB

    expect(outcome.upload.offset).toBe(8 * KiB);
    expect((await current(upload.id)).offset).toBe(8 * KiB);
    await write(await current(upload.id), data.subarray(8 * KiB));
    expect(s3.body('uploads/p/upload1')).toEqual(data);
  });

  it('keeps counting the held bytes after a declared length saves a journal with parts adopted from Redis', async () => {
    const data = randomBytes(9 * KiB);
    let upload = await tus.create({ size: null, metadataHeader: '', metadata: {} });
    upload = (await write(upload, data.subarray(0, 4 * KiB))).upload; // held whole: no multipart part yet
    for (let offset = 4 * KiB; offset < data.length; offset += (5 * KiB) / 2)
      upload = (await write(upload, data.subarray(offset, offset + (5 * KiB) / 2))).upload;
    await held.beforeApplicationShutdown(); // part 1 uploaded in the background, recorded in Redis only
    const lock = await locker.lock(upload.id);
    try {
      const adopted = await tus.get(upload.id, lock); // part 1 adopted; the journal in S3 still has none
      expect(adopted.offset).toBe(9 * KiB);
      await tus.declareLength(adopted, 20 * KiB, lock); // not complete: the journal is saved as it is
    } finally {
      await lock.release();
    }
    expect((await current(upload.id)).offset).toBe(9 * KiB);
  });

  it('lowers the offset to the parts when Redis lost held bytes, so the client resends them', async () => {
    const data = randomBytes(6 * KiB);
    const upload = await tus.create({ size: data.length, metadataHeader: '', metadata: {} });
    await write(upload, data.subarray(0, 4 * KiB));
    await redis.del(await redis.keys(`${keyPrefix}seg:upload1:*`)); // evicted; the run's index is still there
    // Another instance, which has no copy of the segments in memory.
    const options = resolveOptions({
      bucket: 'uploads',
      objectPrefix: 'p/',
      holdBackIn: 'redis',
      redis: { urls: [master.url], keyPrefix },
    });
    const client = new S3Client({ region: 'us-east-1' });
    const config = { objectPrefix: 'p/', keyPrefix, minPartSize: 5 * KiB, equalParts: false };
    const elsewhere = new RedisHeldBytes(createHeldBytesRedis(options.redis), new S3Objects(client, 'uploads'), config);
    const other = new S3Store(client, options, { now: () => new Date() }, () => 'x', elsewhere);

    let outcome;
    try {
      outcome = await write(await other.get('upload1'), data.subarray(4 * KiB), other); // completes: cuts the run into the last part
    } finally {
      elsewhere.close();
    }

    expect(isHeldBytesMissing(outcome.failure)).toBe(true);
    expect(outcome.upload.offset).toBe(0);
    expect(await redis.keys(`${keyPrefix}run:*`)).toEqual([]);
    expect((await current('upload1')).offset).toBe(0);
  });

  it('has a connection of its own, which the module closes on shutdown', async () => {
    const names = async () => ((await redis.client('LIST')) as string).match(/name=tus-held-bytes /g)?.length ?? 0;
    const before = await names();
    const moduleRef = await Test.createTestingModule({
      imports: [
        EventEmitterModule.forRoot(),
        TusS3Module.forRoot({
          bucket: 'uploads',
          s3: { region: 'us-east-1' },
          holdBackIn: 'redis',
          redis: { urls: [master.url], keyPrefix },
        }),
      ],
    }).compile();
    try {
      await moduleRef.init();
      expect(moduleRef.get(TUS_HELD_BYTES)).toBeInstanceOf(RedisHeldBytes);
      await waitFor(async () => (await names()) === before + 1);
    } finally {
      await moduleRef.close();
    }
    await waitFor(async () => (await names()) === before);
  });
});

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
