import { randomBytes } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { GetObjectCommand, PutObjectCommand, S3Client, UploadPartCopyCommand } from '@aws-sdk/client-s3';
import { waitFor } from '../../../../test/support/eventually';
import { FakeS3, drain } from '../../../../test/support/fake-s3';
import { GatedS3 } from '../../../../test/support/store-model/gated-s3';
import { testLock } from '../../../../test/support/store-model/test-lock';
import { LockInterruptedError } from '../locker/locker.interface';
import { MemoryLocker } from '../locker/memory-locker';
import { resolveOptions, TusS3ModuleOptions } from '../tus-s3.options';
import { S3Store } from './s3-store';
import { UploadNotFoundError } from './store-errors';
import { Upload } from './tus-data-store';

const KiB = 1024;
const s3 = new FakeS3();
const locker = new MemoryLocker();
let ids: number;

/** Parts of 8 KiB, 5 KiB at least: the rules of S3's megabytes, at a size a spec can afford. */
function store(options: Partial<TusS3ModuleOptions> = {}, client = new S3Client({ region: 'us-east-1' })): S3Store {
  const resolved = resolveOptions({
    bucket: 'uploads',
    objectPrefix: 'p/',
    partSize: { min: 5 * KiB, preferred: 8 * KiB },
    maxSize: 64 * KiB * KiB,
    ...options,
  });
  const clock = { now: () => new Date('2026-01-01T00:00:00.000Z') };
  return new S3Store(client, resolved, clock, () => `upload${++ids}`, null);
}

function body(data: Buffer): Readable {
  const pieces: Buffer[] = [];
  for (let i = 0; i < data.length; i += 3000) pieces.push(data.subarray(i, i + 3000));
  return Readable.from(pieces);
}

async function write(tus: S3Store, upload: Upload, data: Buffer) {
  const lock = await locker.lock(upload.id);
  try {
    return await tus.write(upload, body(data), lock, { maxBytes: Infinity, expectedBytes: data.length });
  } finally {
    await lock.release();
  }
}

async function withLock<T>(
  id: string,
  action: (lock: Awaited<ReturnType<MemoryLocker['lock']>>) => Promise<T>,
): Promise<T> {
  const lock = await locker.lock(id);
  try {
    return await action(lock);
  } finally {
    await lock.release();
  }
}

/** Resolves once `condition` holds (checked every 5 ms), fails after `timeoutMs`. */
function until(condition: () => boolean, timeoutMs = 1000): Promise<void> {
  return waitFor(async () => condition(), timeoutMs, 5);
}

beforeEach(() => {
  s3.reset();
  ids = 0;
});

