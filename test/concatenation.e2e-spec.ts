import { randomBytes } from 'node:crypto';
import { b64, MiB, startTestApp, TestApp } from './support/test-app';
import { createUpload, headOffset, patch, rawRequest, TUS } from './support/raw-http';
import { idOf, uploadWithTusClient } from './support/tus-client';

/** The concatenation extension, as tus-js-client's parallelUploads uses it. */
describe('concatenation', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t.close();
  });

  async function partial(data: Buffer): Promise<string> {
    const created = await rawRequest(t.endpoint, 'POST', {
      ...TUS,
      'Upload-Concat': 'partial',
      'Upload-Length': String(data.length),
    });
    expect(created.status).toBe(201);
    const url = created.headers.location as string;
    if (data.length > 0) expect((await patch(url, 0, data)).status).toBe(204);
    return url;
  }

  it('assembles parallel uploads of tus-js-client into one object, byte for byte', async () => {
    const data = randomBytes(17 * MiB + 3);
    const url = await uploadWithTusClient(data, {
      endpoint: t.endpoint,
      parallelUploads: 3,
      metadata: { filename: 'Menü.bin' },
    });
    const stored = await t.s3.bytes(`${t.prefix}${idOf(url)}`);
    expect(stored.equals(data)).toBe(true);
    const head = await rawRequest(url, 'HEAD', { ...TUS });
    expect(head.headers['upload-concat']).toMatch(/^final;/);
    expect(head.headers['upload-length']).toBe(String(data.length));
    expect(head.headers['upload-offset']).toBe(String(data.length));
    expect((await t.s3.head(`${t.prefix}${idOf(url)}`)).Metadata).toEqual({ filename: 'Men?.bin' });
  });

  it('copies partials of at least 5 MiB server-side, one part each', async () => {
    const pieces = [randomBytes(5 * MiB), randomBytes(6 * MiB + 7), randomBytes(1234)];
    const urls = [];
    for (const piece of pieces) urls.push(await partial(piece));
    const final = await rawRequest(t.endpoint, 'POST', { ...TUS, 'Upload-Concat': `final;${urls.join(' ')}` });
    expect(final.status).toBe(201);
    const id = idOf(final.headers.location as string);
    expect((await t.s3.bytes(`${t.prefix}${id}`)).equals(Buffer.concat(pieces))).toBe(true);
    const info = await t.s3.info(`${t.prefix}${id}.info`);
    expect((info.parts as Array<{ partNumber: number; size: number }>).map((p) => [p.partNumber, p.size])).toEqual([
      [1, 5 * MiB],
      [2, 6 * MiB + 7],
      [3, 1234],
    ]);
  });

  it('joins partial uploads of any size, in the order given, and HEAD echoes Upload-Concat', async () => {
    const pieces = [randomBytes(3), randomBytes(6 * MiB + 1), Buffer.alloc(0), randomBytes(MiB)];
    const urls = [];
    for (const piece of pieces) urls.push(await partial(piece));
    const header = `final;${urls.join(' ')}`;
    const final = await rawRequest(t.endpoint, 'POST', {
      ...TUS,
      'Upload-Concat': header,
      'Upload-Metadata': `name ${b64('x')}`,
    });
    expect(final.status).toBe(201);
    const url = final.headers.location as string;
    expect((await t.s3.bytes(`${t.prefix}${idOf(url)}`)).equals(Buffer.concat(pieces))).toBe(true);
    const head = await rawRequest(url, 'HEAD', { ...TUS });
    expect(head.headers['upload-concat']).toBe(header);
    expect((await rawRequest(urls[0], 'HEAD', { ...TUS })).headers['upload-concat']).toBe('partial');
  });

  it('refuses unfinished, unknown and non-partial uploads with 400, creating nothing', async () => {
    const unfinished = await rawRequest(t.endpoint, 'POST', {
      ...TUS,
      'Upload-Concat': 'partial',
      'Upload-Length': '10',
    });
    const regular = await createUpload(t.endpoint, 0);
    const done = await partial(randomBytes(5));
    const keysBefore = await t.s3.keys(t.prefix);
    for (const urls of [
      [done, unfinished.headers.location],
      [done, regular],
      [done, `${t.endpoint}/${'f'.repeat(32)}`],
    ]) {
      const res = await rawRequest(t.endpoint, 'POST', { ...TUS, 'Upload-Concat': `final;${urls.join(' ')}` });
      expect(res.status).toBe(400);
      expect(res.body).toMatch(/partial upload|not created as a partial/);
    }
    expect(await t.s3.keys(t.prefix)).toEqual(keysBefore);
  });

  it('refuses PATCH on a final upload with 403, and a final upload with a length or data with 400', async () => {
    const url1 = await partial(randomBytes(10));
    const final = await rawRequest(t.endpoint, 'POST', { ...TUS, 'Upload-Concat': `final;${url1}` });
    const url = final.headers.location as string;
    const refused = await patch(url, 10, Buffer.from('x'));
    expect(refused.status).toBe(403);
    expect((await headOffset(url)).offset).toBe(10);
    const withLength = await rawRequest(t.endpoint, 'POST', {
      ...TUS,
      'Upload-Concat': `final;${url1}`,
      'Upload-Length': '10',
    });
    expect(withLength.status).toBe(400);
    const withData = await rawRequest(
      t.endpoint,
      'POST',
      {
        ...TUS,
        'Upload-Concat': `final;${url1}`,
        'Content-Type': 'application/offset+octet-stream',
        'Content-Length': '1',
      },
      Buffer.from('x'),
    );
    expect(withData.status).toBe(400);
    expect((await rawRequest(t.endpoint, 'POST', { ...TUS, 'Upload-Concat': 'final;' })).status).toBe(400);
  });

  it('advertises concatenation in OPTIONS', async () => {
    const res = await rawRequest(t.endpoint, 'OPTIONS', {});
    expect(res.headers['tus-extension']).toContain('concatenation');
  });
});
