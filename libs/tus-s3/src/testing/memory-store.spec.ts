import { LockInterruptedError } from '../locker/locker.interface';
import { MemoryLocker } from '../locker/memory-locker';
import { StorageError, UploadExistsError, UploadNotFoundError } from '../store/store-errors';
import { supportsConcatenation, supportsFinishedCopy, type Upload } from '../store/tus-data-store';
import { FakeRequest } from './http-doubles';
import { MemoryStore } from './memory-store';

const body = (text: string, open = false) => new FakeRequest({ method: 'PATCH', url: '/', body: text, open });
const newUpload = (size: number | null, extra: object = {}) => ({ size, metadata: {}, metadataHeader: '', ...extra });

describe('MemoryStore', () => {
  const clock = { now: () => new Date('2026-01-01T00:00:00Z') };
  let store: MemoryStore;
  let locker: MemoryLocker;

  beforeEach(() => {
    store = new MemoryStore({
      bucket: 'b',
      objectPrefix: 'p/',
      clock,
      copyOnFinish: { bucket: 'copies', prefix: 'c/' },
    });
    locker = new MemoryLocker({ waitMs: 50 });
  });

  async function write(upload: Upload, text: string, maxBytes = 1000) {
    const lock = await locker.lock(upload.id);
    try {
      return await store.write(upload, body(text), lock, { maxBytes });
    } finally {
      await lock.release();
    }
  }

  it('offers concatenation and finished copies', () => {
    expect(supportsConcatenation(store)).toBe(true);
    expect(supportsFinishedCopy(store)).toBe(true);
  });

  it('creates frozen public views with a generated 32-hex id and the location under the prefix', async () => {
    const upload = await store.create(newUpload(5, { metadata: { a: 'b' }, metadataHeader: 'a Yg==' }));
    expect(upload.id).toMatch(/^[0-9a-f]{32}$/);
    expect(upload).toEqual({
      id: upload.id,
      size: 5,
      offset: 0,
      metadata: { a: 'b' },
      metadataHeader: 'a Yg==',
      createdAt: '2026-01-01T00:00:00.000Z',
      finishedAt: null,
      expiresAt: null,
      location: { bucket: 'b', key: `p/${upload.id}` },
    });
    expect(Object.isFrozen(upload)).toBe(true);
    expect(await store.get(upload.id)).toEqual(upload);
  });

  it('finishes an upload of size 0 at creation', async () => {
    expect((await store.create(newUpload(0))).finishedAt).toBe('2026-01-01T00:00:00.000Z');
  });

  it('throws UploadExistsError for a taken id, and refuses invalid ids', async () => {
    await store.create(newUpload(1, { id: 'a/b' }));
    await expect(store.create(newUpload(1, { id: 'a/b' }))).rejects.toBeInstanceOf(UploadExistsError);
    await expect(store.create(newUpload(1, { id: 'a.b' }))).rejects.toThrow(/not a valid upload id/);
  });

  it('throws UploadNotFoundError for unknown and invalid ids', async () => {
    await expect(store.get('nope')).rejects.toBeInstanceOf(UploadNotFoundError);
    await expect(store.get('../x')).rejects.toBeInstanceOf(UploadNotFoundError);
  });

  it('appends bytes, keeps the offset, and finishes when the offset reaches the size', async () => {
    const upload = await store.create(newUpload(5));
    const first = await write(upload, 'he');
    expect(first).toEqual({ upload: expect.objectContaining({ offset: 2, finishedAt: null }), stop: 'end' });
    const second = await write(first.upload, 'llo');
    expect(second.upload).toMatchObject({ offset: 5, finishedAt: '2026-01-01T00:00:00.000Z' });
    expect(store.bytesOf(upload.id).toString()).toBe('hello');
  });

  it('cuts a body at maxBytes and says too-large', async () => {
    const upload = await store.create(newUpload(null));
    const outcome = await write(upload, 'hello', 3);
    expect(outcome.stop).toBe('too-large');
    expect(outcome.upload.offset).toBe(3);
  });

  it('keeps what arrived when the holder is asked to let go, and says stopped', async () => {
    const upload = await store.create(newUpload(10));
    const lock = await locker.lock(upload.id);
    const req = body('abc', true);
    const writing = store.write(upload, req, lock, { maxBytes: 10 });
    await new Promise((resolve) => setImmediate(resolve));
    const next = locker.lock(upload.id); // asks the holder to let go
    const outcome = await writing;
    await lock.release();
    await (await next).release();
    expect(outcome.stop).toBe('stopped');
    expect(outcome.upload.offset).toBe(3);
  });

  it('keeps what arrived when the client goes away, and says client-aborted', async () => {
    const upload = await store.create(newUpload(10));
    const lock = await locker.lock(upload.id);
    const req = body('abc', true);
    const writing = store.write(upload, req, lock, { maxBytes: 10 });
    await new Promise((resolve) => setImmediate(resolve));
    req.abort();
    const outcome = await writing;
    await lock.release();
    expect(outcome).toMatchObject({ stop: 'client-aborted', upload: { offset: 3 } });
  });

  it('commits nothing for a caller whose lock was released', async () => {
    const upload = await store.create(newUpload(10));
    const lock = await locker.lock(upload.id);
    await lock.release();
    await expect(store.write(upload, body('abc'), lock, { maxBytes: 10 })).rejects.toBeInstanceOf(LockInterruptedError);
    expect(store.bytesOf(upload.id).length).toBe(0);
  });

  it('refuses views it did not issue, and stale ones', async () => {
    const upload = await store.create(newUpload(10));
    await write(upload, 'ab');
    const lock = await locker.lock(upload.id);
    await expect(store.write(upload, body('c'), lock, { maxBytes: 10 })).rejects.toThrow(/changed since/);
    await expect(store.write({ ...upload, offset: 2 }, body('c'), lock, { maxBytes: 10 })).rejects.toThrow(
      /not read from this store/,
    );
    await lock.release();
  });

  it('fails a write part-way when told to, keeping the bytes before the failure', async () => {
    const upload = await store.create(newUpload(10));
    store.failNextWrite({ afterBytes: 2 });
    const outcome = await write(upload, 'hello');
    expect(outcome.failure).toBeInstanceOf(StorageError);
    expect(outcome.upload.offset).toBe(2);
    expect((await write(outcome.upload, 'llo')).failure).toBeUndefined();
  });

  it('declares a deferred length once, finishing when every byte is there', async () => {
    const upload = await write(await store.create(newUpload(null)), 'abc').then((o) => o.upload);
    const lock = await locker.lock(upload.id);
    const declared = await store.declareLength(upload, 3, lock);
    expect(declared).toMatchObject({ size: 3, finishedAt: '2026-01-01T00:00:00.000Z' });
    await expect(store.declareLength(declared, 4, lock)).rejects.toThrow(/length already/);
    await lock.release();
  });

  it('reads finished uploads only, whole or a range', async () => {
    const upload = await store.create(newUpload(5));
    await expect(store.read(upload)).rejects.toBeInstanceOf(UploadNotFoundError);
    const finished = (await write(upload, 'hello')).upload;
    const whole = await store.read(finished);
    expect(whole.contentLength).toBe(5);
    expect(Buffer.concat(await whole.body.toArray()).toString()).toBe('hello');
    const range = await store.read(finished, { start: 1, end: 3 });
    expect(range.contentLength).toBe(3);
    expect(Buffer.concat(await range.body.toArray()).toString()).toBe('ell');
  });

  it('terminates an upload (its copy stays, as in another bucket)', async () => {
    const finished = (await write(await store.create(newUpload(2)), 'hi')).upload;
    const copy = await store.copyFinished(finished);
    expect(copy).toEqual({ bucket: 'copies', key: `c/${finished.id}` });
    const lock = await locker.lock(finished.id);
    await store.terminate(finished, lock);
    await lock.release();
    expect(store.has(finished.id)).toBe(false);
    await expect(store.get(finished.id)).rejects.toBeInstanceOf(UploadNotFoundError);
    expect(store.copyAt(copy!)?.toString()).toBe('hi');
  });

  it('copies nothing without copyOnFinish', async () => {
    const plain = new MemoryStore();
    const upload = await plain.create(newUpload(0));
    expect(await plain.copyFinished(upload)).toBeUndefined();
  });

  it('concatenates finished partials into an empty final upload, in order', async () => {
    const a = (await write(await store.create(newUpload(2, { concat: { kind: 'partial' } })), 'ab')).upload;
    const b = (await write(await store.create(newUpload(3, { concat: { kind: 'partial' } })), 'cde')).upload;
    const final = await store.create(
      newUpload(5, { concat: { kind: 'final', uploadIds: [b.id, a.id], header: 'final;x' } }),
    );
    const lock = await locker.lock(final.id);
    const outcome = await store.concatenate(final, [b, a], lock);
    await lock.release();
    expect(outcome.upload).toMatchObject({ offset: 5, finishedAt: expect.any(String) });
    expect(store.bytesOf(final.id).toString()).toBe('cdeab');
  });
});