describe('S3Store', () => {
  it('creates an upload: a multipart upload, and its journal in .info', async () => {
    const upload = await store().create({
      size: 20 * KiB,
      metadataHeader: 'filename bWVudS50eHQ=',
      metadata: { filename: 'menu.txt' },
    });

    expect(upload).toEqual({
      id: 'upload1',
      size: 20 * KiB,
      offset: 0,
      metadata: { filename: 'menu.txt' },
      metadataHeader: 'filename bWVudS50eHQ=',
      createdAt: '2026-01-01T00:00:00.000Z',
      finishedAt: null,
      expiresAt: null,
      location: { bucket: 'uploads', key: 'p/upload1' },
    });
    expect(s3.uploads.get('mpu-1')?.name).toBe('uploads/p/upload1');
    expect(s3.json('uploads/p/upload1.info')).toEqual({
      version: 1,
      id: 'upload1',
      size: 20 * KiB,
      metadataHeader: 'filename bWVudS50eHQ=',
      metadata: { filename: 'menu.txt' },
      createdAt: '2026-01-01T00:00:00.000Z',
      multipartUploadId: 'mpu-1',
      partSize: 8 * KiB, // held back in S3: no short last part (its last part is 4 KiB), unlike in Redis
      parts: [],
      pending: [],
      finishedAt: null,
    });
  });

  it('finishes an upload of size 0 at once: the final object is written whole, no multipart upload', async () => {
    const upload = await store().create({ size: 0, metadataHeader: '', metadata: {} });

    expect(upload.finishedAt).toBe('2026-01-01T00:00:00.000Z');
    expect(s3.body('uploads/p/upload1')).toEqual(Buffer.alloc(0));
    expect(s3.uploads.size).toBe(0);
    expect(s3.json('uploads/p/upload1.info')).toMatchObject({
      multipartUploadId: null,
      finishedAt: '2026-01-01T00:00:00.000Z',
      pending: [],
    });
  });

  it('stores an upload that fits in one part whole: no multipart upload, one PutObject of the final object', async () => {
    const tus = store();
    const data = randomBytes(7 * KiB);
    const upload = await tus.create({ size: data.length, metadataHeader: '', metadata: { filename: 'Menü.txt' } });
    expect(s3.uploads.size).toBe(0);
    expect(s3.json('uploads/p/upload1.info')).toMatchObject({ multipartUploadId: null, partSize: 8 * KiB });

    const first = await write(tus, upload, data.subarray(0, 3 * KiB));
    expect(first.upload).toMatchObject({ offset: 3 * KiB, finishedAt: null });
    expect(s3.objects.has('uploads/p/upload1')).toBe(false);
    const second = await write(tus, await tus.get('upload1'), data.subarray(3 * KiB));

    expect(second.upload).toMatchObject({ offset: 7 * KiB, finishedAt: '2026-01-01T00:00:00.000Z' });
    expect(s3.body('uploads/p/upload1')).toEqual(data);
    expect(s3.objects.get('uploads/p/upload1')?.metadata).toEqual({ filename: 'Men?.txt' });
    expect(s3.uploads.size).toBe(0);
    expect(s3.counts()).not.toHaveProperty('CreateMultipartUpload');
    expect(s3.counts()).not.toHaveProperty('CompleteMultipartUpload');
    expect(s3.counts()).not.toHaveProperty('UploadPart');
    await waitFor(async () => s3.names('uploads/p/upload1.chunk.').length === 0);
  });

  it('costs a small upload sent in one PATCH three PutObjects: its journal, its final object, its finished journal', async () => {
    const tus = store();
    const data = randomBytes(5 * KiB);
    const outcome = await write(tus, await tus.create({ size: data.length, metadataHeader: '', metadata: {} }), data);
    expect(outcome.upload.finishedAt).not.toBeNull();
    expect(s3.counts()).toEqual({ PutObject: 3 });
    expect(s3.json('uploads/p/upload1.info')).toMatchObject({ parts: [{ partNumber: 1, size: 5 * KiB }], pending: [] });
  });

  it('stores an upload of two parts whole too when a PATCH brings all of it; one byte more gets parts', async () => {
    const tus = store();
    const data = randomBytes(16 * KiB);
    const once = await write(tus, await tus.create({ size: data.length, metadataHeader: '', metadata: {} }), data);
    expect(once.upload.finishedAt).not.toBeNull();
    expect(s3.counts()).toEqual({ PutObject: 3 });
    expect(s3.body('uploads/p/upload1')).toEqual(data);

    s3.reset();
    const larger = randomBytes(16 * KiB + 1);
    await write(tus, await tus.create({ size: larger.length, metadataHeader: '', metadata: {} }), larger);
    expect(s3.counts()).toMatchObject({ CreateMultipartUpload: 1, UploadPart: 3, CompleteMultipartUpload: 1 });
    expect(s3.body('uploads/p/upload2')).toEqual(larger);
  });

  it('gives an upload stored whole but larger than a part its parts once a PATCH will not complete it', async () => {
    const tus = store();
    const data = randomBytes(16 * KiB);
    let upload = await tus.create({ size: data.length, metadataHeader: '', metadata: {} });
    expect(s3.counts()).not.toHaveProperty('CreateMultipartUpload');
    upload = (await write(tus, upload, data.subarray(0, 3 * KiB))).upload;
    // Named by the journal before anything could be uploaded to it.
    expect(s3.json('uploads/p/upload1.info')).toMatchObject({ multipartUploadId: 'mpu-1' });
    for (let offset = 3 * KiB; offset < data.length; offset += 3 * KiB)
      upload = (await write(tus, upload, data.subarray(offset, offset + 3 * KiB))).upload;

    expect(upload).toMatchObject({ offset: data.length, finishedAt: '2026-01-01T00:00:00.000Z' });
    expect(s3.body('uploads/p/upload1')).toEqual(data);
    expect(s3.counts()).toMatchObject({ CreateMultipartUpload: 1, CompleteMultipartUpload: 1 });
    expect(s3.counts().UploadPart).toBeGreaterThan(1); // parts as the bytes came, not all at the end
    expect(s3.uploads.size).toBe(0);
  });

  it('keeps an upload whole when the PATCH that was to complete it ends short: the next one stores it', async () => {
    const tus = store();
    const data = randomBytes(16 * KiB);
    const upload = await tus.create({ size: data.length, metadataHeader: '', metadata: {} });
    const cut = await withLock(upload.id, (lock) =>
      tus.write(upload, body(data.subarray(0, 10 * KiB)), lock, { maxBytes: Infinity, expectedBytes: data.length }),
    );
    expect(cut.upload).toMatchObject({ offset: 10 * KiB, finishedAt: null });
    const rest = await write(tus, cut.upload, data.subarray(10 * KiB));

    expect(rest.upload.finishedAt).not.toBeNull();
    expect(s3.body('uploads/p/upload1')).toEqual(data);
    expect(s3.counts()).not.toHaveProperty('CreateMultipartUpload');
    expect(s3.counts()).not.toHaveProperty('UploadPart');
  });

  it.each([[{ storeWholeUpTo: 0 }], [{ storeSmallUploadsWhole: false }]])(
    'gives a small upload a multipart upload all the same with %j',
    async (options) => {
      const tus = store(options);
      const data = randomBytes(KiB);
      await write(tus, await tus.create({ size: data.length, metadataHeader: '', metadata: {} }), data);
      expect(s3.counts()).toMatchObject({ CreateMultipartUpload: 1, UploadPart: 1, CompleteMultipartUpload: 1 });
      expect(s3.body('uploads/p/upload1')).toEqual(data);
    },
  );

  it('stores whole an upload up to storeWholeUpTo, even of many parts, and never one of unknown length', async () => {
    const tus = store({ storeWholeUpTo: 40 * KiB });
    const data = randomBytes(40 * KiB);
    await write(tus, await tus.create({ size: data.length, metadataHeader: '', metadata: {} }), data);
    expect(s3.counts()).toEqual({ PutObject: 3 });
    expect(s3.body('uploads/p/upload1')).toEqual(data);
    s3.reset();
    await tus.create({ size: null, metadataHeader: '', metadata: {} });
    expect(s3.counts()).toMatchObject({ CreateMultipartUpload: 1 });
  });

  it('asks beforeFinish before it writes an upload stored whole, and writes nothing when refused', async () => {
    const tus = store();
    const data = randomBytes(KiB);
    const upload = await tus.create({ size: data.length, metadataHeader: '', metadata: {} });
    const seen: number[] = [];
    const refusal = new Error('not this one');
    const lock = await locker.lock(upload.id);
    try {
      const writing = tus.write(upload, body(data), lock, {
        maxBytes: Infinity,
        expectedBytes: data.length,
        beforeFinish: async (finishing) => {
          seen.push(finishing.offset);
          throw refusal;
        },
      });
      await expect(writing).rejects.toBe(refusal);
    } finally {
      await lock.release();
    }
    expect(seen).toEqual([KiB]);
    expect(s3.objects.has('uploads/p/upload1')).toBe(false);
  });

  it('says an upload is not found when it has no .info, or its id could never name one', async () => {
    await expect(store().get('nothing')).rejects.toBeInstanceOf(UploadNotFoundError);
    await expect(store().get('../p/upload1')).rejects.toBeInstanceOf(UploadNotFoundError);
    expect(s3.counts()).toEqual({ GetObject: 1 });
  });

  it('cuts a body into parts and holds back the rest as a chunk object, then saves the journal', async () => {
    const tus = store();
    const data = randomBytes(19 * KiB);
    const outcome = await write(tus, await tus.create({ size: 40 * KiB, metadataHeader: '', metadata: {} }), data);

    expect(outcome.stop).toBe('end');
    expect(outcome.failure).toBeUndefined();
    expect(outcome.upload.offset).toBe(19 * KiB);
    const [chunk] = s3.names('uploads/p/upload1.chunk.');
    expect(chunk).toMatch(/^uploads\/p\/upload1\.chunk\.16384\.[0-9a-f]{8}$/);
    expect(s3.body(chunk)).toEqual(data.subarray(16 * KiB));
    expect([...s3.uploads.get('mpu-1')!.parts.values()].map((p) => p.body)).toEqual([
      data.subarray(0, 8 * KiB),
      data.subarray(8 * KiB, 16 * KiB),
    ]);
    const journal = s3.json('uploads/p/upload1.info');
    expect(journal.parts).toEqual([
      { partNumber: 1, size: 8 * KiB, etag: expect.any(String) },
      { partNumber: 2, size: 8 * KiB, etag: expect.any(String) },
    ]);
    // The format as it always was, and one optional field: put along with this journal, the chunk is unconfirmed.
    expect(journal.pending).toEqual([{ key: chunk.slice('uploads/'.length), size: 3 * KiB, unconfirmed: true }]);
    expect(journal.heldIn).toBeUndefined();
    expect((await tus.get('upload1')).offset).toBe(19 * KiB);
  });

  it('folds the held-back chunk into the next part and deletes it once the journal no longer lists it', async () => {
    const tus = store();
    const data = randomBytes(30 * KiB);
    await write(
      tus,
      await tus.create({ size: data.length, metadataHeader: '', metadata: {} }),
      data.subarray(0, 3 * KiB),
    );
    const [first] = s3.names('uploads/p/upload1.chunk.');

    const outcome = await write(tus, await tus.get('upload1'), data.subarray(3 * KiB, 9 * KiB));

    expect(outcome.upload.offset).toBe(9 * KiB);
    expect(s3.uploads.get('mpu-1')!.parts.get(1)!.body).toEqual(data.subarray(0, 8 * KiB));
    const chunks = s3.names('uploads/p/upload1.chunk.');
    expect(chunks).not.toContain(first);
    expect(chunks).toEqual([expect.stringMatching(/^uploads\/p\/upload1\.chunk\.8192\./)]);
    expect(s3.json('uploads/p/upload1.info')).toMatchObject({
      parts: [{ partNumber: 1, size: 8 * KiB }],
      pending: [{ size: KiB }],
    });
  });

  it('creates under the lock its caller takes once the id is known: a read under that lock needs no GET', async () => {
    const tus = store();
    const journalGets = () => s3.mock.commandCalls(GetObjectCommand).length;
    let lock: Awaited<ReturnType<MemoryLocker['lock']>> | undefined;
    const upload = await tus.create({ size: 20 * KiB, metadataHeader: '', metadata: {} }, async (id) => {
      lock = await locker.lock(id);
      return lock;
    });

    expect(lock).toBeDefined();
    expect((await tus.get(upload.id, lock)).offset).toBe(0);
    expect(journalGets()).toBe(0);
    await tus.get(upload.id); // without the lock: from S3
    expect(journalGets()).toBe(1);
    await lock!.release();
  });

  it('a body that ends within a second of its first part saves the journal once, at its end', async () => {
    const tus = store();
    const data = randomBytes(20 * KiB);
    const upload = await tus.create({ size: 40 * KiB, metadataHeader: '', metadata: {} });
    const journalPuts = () =>
      s3.mock.commandCalls(PutObjectCommand).filter((call) => call.args[0].input.Key === 'p/upload1.info');
    const before = journalPuts().length;
    const stream = new PassThrough();
    const lock = await locker.lock('upload1');
    const writing = tus.write(upload, stream, lock, { maxBytes: Infinity });

    stream.write(data.subarray(0, 16 * KiB));
    await until(() => s3.uploads.get('mpu-1')!.parts.size === 2); // both parts landed, the body still open
    stream.end(data.subarray(16 * KiB));
    const outcome = await writing;
    await lock.release();

    expect(outcome.upload.offset).toBe(20 * KiB);
    expect(journalPuts().length - before).toBe(1); // no checkpoint besides: the parts landed within a second
  });

  it('saves the journal a second after a part lands, while the body still streams: the held chunk is folded in and gone', async () => {
    const tus = store();
    const data = randomBytes(30 * KiB);
    await write(
      tus,
      await tus.create({ size: data.length, metadataHeader: '', metadata: {} }),
      data.subarray(0, 3 * KiB),
    );
    const [chunk] = s3.names('uploads/p/upload1.chunk.');
    const upload = await tus.get('upload1');
    const stream = new PassThrough();
    const lock = await locker.lock('upload1');
    const writing = tus.write(upload, stream, lock, { maxBytes: Infinity });

    stream.write(data.subarray(3 * KiB, 12 * KiB)); // part 1 (the held chunk, then 5 KiB) and 4 KiB more
    await until(() => (s3.json('uploads/p/upload1.info').parts as unknown[]).length === 1, 3000);
    expect(s3.json('uploads/p/upload1.info')).toMatchObject({
      parts: [{ partNumber: 1, size: 8 * KiB, etag: expect.any(String) }],
      pending: [],
    });
    await until(() => s3.names('uploads/p/upload1.chunk.').length === 0); // deleted once the journal no longer names it
    expect(s3.names('uploads/p/upload1.chunk.')).not.toContain(chunk);
    expect((await tus.get('upload1')).offset).toBe(8 * KiB); // what a crash now would leave: the part, not 0

    stream.end(data.subarray(12 * KiB, 20 * KiB));
    const outcome = await writing;
    await lock.release();
    expect(outcome.upload.offset).toBe(20 * KiB);
    expect(s3.json('uploads/p/upload1.info')).toMatchObject({
      parts: [{ partNumber: 1 }, { partNumber: 2 }],
      pending: [{ size: 4 * KiB }],
    });
    await write(tus, await tus.get('upload1'), data.subarray(20 * KiB));
    expect(s3.body('uploads/p/upload1')).toEqual(data);
  });

  it('checkpoints only while the lock is held: a lock lost before the checkpoint leaves the journal as it was', async () => {
    const tus = store();
    const data = randomBytes(20 * KiB);
    const upload = await tus.create({ size: data.length, metadataHeader: '', metadata: {} });
    const journalBefore = s3.json('uploads/p/upload1.info');
    const held = await locker.lock('upload1');
    let asserts = 0;
    const lock = {
      signal: held.signal,
      lost: held.lost,
      release: () => held.release(),
      // The part upload asserts first; the lock is gone by the checkpoint that follows it.
      assertHeld: () => {
        if (++asserts > 1) throw new LockInterruptedError('lost');
      },
    };
    const stream = new PassThrough();
    const writing = tus.write(upload, stream, lock, { maxBytes: Infinity });
    stream.write(data.subarray(0, 10 * KiB));
    await until(() => asserts > 1, 3000);
    stream.end();

    await expect(writing).rejects.toBeInstanceOf(LockInterruptedError);
    await lock.release();
    expect(s3.json('uploads/p/upload1.info')).toEqual(journalBefore);
  });

  it('finishes an upload when its last bytes arrive: the rest is the last part, the multipart upload completed', async () => {
    const tus = store();
    const data = randomBytes(13 * KiB);
    const outcome = await write(tus, await tus.create({ size: data.length, metadataHeader: '', metadata: {} }), data);

    expect(outcome.upload.finishedAt).toBe('2026-01-01T00:00:00.000Z');
    expect(s3.body('uploads/p/upload1')).toEqual(data);
    expect(s3.uploads.size).toBe(0);
    expect(s3.names('uploads/p/upload1.chunk.')).toEqual([]);
  });

  it('declares a deferred length, and finishes an upload whose bytes are all there by folding its held tail', async () => {
    const tus = store();
    const data = randomBytes(11 * KiB);
    await write(tus, await tus.create({ size: null, metadataHeader: '', metadata: {} }), data);
    expect(s3.names('uploads/p/upload1.chunk.')).toHaveLength(1);

    const declared = await withLock('upload1', async (lock) =>
      tus.declareLength(await tus.get('upload1', lock), data.length, lock),
    );

    expect(declared).toMatchObject({ size: data.length, offset: data.length, finishedAt: '2026-01-01T00:00:00.000Z' });
    expect(s3.body('uploads/p/upload1')).toEqual(data);
    expect(s3.names('uploads/p/upload1.chunk.')).toEqual([]);
    expect(s3.json('uploads/p/upload1.info')).toMatchObject({
      size: data.length,
      multipartUploadId: null,
      pending: [],
    });
  });

  it('declares a deferred length that more bytes are still to reach', async () => {
    const tus = store();
    await write(tus, await tus.create({ size: null, metadataHeader: '', metadata: {} }), randomBytes(KiB));
    const declared = await withLock('upload1', async (lock) =>
      tus.declareLength(await tus.get('upload1', lock), 2 * KiB, lock),
    );
    expect(declared).toMatchObject({ size: 2 * KiB, offset: KiB, finishedAt: null });
    expect(s3.json('uploads/p/upload1.info').size).toBe(2 * KiB);
  });

  it('terminates an upload: multipart upload, held-back chunks and journal go', async () => {
    const tus = store();
    await write(tus, await tus.create({ size: 40 * KiB, metadataHeader: '', metadata: {} }), randomBytes(11 * KiB));
    expect(s3.names('uploads/p/upload1')).toHaveLength(2); // .info and a chunk

    await withLock('upload1', async (lock) => tus.terminate(await tus.get('upload1', lock), lock));

    expect(s3.names()).toEqual([]);
    expect(s3.uploads.size).toBe(0);
    await expect(tus.get('upload1')).rejects.toBeInstanceOf(UploadNotFoundError);
  });

  it('terminates a finished upload with its final object', async () => {
    const tus = store();
    await write(tus, await tus.create({ size: KiB, metadataHeader: '', metadata: {} }), randomBytes(KiB));
    await withLock('upload1', async (lock) => tus.terminate(await tus.get('upload1', lock), lock));
    expect(s3.names()).toEqual([]);
  });

  it('reads a finished upload, or a range of it, and says a missing final object is not found', async () => {
    const tus = store();
    const data = randomBytes(3 * KiB);
    const { upload } = await write(
      tus,
      await tus.create({ size: data.length, metadataHeader: '', metadata: {} }),
      data,
    );
    const whole = await tus.read(upload);
    expect(whole.contentLength).toBe(data.length);
    expect(await drain(whole.body)).toEqual(data);
    const range = await tus.read(upload, { start: 10, end: 19 });
    expect(await drain(range.body)).toEqual(data.subarray(10, 20));
    s3.objects.delete('uploads/p/upload1');
    await expect(tus.read(upload)).rejects.toBeInstanceOf(UploadNotFoundError);
  });

  it('concatenates partial uploads that can be parts by UploadPartCopy: no byte passes through the server', async () => {
    const tus = store();
    const first = randomBytes(6 * KiB);
    const second = randomBytes(2 * KiB);
    const partials: Upload[] = [];
    for (const data of [first, second]) {
      const created = await tus.create({
        size: data.length,
        metadataHeader: '',
        metadata: {},
        concat: { kind: 'partial' },
      });
      partials.push((await write(tus, created, data)).upload);
    }
    const final = await tus.create({
      size: 8 * KiB,
      metadataHeader: '',
      metadata: {},
      concat: { kind: 'final', uploadIds: ['upload1', 'upload2'], header: 'final;a b' },
    });
    const uploadParts = s3.counts().UploadPart;

    const outcome = await withLock(final.id, (lock) => tus.concatenate(final, partials, lock));

    expect(outcome.upload).toMatchObject({
      offset: 8 * KiB,
      finishedAt: '2026-01-01T00:00:00.000Z',
      concat: { kind: 'final' },
    });
    expect(s3.body('uploads/p/upload3')).toEqual(Buffer.concat([first, second]));
    expect(s3.counts()).toMatchObject({ UploadPartCopy: 2, UploadPart: uploadParts });
    expect(s3.json('uploads/p/upload3.info').parts).toEqual([
      { partNumber: 1, size: 6 * KiB, etag: expect.any(String) },
      { partNumber: 2, size: 2 * KiB, etag: expect.any(String) },
    ]);
  });

  it('concatenates partial uploads too small to be parts by streaming them through the write path', async () => {
    const tus = store();
    const pieces = [randomBytes(KiB), randomBytes(2 * KiB)];
    const partials: Upload[] = [];
    for (const data of pieces) {
      const created = await tus.create({
        size: data.length,
        metadataHeader: '',
        metadata: {},
        concat: { kind: 'partial' },
      });
      partials.push((await write(tus, created, data)).upload);
    }
    const final = await tus.create({
      size: 3 * KiB,
      metadataHeader: '',
      metadata: {},
      concat: { kind: 'final', uploadIds: ['upload1', 'upload2'], header: 'final;a b' },
    });
    const outcome = await withLock(final.id, (lock) => tus.concatenate(final, partials, lock));
    expect(outcome.stop).toBe('end');
    expect(s3.body('uploads/p/upload3')).toEqual(Buffer.concat(pieces));
    expect(s3.counts().UploadPartCopy).toBeUndefined();
  });

  it('copies a finished upload to copyOnFinish, server-side, and nowhere without it', async () => {
    const tus = store({ copyOnFinish: { bucket: 'archive', prefix: 'done/' } });
    const data = randomBytes(KiB);
    const { upload } = await write(
      tus,
      await tus.create({ size: data.length, metadataHeader: '', metadata: {} }),
      data,
    );

    expect(await tus.copyFinished(upload)).toEqual({ bucket: 'archive', key: 'done/upload1' });
    expect(s3.body('archive/done/upload1')).toEqual(data);
    const withoutCopies = store();
    const { upload: plain } = await write(
      withoutCopies,
      await withoutCopies.create({ size: data.length, metadataHeader: '', metadata: {} }),
      data,
    );
    expect(await withoutCopies.copyFinished(plain)).toBeUndefined();
    // One that finished with copyOnFinish keeps the destination its journal recorded.
    expect(await withoutCopies.copyFinished(await withoutCopies.get('upload1'))).toEqual({
      bucket: 'archive',
      key: 'done/upload1',
    });
  });

  it('records with the finish that a copy and upload.finished are due, and each as it is delivered', async () => {
    const tus = store({ copyOnFinish: { bucket: 'archive', prefix: 'done/' } });
    const data = randomBytes(KiB);
    const { upload } = await write(
      tus,
      await tus.create({ size: data.length, metadataHeader: '', metadata: {} }),
      data,
    );
    const copy = { bucket: 'archive', key: 'done/upload1' };
    expect(s3.json('uploads/p/upload1.info')).toMatchObject({
      finishedAt: '2026-01-01T00:00:00.000Z',
      announce: { due: true, attempt: 1, claimedAt: '2026-01-01T00:00:00.000Z', copy },
    });
    expect(tus.dueAnnouncement(upload)).toEqual({
      attempt: 1,
      claimedAt: '2026-01-01T00:00:00.000Z',
      copy,
      copied: false,
    });

    const claimed = await withLock('upload1', async (lock) =>
      tus.claimAnnouncement(await tus.get('upload1', lock), lock),
    );
    expect(tus.dueAnnouncement(claimed)).toMatchObject({ attempt: 2, copied: false });
    const copied = await withLock('upload1', async (lock) => tus.markCopied(await tus.get('upload1', lock), lock));
    expect(tus.dueAnnouncement(copied)).toMatchObject({ attempt: 2, copy, copied: true });
    const announced = await withLock('upload1', async (lock) =>
      tus.markAnnounced(await tus.get('upload1', lock), lock),
    );
    expect(tus.dueAnnouncement(announced)).toBeUndefined();
    expect(s3.json('uploads/p/upload1.info').announce).toEqual({
      due: false,
      attempt: 2,
      claimedAt: expect.any(String),
      copy: { ...copy, done: true },
    });
    expect(tus.dueAnnouncement(await tus.get('upload1'))).toBeUndefined();
  });

  it('copies part by part above multipartAbove, with byte ranges', async () => {
    const tus = store({
      copyOnFinish: { bucket: 'archive', prefix: 'done/', multipartAbove: 2 * KiB, partSize: 5 * KiB },
    });
    const data = randomBytes(12 * KiB);
    const { upload } = await write(
      tus,
      await tus.create({ size: data.length, metadataHeader: '', metadata: {} }),
      data,
    );

    expect(await tus.copyFinished(upload)).toEqual({ bucket: 'archive', key: 'done/upload1' });
    expect(s3.mock.commandCalls(UploadPartCopyCommand).map((c) => c.args[0].input.CopySourceRange)).toEqual([
      'bytes=0-5119',
      'bytes=5120-10239',
      'bytes=10240-12287',
    ]);
    expect(s3.body('archive/done/upload1')).toEqual(data);
  });

  it('announces nothing again for a journal finished before announcements were recorded', async () => {
    const tus = store();
    const data = randomBytes(KiB);
    await write(tus, await tus.create({ size: data.length, metadataHeader: '', metadata: {} }), data);
    const { announce: _announce, ...legacy } = s3.json('uploads/p/upload1.info');
    s3.objects.set('uploads/p/upload1.info', { body: Buffer.from(JSON.stringify(legacy)) });

    expect(tus.dueAnnouncement(await tus.get('upload1'))).toBeUndefined();
  });

  it('continues an upload whose journal an earlier version wrote, and keeps its format', async () => {
    const data = randomBytes(10 * KiB);
    s3.uploads.set('mpu-old', { name: 'uploads/p/old', parts: new Map() });
    s3.objects.set('uploads/p/old.chunk.0.0badc0de', { body: data.subarray(0, 2 * KiB) });
    const journal = {
      version: 1,
      id: 'old',
      size: data.length,
      metadataHeader: '',
      metadata: {},
      createdAt: '2025-12-31T00:00:00.000Z',
      multipartUploadId: 'mpu-old',
      partSize: 8 * KiB,
      parts: [],
      pending: [{ key: 'p/old.chunk.0.0badc0de', size: 2 * KiB }],
      finishedAt: null,
    };
    s3.objects.set('uploads/p/old.info', { body: Buffer.from(JSON.stringify(journal)) });
    const tus = store();
    expect((await tus.get('old')).offset).toBe(2 * KiB);

    await write(tus, await tus.get('old'), data.subarray(2 * KiB, 9 * KiB));

    expect(s3.json('uploads/p/old.info')).toEqual({
      ...journal,
      parts: [{ partNumber: 1, size: 8 * KiB, etag: expect.any(String) }],
      pending: [{ key: expect.stringMatching(/^p\/old\.chunk\.8192\.[0-9a-f]{8}$/), size: KiB, unconfirmed: true }],
    });
    expect(s3.names('uploads/p/old.chunk.0.')).toEqual([]);
  });

  describe('an instance that died between completing the multipart upload and saving the finished journal', () => {
    /**
     * Leaves the upload complete (offset = length) but unfinished in its journal, its multipart upload completed into
     * the final object: S3 knows the multipart upload no more. Found by the model spec (s3-store.model.spec.ts).
     */
    const multipart = { storeWholeUpTo: 0 }; // the upload is small: it would be stored whole
    async function diedAfterCompleting(data: Buffer): Promise<void> {
      const dying = new GatedS3(new S3Client({ region: 'us-east-1' }));
      const first = store(multipart, dying.client);
      const upload = await first.create({ size: data.length, metadataHeader: '', metadata: {} });
      // The write saves the journal with its parts, completes, then saves it finished: it dies at that save.
      dying.crashAtCall(2, 'PutObject');
      void first.write(upload, body(data), testLock(), { maxBytes: Infinity });
      await until(() => dying.isCut);
      expect(s3.uploads.size).toBe(0);
      expect(s3.json('uploads/p/upload1.info')).toMatchObject({ multipartUploadId: 'mpu-1', finishedAt: null });
    }

    it('is finished by the next empty PATCH: the final object is the one its parts make', async () => {
      const data = randomBytes(13 * KiB);
      await diedAfterCompleting(data);
      const tus = store(multipart);
      const complete = await tus.get('upload1');
      expect(complete).toMatchObject({ offset: data.length, finishedAt: null });

      const outcome = await withLock('upload1', (lock) =>
        tus.write(complete, Readable.from([]), lock, { maxBytes: 0, expectedBytes: 0 }),
      );

      expect(outcome.failure).toBeUndefined();
      expect(outcome.upload.finishedAt).toBe('2026-01-01T00:00:00.000Z');
      expect(s3.json('uploads/p/upload1.info')).toMatchObject({
        multipartUploadId: null,
        finishedAt: expect.any(String),
      });
      expect(s3.body('uploads/p/upload1')).toEqual(data);
    });

    it('stays unfinished when the object there is not made of its parts, or is not there', async () => {
      const data = randomBytes(13 * KiB);
      await diedAfterCompleting(data);
      const tus = store(multipart);
      const other = randomBytes(data.length);
      s3.objects.set('uploads/p/upload1', { body: other, etag: '"0123456789abcdef0123456789abcdef-2"' });
      const emptyWrite = () =>
        withLock('upload1', async (lock) =>
          tus.write(await tus.get('upload1'), Readable.from([]), lock, { maxBytes: 0, expectedBytes: 0 }),
        );

      await expect(emptyWrite()).rejects.toThrow('could not complete the multipart upload');
      s3.objects.delete('uploads/p/upload1');
      await expect(emptyWrite()).rejects.toThrow('could not complete the multipart upload');
      expect(s3.json('uploads/p/upload1.info')).toMatchObject({ finishedAt: null });
    });
  });
});
