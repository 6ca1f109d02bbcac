import { HttpException } from '@nestjs/common';
import { TusEvents, UploadFinishedEvent, UploadProgressEvent, UploadTerminatedEvent } from '../../events/tus-events';
import { TusHookRefusal, UploadRequest } from '../../hooks/tus-hooks';
import { LockHandle } from '../../locker/lock-handle';
import type { UploadLock } from '../../locker/locker.interface';
import type { Upload } from '../../store/tus-data-store';
import { MemoryStore } from '../../testing/memory-store';
import { isPublicUpload, RequestInit, TusHarness, waitFor } from '../../testing/tus-test-harness';

const OFFSET_STREAM = { 'Content-Type': 'application/offset+octet-stream' };

describe('PatchHandler (PATCH)', () => {
  let h: TusHarness;
  beforeAll(async () => {
    h = await TusHarness.create({ options: { maxSize: 100 } });
  });
  afterAll(() => h.close());
  beforeEach(() => h.reset());
  afterEach(() => jest.restoreAllMocks());

  const patch = (upload: Pick<Upload, 'id'>, offset: number | string, body?: string, init: RequestInit = {}, on = h) =>
    on.request('PATCH', on.pathOf(upload.id), {
      ...init,
      headers: { ...OFFSET_STREAM, 'Upload-Offset': String(offset), ...init.headers },
      body,
    });
  const offsetOf = async (upload: Pick<Upload, 'id'>, on = h) => (await on.store.get(upload.id)).offset;

  describe('appending', () => {
    it('appends the body at the offset: 204 with the new Upload-Offset, one upload.progress', async () => {
      const upload = await h.seed({ size: 10, bytes: 'abc' });
      const res = await patch(upload, 3, 'def');
      expect(res.statusCode).toBe(204);
      expect(res.header('Upload-Offset')).toBe('6');
      expect(res.header('Tus-Resumable')).toBe('1.0.0');
      expect(res.body.length).toBe(0);
      expect(h.store.bytesOf(upload.id).toString()).toBe('abcdef');
      expect(h.events.names()).toEqual([TusEvents.UploadProgress]);
      const [progress] = h.events.payloadsOf<UploadProgressEvent>(TusEvents.UploadProgress);
      expect(progress.offset).toBe(6);
      expect(isPublicUpload(progress.upload)).toBe(true);
    });

    it('accepts a Content-Type with parameters, in any case', async () => {
      const upload = await h.seed({ size: 10 });
      const res = await patch(upload, 0, 'ab', { headers: { 'Content-Type': 'Application/Offset+Octet-Stream; x=1' } });
      expect(res.statusCode).toBe(204);
    });

    it('finishes the upload with its last byte: progress, then finished with where the bytes are', async () => {
      const upload = await h.seed({ size: 5, bytes: 'he' });
      const res = await patch(upload, 2, 'llo');
      expect(res.statusCode).toBe(204);
      expect(res.header('Upload-Offset')).toBe('5');
      const stored = await h.store.get(upload.id);
      expect(stored.finishedAt).not.toBeNull();
      expect(h.events.names()).toEqual([TusEvents.UploadProgress, TusEvents.UploadFinished]);
      const [finished] = h.events.payloadsOf<UploadFinishedEvent>(TusEvents.UploadFinished);
      expect(finished).toBeInstanceOf(UploadFinishedEvent);
      expect(isPublicUpload(finished.upload)).toBe(true);
      expect(finished.upload).toEqual(stored);
      expect(finished.object).toEqual({ bucket: 'test-bucket', key: upload.id });
      expect(finished.copy).toBeUndefined();
    });

    it('answers an empty PATCH at the current offset with that offset, and stores nothing', async () => {
      const upload = await h.seed({ size: 5, bytes: 'ab' });
      const res = await patch(upload, 2);
      expect(res.statusCode).toBe(204);
      expect(res.header('Upload-Offset')).toBe('2');
      expect(h.events.emitted).toEqual([]);
    });

    it.each([
      ['no Content-Type', { 'Content-Type': undefined }],
      ['application/json', { 'Content-Type': 'application/json' }],
      ['application/octet-stream', { 'Content-Type': 'application/octet-stream' }],
    ])('answers 415 for %s, and the offset stays', async (_what, headers) => {
      const upload = await h.seed({ size: 10, bytes: 'ab' });
      const res = await patch(upload, 2, 'cd', { headers });
      expect(res.statusCode).toBe(415);
      expect(res.text).toMatch(/application\/offset\+octet-stream/);
      expect(await offsetOf(upload)).toBe(2);
    });

    it.each([
      ['missing', undefined],
      ['negative', '-1'],
      ['not a number', 'two'],
    ])('answers 400 for an Upload-Offset %s', async (_what, offset) => {
      const upload = await h.seed({ size: 10 });
      const res = await h.request('PATCH', h.pathOf(upload.id), {
        headers: { ...OFFSET_STREAM, 'Upload-Offset': offset },
        body: 'a',
      });
      expect(res.statusCode).toBe(400);
      expect(await offsetOf(upload)).toBe(0);
    });

    it.each([[0], [4]])(
      'answers 409 for Upload-Offset %i when the upload is at 2, and writes nothing',
      async (offset) => {
        const upload = await h.seed({ size: 10, bytes: 'ab' });
        const res = await patch(upload, offset, 'xy');
        expect(res.statusCode).toBe(409);
        expect(res.text).toMatch(/current offset 2/);
        expect(h.store.bytesOf(upload.id).toString()).toBe('ab');
        expect(h.events.emitted).toEqual([]);
      },
    );

    it('answers 404 for an unknown upload', async () => {
      expect((await patch({ id: '0123456789abcdef0123456789abcdef' }, 0, 'a')).statusCode).toBe(404);
    });

    it('answers 413 for a body that would go past Upload-Length, and writes nothing', async () => {
      const upload = await h.seed({ size: 5, bytes: 'ab' });
      const res = await patch(upload, 2, 'cdef');
      expect(res.statusCode).toBe(413);
      expect(res.header('Connection')).toBe('close');
      expect(h.store.bytesOf(upload.id).toString()).toBe('ab');
    });

    it('answers 413 for a chunked body that goes past Upload-Length, keeping only the bytes up to it', async () => {
      const upload = await h.seed({ size: 5, bytes: 'ab' });
      const res = await patch(upload, 2, 'cdefgh', { chunked: true });
      expect(res.statusCode).toBe(413);
      expect(h.store.bytesOf(upload.id).toString()).toBe('abcde');
    });

    it('answers 413 for more bytes to a complete upload', async () => {
      const upload = await h.seed({ size: 2, bytes: 'ab' });
      const res = await patch(upload, 2, 'c', { chunked: true });
      expect(res.statusCode).toBe(413);
      expect(res.text).toMatch(/already complete/);
      expect(h.store.bytesOf(upload.id).toString()).toBe('ab');
    });

    it('answers 413 for a deferred-length upload growing past Tus-Max-Size', async () => {
      const upload = await h.seed({ size: null, bytes: 'x'.repeat(98) });
      expect((await patch(upload, 98, 'abc')).statusCode).toBe(413);
      expect(await offsetOf(upload)).toBe(98);
    });

    it('answers 403 for a final upload of the concatenation extension, which is never patched', async () => {
      const a = await h.seed({ bytes: 'ab', concat: { kind: 'partial' } });
      const final = await h.request('POST', '/files', { headers: { 'Upload-Concat': `final;${h.pathOf(a.id)}` } });
      const res = await h.request('PATCH', new URL(final.header('Location')!).pathname, {
        headers: { ...OFFSET_STREAM, 'Upload-Offset': '2' },
        body: 'c',
      });
      expect(res.statusCode).toBe(403);
    });
  });

  describe('a deferred length (creation-defer-length)', () => {
    it('is declared by a PATCH carrying Upload-Length, with or without bytes', async () => {
      const upload = await h.seed({ size: null, bytes: 'ab' });
      const res = await patch(upload, 2, 'cd', { headers: { 'Upload-Length': '10' } });
      expect(res.statusCode).toBe(204);
      expect(res.header('Upload-Offset')).toBe('4');
      const head = await h.request('HEAD', h.pathOf(upload.id));
      expect(head.header('Upload-Length')).toBe('10');
      expect(head.header('Upload-Defer-Length')).toBeUndefined();
    });

    it('is declared once: the same value again is fine, another one is a 400', async () => {
      const upload = await h.seed({ size: null, bytes: 'ab' });
      expect((await patch(upload, 2, undefined, { headers: { 'Upload-Length': '10' } })).statusCode).toBe(204);
      expect((await patch(upload, 2, 'c', { headers: { 'Upload-Length': '10' } })).statusCode).toBe(204);
      const changed = await patch(upload, 3, 'd', { headers: { 'Upload-Length': '12' } });
      expect(changed.statusCode).toBe(400);
      expect((await h.store.get(upload.id)).size).toBe(10);
      expect(await offsetOf(upload)).toBe(3);
    });

    it('cannot change the length of an upload created with one', async () => {
      const upload = await h.seed({ size: 5 });
      expect((await patch(upload, 0, 'a', { headers: { 'Upload-Length': '6' } })).statusCode).toBe(400);
    });

    it('answers 400 for a length below the bytes received, 413 above Tus-Max-Size: nothing declared', async () => {
      const upload = await h.seed({ size: null, bytes: 'abc' });
      expect((await patch(upload, 3, undefined, { headers: { 'Upload-Length': '2' } })).statusCode).toBe(400);
      expect((await patch(upload, 3, undefined, { headers: { 'Upload-Length': '101' } })).statusCode).toBe(413);
      expect((await h.store.get(upload.id)).size).toBeNull();
    });

    it('answers 413 for a body past the length it declares, declaring nothing', async () => {
      const upload = await h.seed({ size: null, bytes: 'ab' });
      expect((await patch(upload, 2, 'cdef', { headers: { 'Upload-Length': '4' } })).statusCode).toBe(413);
      expect((await h.store.get(upload.id)).size).toBeNull();
    });

    it('finishes the upload when it declares a length equal to the bytes received', async () => {
      const upload = await h.seed({ size: null, bytes: 'abc' });
      const res = await patch(upload, 3, undefined, { headers: { 'Upload-Length': '3' } });
      expect(res.statusCode).toBe(204);
      expect(res.header('Upload-Offset')).toBe('3');
      expect((await h.store.get(upload.id)).finishedAt).not.toBeNull();
      expect(h.events.names()).toEqual([TusEvents.UploadFinished]);
    });
  });

  describe('a body cut short', () => {
    it('keeps every byte that arrived when another request asks for the upload: HEAD reports them', async () => {
      const upload = await h.seed({ size: 100 });
      const stalled = h.start('PATCH', h.pathOf(upload.id), {
        headers: { ...OFFSET_STREAM, 'Upload-Offset': '0', 'Content-Length': '100' },
        body: 'abcd',
        open: true,
      });
      await waitFor(() => stalled.req.unreadBytes === 0);
      const head = await h.request('HEAD', h.pathOf(upload.id));
      const res = await stalled.done;
      expect(res.statusCode).toBe(204);
      expect(res.header('Upload-Offset')).toBe('4');
      expect(res.header('Connection')).toBe('close');
      expect(head.statusCode).toBe(200);
      expect(head.header('Upload-Offset')).toBe('4');
    });

    it('keeps every byte that arrived when the client goes away', async () => {
      const upload = await h.seed({ size: 100 });
      const cut = h.start('PATCH', h.pathOf(upload.id), {
        headers: { ...OFFSET_STREAM, 'Upload-Offset': '0', 'Content-Length': '100' },
        body: 'abcdef',
        open: true,
      });
      await waitFor(() => cut.req.unreadBytes === 0);
      cut.req.abort();
      await cut.done;
      expect(h.store.bytesOf(upload.id).toString()).toBe('abcdef');
    });

    it('commits nothing and answers 503 when the lock is lost mid-body', async () => {
      const upload = await h.seed({ size: 100 });
      const locks: UploadLock[] = [];
      const lockUpload = h.locker.lock.bind(h.locker);
      jest.spyOn(h.locker, 'lock').mockImplementation(async (id) => {
        const lock = await lockUpload(id);
        locks.push(lock);
        return lock;
      });
      const patching = h.start('PATCH', h.pathOf(upload.id), {
        headers: { ...OFFSET_STREAM, 'Upload-Offset': '0', 'Content-Length': '100' },
        body: 'abcd',
        open: true,
      });
      await waitFor(() => locks.length === 1 && patching.req.unreadBytes === 0);
      (locks[0] as LockHandle).interrupt('lost');
      const res = await patching.done;
      expect(res.statusCode).toBe(503);
      expect(res.header('Retry-After')).toBe('2');
      expect(await offsetOf(upload)).toBe(0);
    });

    it('answers 423 when the upload stays busy, and writes nothing', () =>
      TusHarness.with({ lockWaitMs: 20 }, async (busy) => {
        const upload = await busy.seed({ size: 10 });
        const lock = await busy.locker.lock(upload.id);
        try {
          expect((await patch(upload, 0, 'ab', {}, busy)).statusCode).toBe(423);
        } finally {
          await lock.release();
        }
        expect(await offsetOf(upload, busy)).toBe(0);
      }));
  });

  describe('onUploadRequest', () => {
    it('sees kind patch and the upload before any byte is stored', async () => {
      const seen: UploadRequest[] = [];
      h.reset({ onUploadRequest: (request) => void seen.push(request) });
      const upload = await h.seed({ size: 5, bytes: 'ab' });
      await patch(upload, 2, 'c');
      expect(seen.map((r) => [r.kind, r.upload.offset])).toEqual([['patch', 2]]);
    });

    it('refusing leaves the offset unchanged and answers the refusal', async () => {
      h.reset({ onUploadRequest: () => Promise.reject(new TusHookRefusal(403, 'not yours')) });
      const upload = await h.seed({ size: 5, bytes: 'ab' });
      const res = await patch(upload, 2, 'cde');
      expect(res.statusCode).toBe(403);
      expect(res.text).toBe('not yours\n');
      expect(await offsetOf(upload)).toBe(2);
      expect(h.events.emitted).toEqual([]);
    });
  });

  describe('beforeFinish', () => {
    it('sees the upload once, every byte stored but not finished yet, with kind patch, not for PATCHes before the last byte', async () => {
      const seen: UploadRequest[] = [];
      h.reset({ beforeFinish: (request) => void seen.push(request) });
      const upload = await h.seed({ size: 4 });
      await patch(upload, 0, 'ab');
      expect(seen).toEqual([]);
      await patch(upload, 2, 'cd');
      expect(seen).toHaveLength(1);
      expect(seen[0].kind).toBe('patch');
      expect(seen[0].upload).toMatchObject({ offset: 4, size: 4, finishedAt: null });
    });

    it.each([
      ['a TusHookRefusal', new TusHookRefusal(422, 'virus found'), 422, 'virus found'],
      ['an HttpException', new HttpException('too many pages', 422), 422, 'too many pages'],
    ])(
      'refusing with %s terminates the upload and answers it: no upload.finished',
      async (_what, refusal, status, message) => {
        h.reset({ beforeFinish: () => Promise.reject(refusal) });
        const upload = await h.seed({ size: 4, bytes: 'ab' });
        const res = await patch(upload, 2, 'cd');
        expect(res.statusCode).toBe(status);
        expect(res.text).toBe(`${message}\n`);
        expect(h.store.has(upload.id)).toBe(false);
        expect((await h.request('HEAD', h.pathOf(upload.id))).statusCode).toBe(404);
        // Refused before it counted as finished: its last bytes are no progress to announce, only its end.
        expect(h.events.names()).toEqual([TusEvents.UploadTerminated]);
        const [terminated] = h.events.payloadsOf<UploadTerminatedEvent>(TusEvents.UploadTerminated);
        expect(isPublicUpload(terminated.upload)).toBe(true);
      },
    );

    it('refusing a length declared by PATCH terminates the upload too', async () => {
      h.reset({ beforeFinish: () => Promise.reject(new TusHookRefusal(409, 'duplicate')) });
      const upload = await h.seed({ size: null, bytes: 'abc' });
      const res = await patch(upload, 3, undefined, { headers: { 'Upload-Length': '3' } });
      expect(res.statusCode).toBe(409);
      expect(h.store.has(upload.id)).toBe(false);
    });

    it('does not let the upload be downloaded while beforeFinish is still deciding', async () => {
      let decide!: () => void;
      const decided = new Promise<void>((resolve) => (decide = resolve));
      let deciding = false;
      h.reset({
        beforeFinish: () => {
          deciding = true;
          return decided;
        },
      });
      const upload = await h.seed({ size: 4, bytes: 'ab' });
      const patching = patch(upload, 2, 'cd');
      await waitFor(() => deciding);
      let answeredWhileDeciding: number | undefined;
      const download = h.request('GET', h.pathOf(upload.id)).then((res) => (answeredWhileDeciding ??= res.statusCode));
      await new Promise((resolve) => setTimeout(resolve, 100));
      const whileDeciding = answeredWhileDeciding;
      decide();
      expect((await patching).statusCode).toBe(204);
      await download;
      expect(whileDeciding).not.toBe(200);
    });
  });

  describe('copyOnFinish', () => {
    it('copies the finished upload and names the copy in upload.finished', async () => {
      const store = new MemoryStore({ bucket: 'test-bucket', copyOnFinish: { bucket: 'archive', prefix: 'done/' } });
      await TusHarness.with({ store }, async (copying) => {
        const upload = await copying.seed({ size: 2 });
        await patch(upload, 0, 'ok', {}, copying);
        const [finished] = copying.events.payloadsOf<UploadFinishedEvent>(TusEvents.UploadFinished);
        expect(finished.copy).toEqual({ bucket: 'archive', key: `done/${upload.id}` });
        expect(store.copyAt(finished.copy!)?.toString()).toBe('ok');
      });
    });
  });
});
