import { call, HeaderMap } from './support/raw-http';
import { b64, MiB, randomPayload, startTestApp, TestApp } from './support/test-app';
import { idOf } from './support/tus-client';

/**
 * tus termination (DELETE) and the download (GET) of finished uploads, end to end against the real S3. The rest
 * of the protocol is in protocol.e2e-spec.ts.
 */

// ---------------------------------------------------------------------------------------------------------------
// helpers

const OCTET = 'application/offset+octet-stream';

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.close();
});

const head = (url: string) => call('HEAD', url);
const del = (url: string) => call('DELETE', url);
const get = (url: string, headers: HeaderMap = {}) => call('GET', url, headers);
const patch = (url: string, offset: number, body: Buffer | string) =>
  call('PATCH', url, { 'Content-Type': OCTET, 'Upload-Offset': offset }, body);

/** Creates an upload of `data.length` bytes and PATCHes its first `sent` bytes; returns its URL. */
async function uploadWith(data: Buffer, sent: number, metadata?: Record<string, string>): Promise<string> {
  const header =
    metadata &&
    Object.entries(metadata)
      .map(([k, v]) => `${k} ${b64(v)}`)
      .join(',');
  const created = await call('POST', t.endpoint, { 'Upload-Length': data.length, 'Upload-Metadata': header });
  expect(created.status).toBe(201);
  const url = created.get('location')!;
  if (sent > 0) expect((await patch(url, 0, data.subarray(0, sent))).status).toBe(204);
  return url;
}

const keyOf = (url: string) => `${t.prefix}${idOf(url)}`;

/** Offset and objects of an upload, to prove a refused request changed nothing. */
async function stateOf(url: string) {
  const reply = await head(url);
  return { status: reply.status, offset: reply.get('upload-offset'), objects: await t.s3.keys(keyOf(url)) };
}

// ---------------------------------------------------------------------------------------------------------------

describe('termination (DELETE)', () => {
  it('DELETE of an unfinished upload answers 204 and removes the info object, the multipart upload and held-back chunks', async () => {
    const data = randomPayload(12 * MiB); // larger than a part: it has a multipart upload
    const url = await uploadWith(data, MiB); // 1 MiB is less than a part: it is held back as a chunk object
    const key = keyOf(url);
    const before = await t.s3.keys(key);
    expect(before).toContain(`${key}.info`);
    expect(before.filter((k) => k.startsWith(`${key}.chunk.`))).toHaveLength(1);
    expect(await t.s3.multipartUploads(key)).toBe(1);

    const reply = await del(url);
    expect(reply.status).toBe(204);
    expect(reply.get('tus-resumable')).toBe('1.0.0');

    expect(await t.s3.keys(key)).toEqual([]); // no info, no chunk, no final object
    expect(await t.s3.multipartUploads(key)).toBe(0);
  });

  it('DELETE of an unfinished upload smaller than a part (stored whole, no multipart upload) removes its info object and chunks', async () => {
    const data = randomPayload(3 * MiB);
    const url = await uploadWith(data, MiB);
    const key = keyOf(url);
    const before = await t.s3.keys(key);
    expect(before).toEqual([`${key}.chunk.0.${before[0].split('.').pop()}`, `${key}.info`]);
    expect(await t.s3.multipartUploads(key)).toBe(0);

    expect((await del(url)).status).toBe(204);
    expect(await t.s3.keys(key)).toEqual([]);
  });

  it('after DELETE the upload is gone: HEAD and PATCH answer 404 (or 410), and nothing is recreated', async () => {
    const url = await uploadWith(randomPayload(100), 10);
    expect((await del(url)).status).toBe(204);
    expect([404, 410]).toContain((await head(url)).status);
    expect([404, 410]).toContain((await patch(url, 10, 'abc')).status);
    expect([404, 410]).toContain((await get(url)).status);
    expect(await t.s3.keys(keyOf(url))).toEqual([]);
    expect(await t.s3.multipartUploads(keyOf(url))).toBe(0);
  });

  it('DELETE of a finished upload deletes the final object too', async () => {
    const data = randomPayload(1000);
    const url = await uploadWith(data, 1000);
    const key = keyOf(url);
    expect(await t.s3.keys(key)).toEqual([key, `${key}.info`]);
    expect((await del(url)).status).toBe(204);
    expect(await t.s3.keys(key)).toEqual([]);
  });

  it('DELETE of an unknown upload answers 404, and a second DELETE of the same upload too', async () => {
    expect((await del(`${t.endpoint}/${'d'.repeat(32)}`)).status).toBe(404);
    const url = await uploadWith(randomPayload(10), 0);
    expect((await del(url)).status).toBe(204);
    expect((await del(url)).status).toBe(404);
  });
});

