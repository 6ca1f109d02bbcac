import { TusEvents, UploadCreatedEvent, UploadFinishedEvent } from '../../events/tus-events';
import { CreationRequest, TusHookRefusal, UploadRequest } from '../../hooks/tus-hooks';
import type { TusDataStore, Upload } from '../../store/tus-data-store';
import { MemoryStore } from '../../testing/memory-store';
import { b64, idOfLocation, isPublicUpload, RequestInit, TusHarness } from '../../testing/tus-test-harness';

describe('ConcatenationHandler (POST with Upload-Concat: final)', () => {
  let h: TusHarness;
  beforeAll(async () => {
    h = await TusHarness.create({ options: { maxSize: 100 } });
  });
  afterAll(() => h.close());
  beforeEach(() => h.reset());

  const partial = (bytes: string, size: number = bytes.length) => h.seed({ size, bytes, concat: { kind: 'partial' } });
  const final = (urls: string[], init: RequestInit = {}) =>
    h.request('POST', '/files', { ...init, headers: { 'Upload-Concat': `final;${urls.join(' ')}`, ...init.headers } });

  describe('with no hooks', () => {
    it('assembles finished partials in the order given, complete when the 201 goes out', async () => {
      const [a, b, empty, c] = [await partial('Hello'), await partial(', '), await partial(''), await partial('world')];
      const res = await final([h.urlOf(c.id), h.urlOf(a.id), h.pathOf(empty.id), h.pathOf(b.id)]);
      expect(res.statusCode).toBe(201);
      expect(res.header('Location')).toMatch(/^http:\/\/tus\.test\/files\/[0-9a-f]{32}$/);
      expect(res.header('Upload-Offset')).toBeUndefined();
      const id = idOfLocation(res.header('Location'));
      expect(h.store.bytesOf(id).toString()).toBe('worldHello, ');
      const upload = await h.store.get(id);
      expect(upload).toMatchObject({ size: 12, offset: 12, finishedAt: expect.any(String) });
      expect(upload.concat).toEqual({
        kind: 'final',
        uploadIds: [c.id, a.id, empty.id, b.id],
        header: `final;${h.urlOf(c.id)} ${h.urlOf(a.id)} ${h.pathOf(empty.id)} ${h.pathOf(b.id)}`,
      });
    });

    it('leaves the partials as they were', async () => {
      const a = await partial('ab');
      await final([h.pathOf(a.id)]);
      expect(await h.store.get(a.id)).toEqual(a);
    });

    it('emits upload.created, then upload.finished, for the final upload, with the public Upload', async () => {
      const a = await partial('ab');
      const res = await final([h.pathOf(a.id)]);
      const id = idOfLocation(res.header('Location'));
      expect(h.events.names()).toEqual([TusEvents.UploadCreated, TusEvents.UploadFinished]);
      const [created] = h.events.payloadsOf<UploadCreatedEvent>(TusEvents.UploadCreated);
      const [finished] = h.events.payloadsOf<UploadFinishedEvent>(TusEvents.UploadFinished);
      expect(created.upload).toMatchObject({ id, offset: 0, size: 2 });
      expect(finished.upload).toMatchObject({ id, offset: 2, size: 2 });
      expect(isPublicUpload(created.upload) && isPublicUpload(finished.upload)).toBe(true);
      expect(finished.object).toEqual({ bucket: 'test-bucket', key: id });
    });

    it('finishes at once a final upload of empty partials', async () => {
      const res = await final([h.pathOf((await partial('')).id), h.pathOf((await partial('')).id)]);
      expect(res.statusCode).toBe(201);
      const upload = await h.store.get(idOfLocation(res.header('Location')));
      expect(upload).toMatchObject({ size: 0, finishedAt: expect.any(String) });
      expect(h.events.names()).toEqual([TusEvents.UploadCreated, TusEvents.UploadFinished]);
    });

    it('keeps the metadata of the final request', async () => {
      const header = `filename ${b64('all.bin')}`;
      const res = await final([h.pathOf((await partial('ab')).id)], { headers: { 'Upload-Metadata': header } });
      expect((await h.store.get(idOfLocation(res.header('Location')))).metadataHeader).toBe(header);
    });

    const refusals: Array<[string, () => Promise<string[]>, RegExp]> = [
      ['an unfinished partial', async () => [(await partial('ab', 5)).id], /not finished/],
      ['an unknown upload', async () => ['0123456789abcdef0123456789abcdef'], /not found/],
      ['an upload that is not partial', async () => [(await h.seed({ bytes: 'ab' })).id], /not created as a partial/],
      ['a URL naming no upload id', async () => ['a.info'], /not an upload of this server/],
    ];
    it.each(refusals)('answers 400 for %s, and creates nothing', async (_what, ids, message) => {
      const good = await partial('ok');
      const named = await ids();
      const before = h.store.ids();
      const res = await final([h.pathOf(good.id), ...named.map((id) => h.pathOf(id))]);
      expect(res.statusCode).toBe(400);
      expect(res.text).toMatch(message);
      expect(h.store.ids()).toEqual(before);
      expect(h.events.emitted).toEqual([]);
    });

    it.each([
      ['Upload-Length', { 'Upload-Length': '2' }],
      ['Upload-Defer-Length', { 'Upload-Defer-Length': '1' }],
    ])('answers 400 for a final upload with %s', async (_what, headers) => {
      const a = await partial('ab');
      expect((await final([h.pathOf(a.id)], { headers })).statusCode).toBe(400);
      expect(h.store.ids()).toEqual([a.id]);
    });

    it('answers 400 for a final upload carrying data', async () => {
      const a = await partial('ab');
      const res = await final([h.pathOf(a.id)], {
        headers: { 'Content-Type': 'application/offset+octet-stream' },
        body: 'cd',
      });
      expect(res.statusCode).toBe(400);
      expect(h.store.ids()).toEqual([a.id]);
    });

    it('answers 400 for Upload-Concat: final; without URLs', async () => {
      const res = await h.request('POST', '/files', { headers: { 'Upload-Concat': 'final;' } });
      expect(res.statusCode).toBe(400);
    });

    it('answers 413 when the partials add up to more than Tus-Max-Size', async () => {
      const big = await partial('x'.repeat(60));
      const res = await final([h.pathOf(big.id), h.pathOf(big.id)]);
      expect(res.statusCode).toBe(413);
      expect(res.text).toMatch(/partial uploads add up to 120/);
      expect(h.store.ids()).toEqual([big.id]);
    });

    it('answers 503 when the store fails part-way, and leaves no final upload behind', async () => {
      const a = await partial('abcdef');
      h.store.failNextWrite({ afterBytes: 3 });
      const res = await final([h.pathOf(a.id)]);
      expect(res.statusCode).toBe(503);
      expect(h.store.ids()).toEqual([a.id]);
      expect(h.store.bytesOf(a.id).toString()).toBe('abcdef');
      expect(h.events.names()).not.toContain(TusEvents.UploadFinished);
    });

    it('tells listeners that a failed final upload is gone (upload.terminated after upload.created)', async () => {
      const a = await partial('abcdef');
      h.store.failNextWrite({ afterBytes: 3 });
      await final([h.pathOf(a.id)]);
      expect(h.events.names()).toEqual([TusEvents.UploadCreated, TusEvents.UploadTerminated]);
    });

    it('answers 423 when a partial stays busy, and creates nothing', () =>
      TusHarness.with({ lockWaitMs: 20 }, async (busy) => {
        const a = await busy.seed({ bytes: 'ab', concat: { kind: 'partial' } });
        const lock = await busy.locker.lock(a.id);
        try {
          const res = await busy.request('POST', '/files', {
            headers: { 'Upload-Concat': `final;${busy.pathOf(a.id)}` },
          });
          expect(res.statusCode).toBe(423);
        } finally {
          await lock.release();
        }
        expect(busy.store.ids()).toEqual([a.id]);
      }));
  });

  describe('hooks', () => {
    it('beforeCreate sees the partials sum as size and the final concat; refusing creates nothing', async () => {
      const seen: CreationRequest[] = [];
      h.reset({
        beforeCreate: (request) => {
          seen.push(request);
          throw new TusHookRefusal(403, 'no concatenation for you');
        },
      });
      const [a, b] = [await partial('ab'), await partial('cde')];
      const res = await final([h.pathOf(a.id), h.urlOf(b.id)]);
      expect(res.statusCode).toBe(403);
      expect(res.text).toBe('no concatenation for you\n');
      expect(seen[0].size).toBe(5);
      expect(seen[0].concat).toEqual({
        kind: 'final',
        uploadIds: [a.id, b.id],
        header: `final;${h.pathOf(a.id)} ${h.urlOf(b.id)}`,
      });
      expect(h.store.ids()).toEqual([a.id, b.id]);
      expect(h.events.emitted).toEqual([]);
    });

    it('beforeCreate may choose the id of the final upload', async () => {
      h.reset({ beforeCreate: ({ concat }) => (concat?.kind === 'final' ? { id: 'tenant-a/final' } : undefined) });
      const a = await partial('ab');
      const res = await final([h.pathOf(a.id)]);
      expect(res.header('Location')).toBe('http://tus.test/files/tenant-a/final');
      expect(h.store.bytesOf('tenant-a/final').toString()).toBe('ab');
    });

    it('beforeFinish refusing removes the final upload (the partials stay) and answers the refusal', async () => {
      const seen: UploadRequest[] = [];
      h.reset({
        beforeFinish: (request) => {
          seen.push(request);
          throw new TusHookRefusal(422, 'not a valid archive');
        },
      });
      const [a, b] = [await partial('ab'), await partial('cd')];
      const res = await final([h.pathOf(a.id), h.pathOf(b.id)]);
      expect(res.statusCode).toBe(422);
      expect(res.text).toBe('not a valid archive\n');
      expect(seen[0].upload).toMatchObject({ size: 4, offset: 4 });
      expect(h.store.ids()).toEqual([a.id, b.id]);
      expect(h.events.names()).toEqual([TusEvents.UploadCreated, TusEvents.UploadTerminated]);
    });
  });

  it('answers 400 when the store cannot concatenate', async () => {
    const memory = new MemoryStore();
    const plain: TusDataStore = {
      create: (u) => memory.create(u),
      get: (id, lock) => memory.get(id, lock),
      write: (u, body, lock, limits) => memory.write(u, body, lock, limits),
      declareLength: (u, size, lock) => memory.declareLength(u, size, lock),
      terminate: (u, lock) => memory.terminate(u, lock),
      read: (u, range) => memory.read(u, range),
    };
    const a: Upload = await memory.create({ size: 0, metadata: {}, metadataHeader: '', concat: { kind: 'partial' } });
    await TusHarness.with({ store: plain }, async (plainHarness) => {
      const res = await plainHarness.request('POST', '/files', {
        headers: { 'Upload-Concat': `final;${plainHarness.pathOf(a.id)}` },
      });
      expect(res.statusCode).toBe(400);
      expect(res.text).toMatch(/does not support concatenation/);
    });
    expect(memory.ids()).toEqual([a.id]);
  });
});
