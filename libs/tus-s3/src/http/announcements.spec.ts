import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { CopyObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Logger } from '@nestjs/common';
import { FakeS3 } from '../../../../test/support/fake-s3';
import { TusEvents, UploadFinishedEvent } from '../events/tus-events';
import { UploadEvents } from '../events/upload-events';
import { MemoryLocker } from '../locker/memory-locker';
import { S3Store } from '../store/s3-store';
import { Upload } from '../store/tus-data-store';
import { RecordingEmitter } from '../testing/http-doubles';
import { resolveOptions } from '../tus-s3.options';
import { FinishedAnnouncements } from './announcements';
import { UploadLocks } from './upload-locks';
import { UploadWrites } from './upload-writes';

const KiB = 1024;
const s3 = new FakeS3();
let now: number;
let ids: number;
const clock = { now: () => new Date(now) };
const settings = {
  bucket: 'uploads',
  objectPrefix: 'p/',
  partSize: { min: 5 * KiB, preferred: 8 * KiB },
  maxSize: 64 * KiB * KiB,
  announcementGraceMs: 10_000,
};
const options = resolveOptions({ ...settings, copyOnFinish: { bucket: 'archive', prefix: 'done/' } });
const locker = new MemoryLocker();
const store = new S3Store(new S3Client({ region: 'us-east-1' }), options, clock, () => `upload${++ids}`, null);

/** One instance of the module: its own emitter and announcer, over the shared store and locks. */
function instance() {
  const emitter = new RecordingEmitter();
  const announcements = new FinishedAnnouncements(
    store,
    options,
    clock,
    [],
    new UploadLocks(locker),
    new UploadEvents(store, emitter),
  );
  const finished = () => emitter.payloadsOf<UploadFinishedEvent>(TusEvents.UploadFinished);
  return { emitter, announcements, finished };
}

async function finishedUpload(data = randomBytes(3 * KiB)): Promise<Upload> {
  const created = await store.create({ size: data.length, metadataHeader: '', metadata: {} });
  const lock = await locker.lock(created.id);
  try {
    return (await store.write(created, Readable.from([data]), lock, { maxBytes: data.length })).upload;
  } finally {
    await lock.release();
  }
}

beforeAll(() => jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined));
beforeAll(() => jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined));
beforeEach(() => {
  s3.reset();
  ids = 0;
  now = Date.parse('2026-01-01T00:00:00.000Z');
});