describe('GET (download)', () => {
  const name = 'Menü "report".html';

  async function finished(size: number, metadata?: Record<string, string>) {
    const data = randomPayload(size);
    const url = await uploadWith(data, size, metadata);
    return { data, url };
  }

  it('a finished upload downloads with 200, the exact bytes, Content-Length and the filetype as Content-Type', async () => {
    const { data, url } = await finished(1000, { filename: name, filetype: 'text/html' });
    const reply = await get(url);
    expect(reply.status).toBe(200);
    expect(reply.body.equals(data)).toBe(true);
    expect(reply.get('content-length')).toBe('1000');
    expect(reply.get('content-type')).toBe('text/html');
    expect(reply.get('x-content-type-options')).toBe('nosniff');
  });

  it('Content-Disposition is an attachment for text/html, with a safe ASCII filename and the exact filename*', async () => {
    const { url } = await finished(10, { filename: name, filetype: 'text/html' });
    const disposition = (await get(url)).get('content-disposition')!;
    expect(disposition).toMatch(/^attachment;/);
    expect(disposition).toContain(`filename*=UTF-8''${encodeURIComponent(name)}`);
    const fallback = /filename="([^"]*)"/.exec(disposition);
    expect(fallback?.[1]).toMatch(/^[\x20-\x7e]+$/);
    expect(fallback?.[1]).toContain('report');
  });

  it('without a usable filetype the download is application/octet-stream', async () => {
    const { url } = await finished(10, { filetype: 'not a mime type' });
    const reply = await get(url);
    expect(reply.status).toBe(200);
    expect(reply.get('content-type')).toBe('application/octet-stream');
  });

  it('Range: bytes=10-19 answers 206 with Content-Range bytes 10-19/<size> and those bytes', async () => {
    const { data, url } = await finished(1000);
    const reply = await get(url, { Range: 'bytes=10-19' });
    expect(reply.status).toBe(206);
    expect(reply.get('content-range')).toBe('bytes 10-19/1000');
    expect(reply.get('content-length')).toBe('10');
    expect(reply.body.equals(data.subarray(10, 20))).toBe(true);
  });

  it('Range: bytes=-5 answers 206 with the last 5 bytes', async () => {
    const { data, url } = await finished(1000);
    const reply = await get(url, { Range: 'bytes=-5' });
    expect(reply.status).toBe(206);
    expect(reply.get('content-range')).toBe('bytes 995-999/1000');
    expect(reply.body.equals(data.subarray(995))).toBe(true);
  });

  it('a range that starts past the end answers 416 with Content-Range bytes */<size>', async () => {
    const { url } = await finished(1000);
    for (const range of ['bytes=1000-', 'bytes=5000-6000']) {
      const reply = await get(url, { Range: range });
      expect(reply.status).toBe(416);
      expect(reply.get('content-range')).toBe('bytes */1000');
    }
  });

  it('GET of an unfinished upload answers 400 (not finished) and changes nothing', async () => {
    const url = await uploadWith(randomPayload(100), 40);
    const before = await stateOf(url);
    const reply = await get(url);
    expect(reply.status).toBe(400);
    expect(reply.text).toMatch(/not finished/);
    expect(await stateOf(url)).toEqual(before);
    expect(before.offset).toBe('40');
  });

  it('GET of an unknown upload answers 404', async () => {
    expect((await get(`${t.endpoint}/${'c'.repeat(32)}`)).status).toBe(404);
  });

  it('a filename longer than 255 characters with an emoji at the cut still downloads (never 5xx)', async () => {
    const longName = `${'a'.repeat(254)}😀.txt`;
    const { data, url } = await finished(10, { filename: longName, filetype: 'text/plain' });
    const reply = await get(url);
    expect(reply.status).toBe(200);
    expect(reply.body.equals(data)).toBe(true);
    expect(reply.get('content-disposition')).toMatch(/filename\*=UTF-8''a{254}/);
  });
});
