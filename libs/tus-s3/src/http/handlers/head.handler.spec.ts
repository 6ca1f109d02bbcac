import { NotFoundException } from '@nestjs/common';
import { TusEvents, UploadFinishedEvent } from '../../events/tus-events';
import { TusHookRefusal, UploadRequest } from '../../hooks/tus-hooks';
import { UploadNotFoundError } from '../../store/store-errors';
import { Upload } from '../../store/tus-data-store';
import { FakeRequest } from '../../testing/http-doubles';
import { b64, TusHarness } from '../../testing/tus-test-harness';

describe('HeadHandler (HEAD)', () => {
  let h: TusHarness;
  beforeAll(async () => {
    h = await TusHarness.create();
  });
  afterAll(() => h.close());
  beforeEach(() => h.reset());
  afterEach(() => jest.restoreAllMocks());

  describe('with no hooks', () => {
    it('answers 200 with Upload-Offset, Upload-Length, Cache-Control: no-store, Tus-Resumable and no body', async () => {
      const upload = await h.seed({ size: 10, bytes: 'abc' });
      const res = await h.request('HEAD', h.pathOf(upload.id));
      expect(res.statusCode).toBe(200);
      expect(res.header('Upload-Offset')).toBe('3');
      expect(res.header('Upload-Length')).toBe('10');
      expect(res.header('Upload-Defer-Length')).toBeUndefined();
      expect(res.header('Cache-Control')).toBe('no-store');
      expect(res.header('Tus-Resumable')).toBe('1.0.0');
      expect(res.header('Upload-Metadata')).toBeUndefined();
      expect(res.header('Upload-Concat')).toBeUndefined();
      expect(res.body.length).toBe(0);
    });

    it('answers Upload-Defer-Length: 1 and no Upload-Length while the length is deferred', async () => {
      const upload = await h.seed({ size: null, bytes: 'ab' });
      const res = await h.request('HEAD', h.pathOf(upload.id));
      expect(res.header('Upload-Defer-Length')).toBe('1');
      expect(res.header('Upload-Length')).toBeUndefined();
      expect(res.header('Upload-Offset')).toBe('2');
    });

    it('echoes Upload-Metadata exactly as the client sent it', async () => {
      const header = `filename ${b64('Grüße.txt')},is_confidential,note ${b64('a, b')}`;
      const created = await h.request('POST', '/files', {
        headers: { 'Upload-Length': '4', 'Upload-Metadata': header },
      });
      const res = await h.request('HEAD', new URL(created.header('Location')!).pathname);
      expect(res.header('Upload-Metadata')).toBe(header);
    });

    it('answers Upload-Concat: partial for a partial upload', async () => {
      const upload = await h.seed({ size: 3, concat: { kind: 'partial' } });
      expect((await h.request('HEAD', h.pathOf(upload.id))).header('Upload-Concat')).toBe('partial');
    });

    it('echoes Upload-Concat of a final upload as the client sent it', async () => {
      const a = await h.seed({ bytes: 'ab', concat: { kind: 'partial' } });
      const header = `final;${h.urlOf(a.id)}`;
      const created = await h.request('POST', '/files', { headers: { 'Upload-Concat': header } });
      expect(created.statusCode).toBe(201);
      const res = await h.request('HEAD', new URL(created.header('Location')!).pathname);
      expect(res.header('Upload-Concat')).toBe(header);
      expect(res.header('Upload-Length')).toBe('2');
      expect(res.header('Upload-Offset')).toBe('2');
    });

    it('answers 404 without a body for an unknown upload', async () => {
      const res = await h.request('HEAD', '/files/0123456789abcdef0123456789abcdef');
      expect(res.statusCode).toBe(404);
      expect(res.body.length).toBe(0);
      expect(res.header('Tus-Resumable')).toBe('1.0.0');
    });

    it('answers 423 with Retry-After when the upload stays busy past lock.waitMs, and emits nothing', () =>
      TusHarness.with({ lockWaitMs: 20 }, async (busy) => {
        const upload = await busy.seed({ size: 10 });
        const lock = await busy.locker.lock(upload.id);
        try {
          const res = await busy.request('HEAD', busy.pathOf(upload.id));
          expect(res.statusCode).toBe(423);
          expect(res.header('Retry-After')).toBe('1');
          // The waiting request asked the holder to let go.
          expect(lock.signal.aborted).toBe(true);
        } finally {
          await lock.release();
        }
        expect(busy.events.emitted).toEqual([]);
      }));
  });

  describe('onUploadRequest', () => {
    it('sees kind head and the stored upload', async () => {
      const seen: UploadRequest[] = [];
      h.reset({ onUploadRequest: (request) => void seen.push(request) });
      const upload = await h.seed({ size: 5, bytes: 'a' });
      await h.request('HEAD', h.pathOf(upload.id));
      expect(seen).toHaveLength(1);
      expect(seen[0].kind).toBe('head');
      expect(seen[0].upload).toEqual(upload);
      expect(seen[0].req.method).toBe('HEAD');
    });

    it.each([
      ['a TusHookRefusal', new TusHookRefusal(403, 'not yours'), 403],
      ['a NotFoundException (hiding that it exists)', new NotFoundException(), 404],
    ])('refusing with %s: its status, no upload headers, no body', async (_what, refusal, status) => {
      h.reset({ onUploadRequest: () => Promise.reject(refusal) });
      const upload = await h.seed({ size: 5, bytes: 'a' });
      const res = await h.request('HEAD', h.pathOf(upload.id));
      expect(res.statusCode).toBe(status);
      expect(res.header('Upload-Offset')).toBeUndefined();
      expect(res.body.length).toBe(0);
    });
  });

  describe('an upload with every byte stored whose finish failed', () => {
    /** The write that brought the last byte fails at its end (S3 failed to complete it): all stored, unfinished. */
    async function storedButUnfinished() {
      h.store.failNextWrite({ afterBytes: 3 });
      const upload = await h.seed({ size: 3, bytes: 'abc' });
      expect(upload).toMatchObject({ offset: 3, finishedAt: null });
      return upload;
    }

    it('is finished by HEAD (a client seeing offset = length sends no PATCH), and announced once', async () => {
      const upload = await storedButUnfinished();
      const res = await h.request('HEAD', h.pathOf(upload.id));
      expect(res.statusCode).toBe(200);
      expect(res.header('Upload-Offset')).toBe('3');
      expect((await h.store.get(upload.id)).finishedAt).not.toBeNull();
      const [finished] = h.events.payloadsOf<UploadFinishedEvent>(TusEvents.UploadFinished);
      expect(finished.upload).toMatchObject({ id: upload.id, offset: 3 });
      await h.request('HEAD', h.pathOf(upload.id));
      expect(h.events.payloadsOf(TusEvents.UploadFinished)).toHaveLength(1);
    });

    it('answers 503 with Retry-After when finishing fails again, and finishes on a later HEAD', async () => {
      const upload = await storedButUnfinished();
      h.store.failNextWrite({ afterBytes: 0 });
      const failed = await h.request('HEAD', h.pathOf(upload.id));
      expect(failed.statusCode).toBe(503);
      expect(failed.header('Retry-After')).toBeDefined();
      expect((await h.store.get(upload.id)).finishedAt).toBeNull();
      expect((await h.request('HEAD', h.pathOf(upload.id))).statusCode).toBe(200);
      expect((await h.store.get(upload.id)).finishedAt).not.toBeNull();
    });

    it("asks the app's onUploadRequest and beforeFinish first: a refusal finishes nothing", async () => {
      const kinds: string[] = [];
      h.reset({
        onUploadRequest: ({ kind }) => void kinds.push(`request ${kind}`),
        beforeFinish: ({ kind }) => {
          kinds.push(`finish ${kind}`);
          throw new TusHookRefusal(422, 'rejected');
        },
      });
      const upload = await storedButUnfinished();
      const res = await h.request('HEAD', h.pathOf(upload.id));
      expect(res.statusCode).toBe(422);
      expect(kinds).toEqual(['request head', 'finish head']);
      expect(h.events.payloadsOf(TusEvents.UploadFinished)).toHaveLength(0);
    });
  });

  describe('an upload with every byte stored but not finished (its instance died finishing it)', () => {
    /** Stores all of an upload's bytes, then "dies" before it counts as finished: what a SIGKILL there leaves. */
    async function storedNotFinished(): Promise<Upload> {
      const upload = await h.seed({ size: 3 });
      const lock = await h.locker.lock(upload.id);
      const died = h.store.write(upload, new FakeRequest({ method: 'PATCH', url: '/', body: 'abc' }), lock, {
        maxBytes: 3,
        beforeFinish: () => Promise.reject(new Error('the process died here')),
      });
      await expect(died).rejects.toThrow('the process died here');
      await lock.release();
      const stored = await h.store.get(upload.id);
      expect(stored).toMatchObject({ offset: 3, size: 3, finishedAt: null });
      return stored;
    }

    it('is finished by the HEAD of a resuming client, which takes Upload-Offset = Upload-Length as done', async () => {
      const seen: UploadRequest[] = [];
      h.reset({ beforeFinish: (request) => void seen.push(request) });
      const upload = await storedNotFinished();

      const res = await h.request('HEAD', h.pathOf(upload.id));

      expect(res.statusCode).toBe(200);
      expect(res.header('Upload-Offset')).toBe('3');
      expect((await h.store.get(upload.id)).finishedAt).not.toBeNull();
      expect(seen.map((request) => request.kind)).toEqual(['head']);
      expect(h.events.emitted.map((e) => e.name)).toContain(TusEvents.UploadFinished);
    });

    it('asks beforeFinish again: a refusal terminates the upload and answers its status', async () => {
      h.reset({ beforeFinish: () => Promise.reject(new TusHookRefusal(422, 'not wanted')) });
      const upload = await storedNotFinished();

      const res = await h.request('HEAD', h.pathOf(upload.id));

      expect(res.statusCode).toBe(422);
      await expect(h.store.get(upload.id)).rejects.toBeInstanceOf(UploadNotFoundError);
    });

    it('is left alone when onUploadRequest refuses the request', async () => {
      const upload = await storedNotFinished();
      h.hooks.onUploadRequest = () => Promise.reject(new TusHookRefusal(403, 'not yours'));

      expect((await h.request('HEAD', h.pathOf(upload.id))).statusCode).toBe(403);
      expect((await h.store.get(upload.id)).finishedAt).toBeNull();
    });
  });
});
