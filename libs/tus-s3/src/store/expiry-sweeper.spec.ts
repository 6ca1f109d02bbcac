import { Readable } from 'node:stream';
import { ListMultipartUploadsCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { FakeS3 } from '../../../../test/support/fake-s3';
import { MemoryLocker } from '../locker/memory-locker';
import { resolveOptions } from '../tus-s3.options';
import { CallBudget, ExpirySweeper } from './expiry-sweeper';
import { S3Store } from './s3-store';
import { MemorySweepState, SweepCursor } from './sweep-state';
import { Upload } from './tus-data-store';

const KiB = 1024;
const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const EXPIRE = 60_000;
const s3 = new FakeS3();
let now: number;
let ids: number;
let locker: MemoryLocker;
/** When each multipart upload started / object was written, as the listings say (default T0). */
const initiated = new Map<string, Date>();
const modified = new Map<string, Date>();
const clock = { now: () => new Date(now) };

function store(): S3Store {
  const options = resolveOptions({
    bucket: 'uploads',
    objectPrefix: 'p/',
    partSize: { min: 5 * KiB, preferred: 8 * KiB },
    maxSize: 1024 * KiB,
    expireAfterMs: EXPIRE,
  });
  return new S3Store(new S3Client({ region: 'us-east-1' }), options, clock, () => `upload${++ids}`, null);
}

function sweeper(tus: S3Store, state = new MemorySweepState(), pageSize = 1000): ExpirySweeper {
  return new ExpirySweeper({
    client: new S3Client({ region: 'us-east-1' }),
    bucket: 'uploads',
    objectPrefix: 'p/',
    expireAfterMs: EXPIRE,
    maxCallsPerMinute: 1_000_000,
    store: tus,
    locker,
    clock,
    state,
    owner: 'me',
    pageSize,
  });
}

async function write(tus: S3Store, upload: Upload, data: Buffer): Promise<Upload> {
  const lock = await locker.lock(upload.id);
  try {
    return (await tus.write(upload, Readable.from([data]), lock, { maxBytes: Infinity, expectedBytes: data.length }))
      .upload;
  } finally {
    await lock.release();
  }
}

/** ListMultipartUploads and ListObjectsV2 over the FakeS3, in key order, paged as S3 pages them. */
function fakeListings(): void {
  s3.mock.on(ListMultipartUploadsCommand).callsFake(async (input) => {
    const all = [...s3.uploads.entries()]
      .map(([uploadId, { name }]) => ({ Key: name.slice('uploads/'.length), UploadId: uploadId }))
      .filter((u) => u.Key.startsWith(input.Prefix ?? ''))
      .sort((a, b) => (a.Key === b.Key ? a.UploadId.localeCompare(b.UploadId) : a.Key < b.Key ? -1 : 1))
      .filter(
        (u) =>
          !input.KeyMarker ||
          u.Key > input.KeyMarker ||
          (u.Key === input.KeyMarker && !!input.UploadIdMarker && u.UploadId > input.UploadIdMarker),
      );
    const page = all.slice(0, input.MaxUploads ?? 1000);
    const last = page[page.length - 1];
    return {
      Uploads: page.map((u) => ({ ...u, Initiated: initiated.get(u.UploadId) ?? new Date(T0) })),
      IsTruncated: all.length > page.length,
      NextKeyMarker: last?.Key,
      NextUploadIdMarker: last?.UploadId,
    };
  });
  s3.mock.on(ListObjectsV2Command).callsFake(async (input) => {
    const all = [...s3.objects.keys()]
      .map((name) => name.slice('uploads/'.length))
      .filter((key) => key.startsWith(input.Prefix ?? '') && (!input.StartAfter || key > input.StartAfter))
      .sort();
    const page = all.slice(0, input.MaxKeys ?? 1000);
    return {
      Contents: page.map((Key) => ({ Key, LastModified: modified.get(Key) ?? new Date(T0) })),
      IsTruncated: all.length > page.length,
    };
  });
}

beforeEach(() => {
  s3.reset();
  fakeListings();
  initiated.clear();
  modified.clear();
  ids = 0;
  now = T0;
  locker = new MemoryLocker({ waitMs: 50 });
});

describe('ExpirySweeper', () => {
  it('terminates an expired unfinished upload (multipart, chunks, .info) and leaves finished and unexpired ones', async () => {
    const tus = store();
    const expired = await write(
      tus,
      await tus.create({ size: 20 * KiB, metadataHeader: '', metadata: {} }),
      Buffer.alloc(2 * KiB, 1),
    );
    expect(expired.expiresAt).toBe(new Date(T0 + EXPIRE).toISOString());
    const finished = await write(
      tus,
      await tus.create({ size: 3, metadataHeader: '', metadata: {} }),
      Buffer.from('abc'),
    );
    expect(finished.expiresAt).toBeNull();
    now = T0 + EXPIRE / 2;
    // Larger than a part, as the expired one: both have a multipart upload (smaller ones are stored whole).
    const young = await tus.create({ size: 20 * KiB, metadataHeader: '', metadata: {} });
    initiated.set([...s3.uploads.keys()].pop()!, new Date(now));
    now = T0 + EXPIRE + 1;

    const report = await sweeper(tus).sweep();

    expect(report).toMatchObject({
      ran: true,
      complete: true,
      terminated: ['upload1'],
      abortedOrphans: [],
      deletedChunks: [],
      failures: 0,
    });
    expect([...s3.objects.keys()].filter((k) => k.includes('upload1'))).toEqual([]);
    expect([...s3.uploads.values()].map((u) => u.name)).toEqual([`uploads/p/${young.id}`]);
    expect(s3.objects.has('uploads/p/upload2')).toBe(true);
    expect(s3.objects.has('uploads/p/upload2.info')).toBe(true);
    expect((await tus.get(young.id)).offset).toBe(0);
  });

  it('finds expired uploads stored whole (no multipart upload) by an .info with no final object, and only those', async () => {
    const tus = store();
    // Smaller than a part: no multipart upload; one held-back chunk, one nothing yet.
    const withChunk = await write(
      tus,
      await tus.create({ size: 7 * KiB, metadataHeader: '', metadata: {} }),
      Buffer.alloc(2 * KiB, 1),
    );
    const empty = await tus.create({ size: 10, metadataHeader: '', metadata: {} });
    const finished = await write(
      tus,
      await tus.create({ size: 3, metadataHeader: '', metadata: {} }),
      Buffer.from('abc'),
    );
    now = T0 + EXPIRE / 2;
    const young = await tus.create({ size: 10, metadataHeader: '', metadata: {} });
    modified.set(`p/${young.id}.info`, new Date(now));
    expect(s3.uploads.size).toBe(0);
    now = T0 + EXPIRE + 1;

    const report = await sweeper(tus).sweep();

    expect(report.terminated.sort()).toEqual([withChunk.id, empty.id].sort());
    expect(report).toMatchObject({ abortedOrphans: [], deletedChunks: [], failures: 0 });
    expect([...s3.objects.keys()].filter((k) => k.includes(withChunk.id) || k.includes(`${empty.id}.`))).toEqual([]);
    expect(s3.objects.has(`uploads/p/${finished.id}`)).toBe(true);
    expect(s3.objects.has(`uploads/p/${finished.id}.info`)).toBe(true);
    expect((await tus.get(young.id)).offset).toBe(0);
  });

  it('aborts old multipart uploads no journal claims (none, or one naming another UploadId), not young ones', async () => {
    const tus = store();
    const live = await tus.create({ size: 20 * KiB, metadataHeader: '', metadata: {} });
    // Stored whole, its journal names no multipart upload: one for its key was left by a crash while it got its parts.
    const whole = await tus.create({ size: 12 * KiB, metadataHeader: '', metadata: {} });
    const client = new S3Client({ region: 'us-east-1' });
    const { CreateMultipartUploadCommand } = await import('@aws-sdk/client-s3');
    const multipartOf = async (key: string) =>
      (await client.send(new CreateMultipartUploadCommand({ Bucket: 'uploads', Key: key }))).UploadId!;
    const orphan = await multipartOf('p/nojournal');
    const stray = await multipartOf(`p/${live.id}`);
    const unnamed = await multipartOf(`p/${whole.id}`);
    const fresh = await multipartOf('p/creating');
    now = T0 + EXPIRE / 2; // the live upload has not expired yet
    initiated.set(fresh, new Date(now));
    for (const old of [orphan, stray, unnamed]) initiated.set(old, new Date(now - EXPIRE - 1));

    const report = await sweeper(tus).sweep();

    expect(report.abortedOrphans.sort()).toEqual(['p/nojournal', `p/${live.id}`, `p/${whole.id}`].sort());
    expect(report.terminated).toEqual([]);
    expect([...s3.uploads.keys()].sort()).toEqual(['mpu-1', fresh].sort());
  });

  it('deletes old chunk objects no journal lists, keeps listed and young ones', async () => {
    const tus = store();
    now = T0 + 10 * EXPIRE; // uploads created now have not expired
    const upload = await write(
      tus,
      await tus.create({ size: 20 * KiB, metadataHeader: '', metadata: {} }),
      Buffer.alloc(KiB, 2),
    );
    const listed = [...s3.objects.keys()].find((k) => k.includes('.chunk.'))!.slice('uploads/'.length);
    const put = (key: string) =>
      new S3Client({ region: 'us-east-1' }).send(new PutObjectCommand({ Bucket: 'uploads', Key: key, Body: 'x' }));
    await put(`p/${upload.id}.chunk.0.deadbeef`); // a chunk whose journal write never happened
    await put('p/gone.chunk.5.0badc0de'); // of an upload that no longer exists
    await put('p/recent.chunk.0.0123abcd');
    modified.set('p/recent.chunk.0.0123abcd', new Date(now));
    await put('p/notachunk.chunk.x');

    const report = await sweeper(tus).sweep();

    expect(report.deletedChunks.sort()).toEqual(['p/gone.chunk.5.0badc0de', `p/${upload.id}.chunk.0.deadbeef`]);
    expect(s3.objects.has(`uploads/${listed}`)).toBe(true);
    expect(s3.objects.has('uploads/p/recent.chunk.0.0123abcd')).toBe(true);
    expect(s3.objects.has('uploads/p/notachunk.chunk.x')).toBe(true);
    expect((await tus.get(upload.id)).offset).toBe(KiB);
  });

  it('skips an expired upload whose lock is busy, and takes it on the next pass', async () => {
    const tus = store();
    const upload = await tus.create({ size: 10, metadataHeader: '', metadata: {} });
    now = T0 + EXPIRE + 1;
    const held = await locker.lock(upload.id);
    const busy = await sweeper(tus).sweep();
    expect(busy).toMatchObject({ terminated: [], skippedBusy: [upload.id] });
    expect(held.signal.aborted).toBe(false); // never asked to let go
    await held.release();
    expect((await sweeper(tus).sweep()).terminated).toEqual([upload.id]);
  });

  it('runs one sweep at a time (the lease) and resumes from the saved cursor, page by page', async () => {
    const tus = store();
    for (let i = 0; i < 3; i++) await tus.create({ size: 20 * KiB, metadataHeader: '', metadata: {} });
    now = T0 + EXPIRE + 1;
    const state = new MemorySweepState();
    const saved: Array<SweepCursor | undefined> = [];
    const save = state.saveCursor.bind(state);
    state.saveCursor = async (cursor) => {
      saved.push(cursor);
      await save(cursor);
    };
    expect(await state.acquire('someone-else', 1000)).toBe(true);
    expect(await sweeper(tus, state, 1).sweep()).toMatchObject({ ran: false, terminated: [] });
    await state.release('someone-else');

    // Stopped after its first page: the next sweep goes on from there.
    const stop = new AbortController();
    const first = sweeper(tus, state, 1);
    const originalSend = S3Client.prototype.send;
    let lists = 0;
    const spy = jest.spyOn(S3Client.prototype, 'send').mockImplementation(function (
      this: S3Client,
      command: unknown,
      ...rest: unknown[]
    ) {
      if (command instanceof ListMultipartUploadsCommand && ++lists === 2) stop.abort();
      return (originalSend as (...args: unknown[]) => Promise<unknown>).call(this, command, ...rest);
    } as never);
    const partial = await first.sweep(Infinity, stop.signal);
    spy.mockRestore();
    expect(partial.complete).toBe(false);
    expect(partial.terminated.length).toBeGreaterThanOrEqual(1);
    expect(saved[0]).toMatchObject({ phase: 'multipart', keyMarker: expect.stringMatching(/^p\/upload/) });

    const rest = await sweeper(tus, state, 1).sweep();
    expect(rest.complete).toBe(true);
    expect([...partial.terminated, ...rest.terminated].sort()).toEqual(['upload1', 'upload2', 'upload3']);
    expect(saved[saved.length - 1]).toBeUndefined();
    expect(s3.uploads.size).toBe(0);
  });
});

describe('CallBudget', () => {
  it('spaces calls evenly: 600 a minute is one per 100 ms', async () => {
    const budget = new CallBudget(600);
    const startedAt = Date.now();
    for (let i = 0; i < 4; i++) await budget.take();
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(290);
  });
});
