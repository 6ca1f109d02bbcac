import { LockUnavailableError } from '../locker/locker.interface';
import { StorageError } from '../store/store-errors';
import { TusHarness } from '../testing/tus-test-harness';

describe('TusRouter', () => {
  let h: TusHarness;
  beforeAll(async () => {
    h = await TusHarness.create();
  });
  afterAll(() => h.close());
  beforeEach(() => h.reset());
  afterEach(() => jest.restoreAllMocks());

  describe('Tus-Resumable', () => {
    it.each([['POST'], ['HEAD'], ['PATCH'], ['DELETE']])(
      'answers %s without it with 412 and Tus-Version',
      async (method) => {
        const upload = await h.seed({ size: 10 });
        const path = method === 'POST' ? '/files' : h.pathOf(upload.id);
        const res = await h.request(method, path, {
          withoutTusResumable: true,
          headers: { 'Upload-Length': '1', 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' },
        });
        expect(res.statusCode).toBe(412);
        expect(res.header('Tus-Version')).toBe('1.0.0');
        if (method === 'HEAD') expect(res.body.length).toBe(0);
        else expect(res.text).toMatch(/Tus-Resumable header is missing/);
        expect(h.store.ids()).toEqual([upload.id]);
        expect(await h.store.get(upload.id)).toEqual(upload);
      },
    );

    it('answers 412 for a version it does not speak', async () => {
      const res = await h.request('POST', '/files', { headers: { 'Tus-Resumable': '0.2.2', 'Upload-Length': '1' } });
      expect(res.statusCode).toBe(412);
      expect(res.text).toMatch(/0\.2\.2 is not supported/);
      expect(h.store.ids()).toEqual([]);
    });

    it('does not need it for GET (a download) nor OPTIONS', async () => {
      const upload = await h.seed({ bytes: 'ab' });
      expect((await h.request('GET', h.pathOf(upload.id), { withoutTusResumable: true })).statusCode).toBe(200);
      expect((await h.request('OPTIONS', '/files', { withoutTusResumable: true })).statusCode).toBe(204);
    });
  });

  describe('methods', () => {
    it.each([['GET'], ['PATCH'], ['DELETE'], ['HEAD'], ['PUT']])(
      'answers %s on the collection with 405, allowing POST',
      async (method) => {
        const res = await h.request(method, '/files');
        expect(res.statusCode).toBe(405);
        expect(res.header('Allow')).toBe('POST, OPTIONS');
      },
    );

    it.each([['POST'], ['PUT'], ['PROPFIND'], ['TRACE']])(
      'answers %s on an upload with 405, listing what is allowed',
      async (method) => {
        const upload = await h.seed({ size: 10 });
        const res = await h.request(method, h.pathOf(upload.id), { headers: { 'Upload-Length': '5' } });
        expect(res.statusCode).toBe(405);
        expect(res.header('Allow')).toBe('HEAD, PATCH, DELETE, GET, OPTIONS');
        expect(h.store.ids()).toEqual([upload.id]);
      },
    );

    it('sends POST with Upload-Concat: final to concatenation and partial to creation', async () => {
      const partial = await h.request('POST', '/files', {
        headers: { 'Upload-Concat': 'partial', 'Upload-Length': '0' },
      });
      expect(partial.statusCode).toBe(201);
      const final = await h.request('POST', '/files', {
        headers: { 'Upload-Concat': `final;${partial.header('Location')}` },
      });
      expect(final.statusCode).toBe(201);
      expect(h.store.ids()).toHaveLength(2);
    });
  });

  describe('upload ids', () => {
    const invalid = ['a.b', '..', 'a/../b', 'x.info', 'a b', 'a//b', 'a/', 'ü', 'x'.repeat(513)];

    it.each([['HEAD'], ['PATCH'], ['DELETE'], ['GET']])(
      'answers %s of ids that are no upload id with 404, asking no store',
      async (method) => {
        const get = jest.spyOn(h.store, 'get');
        const lock = jest.spyOn(h.locker, 'lock');
        for (const id of invalid) {
          const res = await h.request(method, `/files/${id}`, {
            headers: { 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' },
          });
          expect([id, res.statusCode]).toEqual([id, 404]);
        }
        expect(lock).not.toHaveBeenCalled();
        if (method !== 'GET') expect(get).not.toHaveBeenCalled();
      },
    );

    it('serves ids of several segments', async () => {
      const upload = await h.seed({ id: 'tenant-a/2026/11/x', size: 3, bytes: 'a' });
      const res = await h.request('HEAD', '/files/tenant-a/2026/11/x');
      expect(res.statusCode).toBe(200);
      expect(res.header('Upload-Offset')).toBe('1');
      expect(upload.id).toBe('tenant-a/2026/11/x');
    });
  });

  describe('failures', () => {
    it('answers 503 with Retry-After when the lock service is down', async () => {
      const upload = await h.seed({ size: 10 });
      jest.spyOn(h.locker, 'lock').mockRejectedValue(new LockUnavailableError('no quorum'));
      const res = await h.request('HEAD', h.pathOf(upload.id));
      expect(res.statusCode).toBe(503);
      expect(res.header('Retry-After')).toBe('2');
    });

    it('answers 503 with Retry-After when the storage fails, and logs the cause', async () => {
      jest.spyOn(h.store, 'create').mockRejectedValue(new StorageError('could not put', new Error('socket hang up')));
      const res = await h.request('POST', '/files', { headers: { 'Upload-Length': '1' } });
      expect(res.statusCode).toBe(503);
      expect(res.header('Retry-After')).toBe('2');
      expect(h.logs.errors().join('\n')).toMatch(/could not put: Error: socket hang up/);
    });

    it('answers 500 "internal error" for anything unexpected, logging it, never showing it', async () => {
      jest.spyOn(h.store, 'create').mockRejectedValue(new TypeError('x is undefined'));
      const res = await h.request('POST', '/files', { headers: { 'Upload-Length': '1' } });
      expect(res.statusCode).toBe(500);
      expect(res.text).toBe('internal error\n');
      expect(h.logs.errors().join('\n')).toMatch(/TypeError: x is undefined/);
    });

    it('closes the connection when it refuses a body it did not read', async () => {
      const res = await h.request('PATCH', '/files/0123456789abcdef0123456789abcdef', {
        headers: { 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' },
        body: 'x'.repeat(1000),
      });
      expect(res.statusCode).toBe(404);
      expect(res.header('Connection')).toBe('close');
    });

    it('answers every error as short plain text with Tus-Resumable', async () => {
      const res = await h.request('POST', '/files', { headers: { 'Upload-Length': 'x' } });
      expect(res.statusCode).toBe(400);
      expect(res.header('Content-Type')).toBe('text/plain; charset=utf-8');
      expect(res.header('Content-Length')).toBe(String(Buffer.byteLength(res.text)));
      expect(res.header('Tus-Resumable')).toBe('1.0.0');
    });
  });
});