describe('FinishedAnnouncements', () => {
  it('delivers right after the finish: copy, then upload.finished (attempt 1), each recorded', async () => {
    const a = instance();
    const upload = await finishedUpload();

    await a.announcements.deliver(upload);

    expect(s3.body('archive/done/upload1')).toEqual(s3.body('uploads/p/upload1'));
    expect(a.finished()).toHaveLength(1);
    expect(a.finished()[0]).toMatchObject({
      copy: { bucket: 'archive', key: 'done/upload1' },
      attempt: 1,
      replayed: false,
    });
    // The request is answered once the listeners ran; the record that they did is written after.
    expect(s3.json('uploads/p/upload1.info').announce).toMatchObject({ due: true, copy: { done: true } });
    await a.announcements.recorded();
    expect(s3.json('uploads/p/upload1.info').announce).toMatchObject({ due: false, attempt: 1, copy: { done: true } });
  });

  it('records the delivery under the lock its finishing request kept: no lock taken again, no journal read', async () => {
    // Without copyOnFinish, the delivery ends with one record (announced), which the finishing request's lock covers.
    const plain = resolveOptions(settings);
    const plainStore = new S3Store(new S3Client({ region: 'us-east-1' }), plain, clock, () => 'plain1', null);
    const locks = new UploadLocks(locker);
    const events = new UploadEvents(plainStore, new RecordingEmitter());
    const announcements = new FinishedAnnouncements(plainStore, plain, clock, [], locks, events);
    const writes = new UploadWrites(plainStore, {}, plain, events, locks, announcements);
    const created = await plainStore.create({ size: 3 * KiB, metadataHeader: '', metadata: {} });
    const data = randomBytes(3 * KiB);

    const finished = await locks.withLock(
      created.id,
      async (lock) => (await plainStore.write(created, Readable.from([data]), lock, { maxBytes: data.length })).upload,
      (after) => writes.keepsLock(created, after),
    );
    const lockTaken = jest.spyOn(locker, 'lock');
    const gets = s3.counts().GetObject ?? 0;
    await announcements.deliver(finished);
    await announcements.recorded();

    expect(s3.json('uploads/p/plain1.info').announce).toMatchObject({ due: false, attempt: 1 });
    expect(lockTaken).not.toHaveBeenCalled();
    expect(s3.counts().GetObject ?? 0).toBe(gets);
    // Recorded, the lock is let go: another request takes it at once.
    const next = await locker.tryLock('plain1');
    expect(next).not.toBeNull();
    await next?.release();
    lockTaken.mockRestore();
  });

  it('keeps the lock after a finish only for a delivery that ends with a record', () => {
    const locks = new UploadLocks(locker);
    const events = new UploadEvents(store, new RecordingEmitter());
    const announcements = new FinishedAnnouncements(store, options, clock, [], locks, events);
    const writes = new UploadWrites(store, {}, options, events, locks, announcements);
    const unfinished = { finishedAt: null } as Upload;
    const finished = { finishedAt: '2026-01-01T00:00:00.000Z' } as Upload;
    jest.spyOn(announcements, 'recordFollows').mockReturnValueOnce(true).mockReturnValueOnce(false);
    expect(writes.keepsLock(unfinished, unfinished)).toBe(true); // for the next request
    expect(writes.keepsLock(unfinished, finished)).toBe(true); // for the record
    expect(writes.keepsLock(unfinished, finished)).toBe(false); // nothing to record
    expect(writes.keepsLock(finished, finished)).toBe(false); // finished before: not this request's delivery
  });

  it('takes over an overdue delivery (a crash after the finish) only after the grace period, as a replay', async () => {
    const b = instance();
    const upload = await finishedUpload(); // the instance that finished it died: nothing delivered

    now += 9_000;
    await b.announcements.resume(await store.get(upload.id));
    expect(b.finished()).toHaveLength(0);
    expect(s3.mock.commandCalls(CopyObjectCommand)).toHaveLength(0);

    now += 1_000;
    await b.announcements.resume(await store.get(upload.id));
    expect(b.finished()).toHaveLength(1);
    expect(b.finished()[0]).toMatchObject({
      attempt: 2,
      replayed: true,
      copy: { bucket: 'archive', key: 'done/upload1' },
    });
    expect(s3.body('archive/done/upload1')).toEqual(s3.body('uploads/p/upload1'));

    now += 60_000;
    await b.announcements.resume(await store.get(upload.id));
    expect(b.finished()).toHaveLength(1);
  });

  it('delivers through its periodic scan an overdue upload that no request touches, once', async () => {
    const b = instance();
    const upload = await finishedUpload();
    await b.announcements.noteFinished(upload); // noted under the finishing request's lock; then its instance died

    now += 5_000;
    await b.announcements.scan();
    expect(b.finished()).toHaveLength(0);

    now += 6_000;
    await b.announcements.scan();
    expect(b.finished()).toHaveLength(1);
    expect(b.finished()[0]).toMatchObject({ attempt: 2, replayed: true });

    now += 60_000;
    await b.announcements.scan();
    expect(b.finished()).toHaveLength(1);
  });

  it('lets one instance take over when two find it overdue at once', async () => {
    const [b, c] = [instance(), instance()];
    const upload = await finishedUpload();
    now += 30_000;
    const seenByB = await store.get(upload.id);
    const seenByC = await store.get(upload.id);

    await Promise.all([b.announcements.resume(seenByB), c.announcements.resume(seenByC)]);

    expect(b.finished().length + c.finished().length).toBe(1);
    expect(s3.mock.commandCalls(CopyObjectCommand)).toHaveLength(1);
  });

  it('copies nothing again when the copy was recorded before the crash, and still announces', async () => {
    const b = instance();
    const upload = await finishedUpload();
    await store.copyFinished(upload);
    const lock = await locker.lock(upload.id);
    await store.markCopied(await store.get(upload.id, lock), lock);
    await lock.release();
    now += 30_000;
    const calls = s3.mock.commandCalls(CopyObjectCommand).length;

    await b.announcements.resume(await store.get(upload.id));

    expect(s3.mock.commandCalls(CopyObjectCommand)).toHaveLength(calls);
    expect(b.finished()).toHaveLength(1);
  });

  it('holds upload.finished back while the copy fails, and leaves it due for a later takeover', async () => {
    const a = instance();
    const upload = await finishedUpload();
    s3.mock.on(CopyObjectCommand).rejects(Object.assign(new Error('no such bucket'), { name: 'NoSuchBucket' }));

    await a.announcements.deliver(upload);

    expect(a.finished()).toHaveLength(0);
    expect(store.dueAnnouncement(await store.get(upload.id))).toMatchObject({ attempt: 1, copied: false });

    const stored = new Map(s3.objects);
    s3.reset(); // the bucket is back
    for (const [name, object] of stored) s3.objects.set(name, object);
    now += 30_000;
    await a.announcements.resume(await store.get(upload.id));
    expect(a.finished()).toHaveLength(1);
    expect(a.finished()[0]).toMatchObject({ attempt: 2, replayed: true });
  });
});
