import { TusHookRefusal, UploadRequest } from '../../hooks/tus-hooks';
import { b64, TusHarness } from '../../testing/tus-test-harness';

describe('DownloadHandler (GET)', () => {
  let h: TusHarness;
  beforeAll(async () => {
    h = await TusHarness.create();
  });
  afterAll(() => h.close());
  beforeEach(() => h.reset());

  const get = (id: string, headers: Record<string, string> = {}) =>
    h.request('GET', h.pathOf(id), { headers, withoutTusResumable: true });

  describe('with no hooks', () => {
    it('serves a finished upload whole: 200 with its bytes and safe headers (no Tus-Resumable needed)', async () => {
      const upload = await h.seed({ bytes: 'hello world' });
      const res = await get(upload.id);
      expect(res.statusCode).toBe(200);
      expect(res.body.toString()).toBe('hello world');
      expect(res.header('Content-Length')).toBe('11');
      expect(res.header('Content-Type')).toBe('application/octet-stream');
      expect(res.header('Content-Disposition')).toBe('attachment');
      expect(res.header('X-Content-Type-Options')).toBe('nosniff');
      expect(res.header('Accept-Ranges')).toBe('bytes');
      expect(res.header('Tus-Resumable')).toBe('1.0.0');
      expect(res.header('Content-Range')).toBeUndefined();
    });

    it('serves an empty upload', async () => {
      const upload = await h.seed({ size: 0 });
      const res = await get(upload.id);
      expect(res.statusCode).toBe(200);
      expect(res.body.length).toBe(0);
      expect(res.header('Content-Length')).toBe('0');
    });

    it('names the file in Content-Disposition, attachment unless the type is safe inline', async () => {
      const pdf = await h.seed({ bytes: '%PDF', metadata: { filename: 'report.pdf', filetype: 'application/pdf' } });
      const res = await get(pdf.id);
      expect(res.header('Content-Type')).toBe('application/pdf');
      expect(res.header('Content-Disposition')).toBe(`inline; filename="report.pdf"; filename*=UTF-8''report.pdf`);

      const html = await h.seed({ bytes: '<script>', metadata: { filename: 'page.html', filetype: 'text/html' } });
      const page = await get(html.id);
      expect(page.header('Content-Type')).toBe('text/html');
      expect(page.header('Content-Disposition')).toBe(`attachment; filename="page.html"; filename*=UTF-8''page.html`);
    });

    it('keeps a hostile file name inside the header', async () => {
      const upload = await h.seed({ bytes: 'x', metadata: { filename: '../"evil";\r\nSet-Cookie: a=b Grüße.txt' } });
      const disposition = (await get(upload.id)).header('Content-Disposition')!;
      expect(disposition).toMatch(/^attachment; filename="[^"\\\r\n]*"; filename\*=UTF-8''[A-Za-z0-9%._~!-]*$/);
      expect(disposition).toContain('Gr%C3%BC%C3%9Fe.txt');
    });

    it('ignores a filetype that is not a MIME type', async () => {
      const upload = await h.seed({ bytes: 'x', metadata: { filetype: 'text/html\r\nX-Evil: 1' } });
      expect((await get(upload.id)).header('Content-Type')).toBe('application/octet-stream');
    });

    it.each([
      ['bytes=2-5', 2, 5, 'llo '],
      ['bytes=6-', 6, 10, 'world'],
      ['bytes=-3', 8, 10, 'rld'],
      ['bytes=9-100', 9, 10, 'ld'],
    ])('serves Range %s as 206 with Content-Range', async (range, start, end, text) => {
      const upload = await h.seed({ bytes: 'hello world' });
      const res = await get(upload.id, { Range: range });
      expect(res.statusCode).toBe(206);
      expect(res.header('Content-Range')).toBe(`bytes ${start}-${end}/11`);
      expect(res.header('Content-Length')).toBe(String(text.length));
      expect(res.body.toString()).toBe(text);
    });

    it.each([['bytes=11-'], ['bytes=20-30'], ['bytes=-0']])(
      'answers 416 for Range %s outside the upload',
      async (range) => {
        const upload = await h.seed({ bytes: 'hello world' });
        const res = await get(upload.id, { Range: range });
        expect(res.statusCode).toBe(416);
        expect(res.header('Content-Range')).toBe('bytes */11');
      },
    );

    it('serves a range it does not understand (several ranges) whole', async () => {
      const upload = await h.seed({ bytes: 'hello world' });
      const res = await get(upload.id, { Range: 'bytes=0-1,3-4' });
      expect(res.statusCode).toBe(200);
      expect(res.body.toString()).toBe('hello world');
    });

    it('answers 400 for an unfinished upload', async () => {
      const upload = await h.seed({ size: 10, bytes: 'abc' });
      const res = await get(upload.id);
      expect(res.statusCode).toBe(400);
      expect(res.text).toMatch(/not finished/);
    });

    it('answers 404 for an unknown upload, and for ids that are no upload id', async () => {
      expect((await get('0123456789abcdef0123456789abcdef')).statusCode).toBe(404);
      expect((await get('x.info')).statusCode).toBe(404);
      expect((await get('a/../b')).statusCode).toBe(404);
    });

    it('serves the whole upload with no event', async () => {
      const upload = await h.seed({ bytes: 'abc' });
      await get(upload.id);
      expect(h.events.emitted).toEqual([]);
    });
  });

  describe('onUploadRequest', () => {
    it('sees kind download and the upload', async () => {
      const seen: UploadRequest[] = [];
      h.reset({ onUploadRequest: (request) => void seen.push(request) });
      const upload = await h.seed({ bytes: 'abc', metadata: { filename: 'a.txt' } });
      await get(upload.id);
      expect(seen.map((r) => [r.kind, r.upload.id, r.upload.metadata])).toEqual([
        ['download', upload.id, { filename: 'a.txt' }],
      ]);
    });

    it('refusing answers the refusal and serves no byte', async () => {
      h.reset({ onUploadRequest: () => Promise.reject(new TusHookRefusal(403, 'private')) });
      const upload = await h.seed({ bytes: 'secret' });
      const res = await get(upload.id);
      expect(res.statusCode).toBe(403);
      expect(res.text).toBe('private\n');
    });
  });

  it('decodes metadata for Content-Disposition from what the client sent', async () => {
    const created = await h.request('POST', '/files', {
      headers: {
        'Upload-Length': '2',
        'Upload-Metadata': `filename ${b64('Menü.png')},filetype ${b64('image/png')}`,
        'Content-Type': 'application/offset+octet-stream',
      },
      body: 'ok',
    });
    const res = await h.request('GET', new URL(created.header('Location')!).pathname, { withoutTusResumable: true });
    expect(res.header('Content-Type')).toBe('image/png');
    expect(res.header('Content-Disposition')).toBe(`inline; filename="Men_.png"; filename*=UTF-8''Men%C3%BC.png`);
  });
});
