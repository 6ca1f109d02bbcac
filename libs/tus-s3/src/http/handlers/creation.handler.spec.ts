import { ForbiddenException, HttpException, HttpStatus } from '@nestjs/common';
import { TusEvents, UploadCreatedEvent, UploadFinishedEvent, UploadProgressEvent } from '../../events/tus-events';
import { CreationRequest, TusHookRefusal, TusHooks } from '../../hooks/tus-hooks';
import { FakeRequest, FakeResponse } from '../../testing/http-doubles';
import { b64, idOfLocation, isPublicUpload, TUS_HEADERS, TusHarness, waitFor } from '../../testing/tus-test-harness';

const OFFSET_STREAM = { 'Content-Type': 'application/offset+octet-stream' };

describe('CreationHandler (POST)', () => {
  let h: TusHarness;
  beforeAll(async () => {
    h = await TusHarness.create({ options: { maxSize: 1000 } });
  });
  afterAll(() => h.close());
  beforeEach(() => h.reset());
  afterEach(() => jest.restoreAllMocks());

  describe('creation', () => {
    it('creates an upload of the declared length: 201 with its absolute Location, no bytes yet', async () => {
      const res = await h.request('POST', '/files', { headers: { 'Upload-Length': '100' } });
      expect(res.statusCode).toBe(201);
      expect(res.header('Tus-Resumable')).toBe('1.0.0');
      expect(res.header('Location')).toMatch(/^http:\/\/tus\.test\/files\/[0-9a-f]{32}$/);
      expect(res.header('Upload-Offset')).toBeUndefined();
      const id = idOfLocation(res.header('Location'));
      const upload = await h.store.get(id);
      expect(upload).toMatchObject({ id, size: 100, offset: 0, finishedAt: null, metadataHeader: '' });
      expect(upload.concat).toBeUndefined();
    });

    it('emits upload.created with the public Upload, and nothing else', async () => {
      const res = await h.request('POST', '/files', { headers: { 'Upload-Length': '100' } });
      expect(h.events.names()).toEqual([TusEvents.UploadCreated]);
      const [event] = h.events.payloadsOf<UploadCreatedEvent>(TusEvents.UploadCreated);
      expect(event).toBeInstanceOf(UploadCreatedEvent);
      expect(isPublicUpload(event.upload)).toBe(true);
      expect(event.upload).toMatchObject({ id: idOfLocation(res.header('Location')), size: 100, offset: 0 });
      expect(event.upload.location).toEqual({ bucket: 'test-bucket', key: event.upload.id });
    });

    it('answers the same when a listener throws (the error is logged)', async () => {
      h.events.on(TusEvents.UploadCreated, () => {
        throw new Error('listener broke');
      });
      const res = await h.request('POST', '/files', { headers: { 'Upload-Length': '100' } });
      expect(res.statusCode).toBe(201);
      expect(h.store.ids()).toHaveLength(1);
      expect(h.logs.errors().join('\n')).toMatch(/listener broke/);
    });

    it("keeps the new upload's lock for the PATCH that follows: it starts without taking one", async () => {
      const tryLock = jest.spyOn(h.locker, 'tryLock');
      const lock = jest.spyOn(h.locker, 'lock');
      const res = await h.request('POST', '/files', { headers: { 'Upload-Length': '5' } });
      expect(res.statusCode).toBe(201);
      expect(tryLock).toHaveBeenCalledTimes(1);
      const patch = await h.request('PATCH', h.pathOf(idOfLocation(res.header('Location'))), {
        headers: { 'Upload-Offset': '0', ...OFFSET_STREAM },
        body: Buffer.from('hello'),
      });
      expect(patch.statusCode).toBe(204);
      expect(lock).not.toHaveBeenCalled();
    });

    it('creates the upload when the lock service fails: creation needs no lock', async () => {
      jest.spyOn(h.locker, 'tryLock').mockRejectedValue(new Error('no quorum'));
      const res = await h.request('POST', '/files', { headers: { 'Upload-Length': '5' } });
      expect(res.statusCode).toBe(201);
      expect(h.store.ids()).toHaveLength(1);
    });

    it('accepts Upload-Defer-Length: 1 (creation-defer-length): the length stays unknown', async () => {
      const res = await h.request('POST', '/files', { headers: { 'Upload-Defer-Length': '1' } });
      expect(res.statusCode).toBe(201);
      expect((await h.store.get(idOfLocation(res.header('Location')))).size).toBeNull();
    });

    it.each([
      ['neither Upload-Length nor Upload-Defer-Length', {}],
      ['both Upload-Length and Upload-Defer-Length', { 'Upload-Length': '5', 'Upload-Defer-Length': '1' }],
      ['Upload-Defer-Length other than 1', { 'Upload-Defer-Length': '2' }],
      ['a negative Upload-Length', { 'Upload-Length': '-1' }],
      ['a non-numeric Upload-Length', { 'Upload-Length': '12abc' }],
      ['an Upload-Length with a leading zero', { 'Upload-Length': '012' }],
      ['Upload-Length sent twice', { 'Upload-Length': ['5', '5'] }],
      ['malformed Upload-Metadata', { 'Upload-Length': '5', 'Upload-Metadata': 'filename not*base64' }],
      ['duplicate Upload-Metadata keys', { 'Upload-Length': '5', 'Upload-Metadata': `a ${b64('x')},a ${b64('y')}` }],
      ['an Upload-Concat that is neither partial nor final', { 'Upload-Length': '5', 'Upload-Concat': 'whole' }],
    ])('answers 400 for %s and creates nothing', async (_what, headers) => {
      const res = await h.request('POST', '/files', { headers });
      expect(res.statusCode).toBe(400);
      expect(res.header('Content-Type')).toBe('text/plain; charset=utf-8');
      expect(res.text.length).toBeGreaterThan(1);
      expect(h.store.ids()).toEqual([]);
      expect(h.events.emitted).toEqual([]);
    });

    it('answers 413 for an Upload-Length above Tus-Max-Size, and accepts exactly Tus-Max-Size', async () => {
      const above = await h.request('POST', '/files', { headers: { 'Upload-Length': '1001' } });
      expect(above.statusCode).toBe(413);
      expect(above.text).toMatch(/1001/);
      expect(h.store.ids()).toEqual([]);
      const at = await h.request('POST', '/files', { headers: { 'Upload-Length': '1000' } });
      expect(at.statusCode).toBe(201);
    });

    it('keeps Upload-Metadata exactly as sent, and decodes it (key without value: null)', async () => {
      const header = `filename ${b64('Menü.pdf')},is_confidential,filetype ${b64('application/pdf')}`;
      const res = await h.request('POST', '/files', { headers: { 'Upload-Length': '5', 'Upload-Metadata': header } });
      const upload = await h.store.get(idOfLocation(res.header('Location')));
      expect(upload.metadataHeader).toBe(header);
      expect(upload.metadata).toEqual({ filename: 'Menü.pdf', is_confidential: null, filetype: 'application/pdf' });
      const head = await h.request('HEAD', h.pathOf(upload.id));
      expect(head.header('Upload-Metadata')).toBe(header);
    });

    it('finishes an upload of length 0 at once: Upload-Offset 0, upload.created then upload.finished', async () => {
      const res = await h.request('POST', '/files', { headers: { 'Upload-Length': '0' } });
      expect(res.statusCode).toBe(201);
      expect(res.header('Upload-Offset')).toBe('0');
      const upload = await h.store.get(idOfLocation(res.header('Location')));
      expect(upload.finishedAt).not.toBeNull();
      expect(h.events.names()).toEqual([TusEvents.UploadCreated, TusEvents.UploadFinished]);
      const [finished] = h.events.payloadsOf<UploadFinishedEvent>(TusEvents.UploadFinished);
      expect(isPublicUpload(finished.upload)).toBe(true);
      expect(finished.object).toEqual(upload.location);
    });

    it('creates a partial upload for Upload-Concat: partial', async () => {
      const res = await h.request('POST', '/files', { headers: { 'Upload-Length': '5', 'Upload-Concat': 'partial' } });
      expect(res.statusCode).toBe(201);
      expect((await h.store.get(idOfLocation(res.header('Location')))).concat).toEqual({ kind: 'partial' });
    });

    it('ignores a body that is not application/offset+octet-stream: the upload starts empty', async () => {
      const res = await h.request('POST', '/files', {
        headers: { 'Upload-Length': '5', 'Content-Type': 'application/json' },
        body: '{"a":1}',
      });
      expect(res.statusCode).toBe(201);
      expect(res.header('Upload-Offset')).toBeUndefined();
      expect(h.store.bytesOf(idOfLocation(res.header('Location'))).length).toBe(0);
    });
  });

  describe('Location', () => {
    it('uses https for a TLS socket, and the URL the app saw before routing (global prefix kept)', async () => {
      const req = new FakeRequest({
        method: 'POST',
        url: '/files',
        headers: { ...TUS_HEADERS, host: 'example.org', 'upload-length': '1' },
        encrypted: true,
      });
      req.originalUrl = '/api/files/?x=1';
      const res = new FakeResponse();
      await h.router.handle(req.asTusRequest, res as never, undefined);
      expect(res.header('Location')).toMatch(/^https:\/\/example\.org\/api\/files\/[0-9a-f]{32}$/);
    });

    it('ignores X-Forwarded-Proto and -Host unless trustProxy', async () => {
      const forwarded = { 'Upload-Length': '1', 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'public.example' };
      expect((await h.request('POST', '/files', { headers: forwarded })).header('Location')).toMatch(
        /^http:\/\/tus\.test\/files\//,
      );
      await TusHarness.with({ options: { trustProxy: true } }, async (behindProxy) => {
        expect((await behindProxy.request('POST', '/files', { headers: forwarded })).header('Location')).toMatch(
          /^https:\/\/public\.example\/files\//,
        );
      });
    });
  });

  describe('creation-with-upload', () => {
    it('stores the body as the first PATCH and answers its Upload-Offset', async () => {
      const res = await h.request('POST', '/files', {
        headers: { 'Upload-Length': '10', ...OFFSET_STREAM },
        body: 'hello',
      });
      expect(res.statusCode).toBe(201);
      expect(res.header('Upload-Offset')).toBe('5');
      const id = idOfLocation(res.header('Location'));
      expect(h.store.bytesOf(id).toString()).toBe('hello');
      expect((await h.store.get(id)).finishedAt).toBeNull();
      expect(h.events.names()).toEqual([TusEvents.UploadCreated, TusEvents.UploadProgress]);
      const [progress] = h.events.payloadsOf<UploadProgressEvent>(TusEvents.UploadProgress);
      expect(progress.offset).toBe(5);
      expect(isPublicUpload(progress.upload)).toBe(true);
    });

    it('finishes the upload when the body is all of it: created, progress, finished', async () => {
      const res = await h.request('POST', '/files', {
        headers: { 'Upload-Length': '5', ...OFFSET_STREAM },
        body: 'hello',
      });
      expect(res.statusCode).toBe(201);
      expect(res.header('Upload-Offset')).toBe('5');
      expect((await h.store.get(idOfLocation(res.header('Location')))).finishedAt).not.toBeNull();
      expect(h.events.names()).toEqual([TusEvents.UploadCreated, TusEvents.UploadProgress, TusEvents.UploadFinished]);
    });

    it('accepts a body with a deferred length', async () => {
      const res = await h.request('POST', '/files', {
        headers: { 'Upload-Defer-Length': '1', ...OFFSET_STREAM },
        body: 'abc',
      });
      expect(res.statusCode).toBe(201);
      expect(res.header('Upload-Offset')).toBe('3');
    });

    it('answers 413 for a Content-Length beyond Upload-Length, and creates nothing', async () => {
      const res = await h.request('POST', '/files', {
        headers: { 'Upload-Length': '3', ...OFFSET_STREAM },
        body: 'hello',
      });
      expect(res.statusCode).toBe(413);
      expect(res.header('Connection')).toBe('close');
      expect(h.store.ids()).toEqual([]);
    });

    it('answers 413 for a chunked body that turns out longer than Upload-Length, and leaves nothing behind', async () => {
      const res = await h.request('POST', '/files', {
        headers: { 'Upload-Length': '3', ...OFFSET_STREAM },
        body: [Buffer.from('he'), Buffer.from('llo')],
        chunked: true,
      });
      expect(res.statusCode).toBe(413);
      expect(h.store.ids()).toEqual([]);
    });

    it('leaves nothing in the store when storing the body fails, and answers 503 with Retry-After', async () => {
      h.store.failNextWrite({ afterBytes: 2 });
      const res = await h.request('POST', '/files', {
        headers: { 'Upload-Length': '10', ...OFFSET_STREAM },
        body: 'hello',
      });
      expect(res.statusCode).toBe(503);
      expect(res.header('Retry-After')).toBe('2');
      expect(res.header('Location')).toBeUndefined();
      expect(h.store.ids()).toEqual([]);
      expect(h.logs.errors().join('\n')).toMatch(/injected storage failure/);
    });

    it('tells listeners that a failed creation is gone (upload.terminated after upload.created)', async () => {
      h.store.failNextWrite({ afterBytes: 2 });
      await h.request('POST', '/files', { headers: { 'Upload-Length': '10', ...OFFSET_STREAM }, body: 'hello' });
      expect(h.events.names()).toContain(TusEvents.UploadTerminated);
    });

    it('keeps what arrived when the client goes away mid-body: 201 with that offset, connection closed', async () => {
      const { req, done } = h.start('POST', '/files', {
        headers: { 'Upload-Length': '10', 'Content-Length': '10', ...OFFSET_STREAM },
        body: 'abc',
        open: true,
      });
      await waitFor(() => req.unreadBytes === 0);
      req.abort();
      const res = await done;
      expect(res.statusCode).toBe(201);
      expect(res.header('Upload-Offset')).toBe('3');
      expect(res.header('Connection')).toBe('close');
      expect(h.store.bytesOf(idOfLocation(res.header('Location'))).toString()).toBe('abc');
    });
  });

  describe('beforeCreate', () => {
    const create = (hooks: TusHooks, headers: Record<string, string> = { 'Upload-Length': '10' }, body?: string) => {
      h.reset(hooks);
      return h.request('POST', '/files', { headers: body ? { ...headers, ...OFFSET_STREAM } : headers, body });
    };

    it('sees the request, the declared size, the decoded metadata and the concat kind', async () => {
      const seen: CreationRequest[] = [];
      await create(
        { beforeCreate: (request) => void seen.push(request) },
        {
          'Upload-Length': '10',
          'Upload-Metadata': `filename ${b64('a.txt')}`,
          'Upload-Concat': 'partial',
        },
      );
      expect(seen).toHaveLength(1);
      expect(seen[0].size).toBe(10);
      expect(seen[0].metadata).toEqual({ filename: 'a.txt' });
      expect(seen[0].concat).toEqual({ kind: 'partial' });
      expect(seen[0].req.headers['upload-length']).toBe('10');
    });

    it('sees null as the size of a deferred-length upload', async () => {
      const sizes: Array<number | null> = [];
      await create({ beforeCreate: ({ size }) => void sizes.push(size) }, { 'Upload-Defer-Length': '1' });
      expect(sizes).toEqual([null]);
    });

    it.each([
      ['a TusHookRefusal', () => new TusHookRefusal(403, 'quota exceeded'), 403, 'quota exceeded'],
      ['a ForbiddenException', () => new ForbiddenException('no uploads for you'), 403, 'no uploads for you'],
      [
        'an HttpException with a status of its own',
        () => new HttpException('pay first', HttpStatus.PAYMENT_REQUIRED),
        402,
        'pay first',
      ],
    ])(
      'refused with %s: its status and message, nothing created, no event',
      async (_what, refusal, status, message) => {
        const res = await create({ beforeCreate: () => Promise.reject(refusal()) });
        expect(res.statusCode).toBe(status);
        expect(res.text).toBe(`${message}\n`);
        expect(h.store.ids()).toEqual([]);
        expect(h.events.emitted).toEqual([]);
      },
    );

    it('refused for a creation-with-upload: the body is not stored, nothing created', async () => {
      const res = await create(
        {
          beforeCreate: () => {
            throw new TusHookRefusal(401, 'sign in');
          },
        },
        { 'Upload-Length': '5' },
        'hello',
      );
      expect(res.statusCode).toBe(401);
      expect(res.header('Connection')).toBe('close');
      expect(h.store.ids()).toEqual([]);
    });

    it('throwing a plain Error: 500 "internal error", logged, nothing created', async () => {
      const res = await create({
        beforeCreate: () => {
          throw new Error('database down');
        },
      });
      expect(res.statusCode).toBe(500);
      expect(res.text).toBe('internal error\n');
      expect(h.logs.errors().join('\n')).toMatch(/database down/);
      expect(h.store.ids()).toEqual([]);
    });

    it('chooses the id, which may span segments: Location names it and HEAD finds it', async () => {
      const res = await create({ beforeCreate: () => ({ id: 'tenant-a/2026/x' }) });
      expect(res.statusCode).toBe(201);
      expect(res.header('Location')).toBe('http://tus.test/files/tenant-a/2026/x');
      expect(h.store.ids()).toEqual(['tenant-a/2026/x']);
      const head = await h.request('HEAD', '/files/tenant-a/2026/x');
      expect(head.statusCode).toBe(200);
      expect(head.header('Upload-Length')).toBe('10');
    });

    it('chooses an id that is taken: 409, the existing upload untouched', async () => {
      const res = await create({ beforeCreate: () => ({ id: 'tenant-a/x' }) });
      expect(res.statusCode).toBe(201);
      await h.request('PATCH', '/files/tenant-a/x', {
        headers: { 'Upload-Offset': '0', ...OFFSET_STREAM },
        body: 'abc',
      });
      const again = await h.request('POST', '/files', { headers: { 'Upload-Length': '10' } });
      expect(again.statusCode).toBe(409);
      expect(h.store.bytesOf('tenant-a/x').toString()).toBe('abc');
    });

    it.each([['../etc/passwd'], ['a.info'], ['a//b'], ['']])(
      'chooses the invalid id %j: 500, nothing created',
      async (id) => {
        const res = await create({ beforeCreate: () => ({ id }) });
        expect(res.statusCode).toBe(500);
        expect(h.store.ids()).toEqual([]);
      },
    );

    it('chooses the metadata: stored decoded, and HEAD echoes it encoded', async () => {
      const res = await create(
        { beforeCreate: () => ({ metadata: { owner: 'user-1', flag: null } }) },
        {
          'Upload-Length': '10',
          'Upload-Metadata': `filename ${b64('a.txt')}`,
        },
      );
      const upload = await h.store.get(idOfLocation(res.header('Location')));
      expect(upload.metadata).toEqual({ owner: 'user-1', flag: null });
      const head = await h.request('HEAD', h.pathOf(upload.id));
      expect(head.header('Upload-Metadata')).toBe(`owner ${b64('user-1')},flag`);
    });

    it('chooses a smaller maxSize: 413 above it, 201 at it', async () => {
      const hooks = { beforeCreate: () => ({ maxSize: 10 }) };
      expect((await create(hooks, { 'Upload-Length': '11' })).statusCode).toBe(413);
      expect(h.store.ids()).toEqual([]);
      expect((await create(hooks, { 'Upload-Length': '10' })).statusCode).toBe(201);
    });

    it('chooses a smaller maxSize: a deferred-length body beyond it is refused with 413', async () => {
      const res = await create({ beforeCreate: () => ({ maxSize: 3 }) }, { 'Upload-Defer-Length': '1' }, 'hello');
      expect(res.statusCode).toBe(413);
      expect(h.store.ids()).toEqual([]);
    });

    it('cannot raise maxSize above the module option', async () => {
      const res = await create({ beforeCreate: () => ({ maxSize: 5000 }) }, { 'Upload-Length': '1001' });
      expect(res.statusCode).toBe(413);
    });

    it('keeps the maxSize it chose for a deferred-length upload when a PATCH declares the length', async () => {
      const res = await create({ beforeCreate: () => ({ maxSize: 10 }) }, { 'Upload-Defer-Length': '1' });
      const patch = await h.request('PATCH', h.pathOf(idOfLocation(res.header('Location'))), {
        headers: { 'Upload-Offset': '0', 'Upload-Length': '500', ...OFFSET_STREAM },
      });
      expect(patch.statusCode).toBe(413);
    });
  });

  describe('beforeFinish on a creation that carries every byte', () => {
    it('refusing removes the upload and answers the refusal: no upload.finished', async () => {
      h.reset({ beforeFinish: () => Promise.reject(new TusHookRefusal(422, 'virus found')) });
      const res = await h.request('POST', '/files', {
        headers: { 'Upload-Length': '5', ...OFFSET_STREAM },
        body: 'hello',
      });
      expect(res.statusCode).toBe(422);
      expect(res.text).toBe('virus found\n');
      expect(h.store.ids()).toEqual([]);
      expect(h.events.names()).toEqual([TusEvents.UploadCreated, TusEvents.UploadTerminated]);
    });

    it('refusing an empty upload (length 0) removes it too', async () => {
      h.reset({ beforeFinish: () => Promise.reject(new ForbiddenException('empty files are not allowed')) });
      const res = await h.request('POST', '/files', { headers: { 'Upload-Length': '0' } });
      expect(res.statusCode).toBe(403);
      expect(res.text).toBe('empty files are not allowed\n');
      expect(h.store.ids()).toEqual([]);
      expect(h.events.names()).not.toContain(TusEvents.UploadFinished);
    });
  });
});
