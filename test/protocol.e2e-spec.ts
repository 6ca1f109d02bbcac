import * as net from 'node:net';
import { waitFor } from './support/eventually';
import { call, HeaderMap, Reply, stalledPatch } from './support/raw-http';
import { b64, MiB, randomPayload, startTestApp, TestApp } from './support/test-app';
import { idOf } from './support/tus-client';

/**
 * The tus 1.0.0 protocol as a client sees it, end to end against the real S3: status codes, headers, and for every
 * refused request that changes state, proof in S3 that nothing changed. Requests go through node:http so that every
 * header (Content-Length, Tus-Resumable, raw paths) is exactly what the test says. Termination and download live in
 * termination-download.e2e-spec.ts.
 */

// ---------------------------------------------------------------------------------------------------------------
// helpers

const OCTET = 'application/offset+octet-stream';
const EXTENSIONS = [
  'checksum',
  'concatenation',
  'creation',
  'creation-with-upload',
  'creation-defer-length',
  'termination',
];

/** Sends raw bytes on a socket and returns the status code of the answer (for requests node:http would not send). */
function rawRequest(origin: string, text: string): Promise<number> {
  const { hostname, port } = new URL(origin);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => socket.write(text));
    let received = '';
    socket.on('data', (data) => {
      received += data.toString('latin1');
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(received);
      if (status) {
        socket.destroy();
        resolve(Number(status[1]));
      }
    });
    socket.on('error', reject);
    socket.on('close', () => reject(new Error(`connection closed without an answer: ${JSON.stringify(received)}`)));
  });
}

/** A finished error answer: the status, and a short plain-text body that says what is wrong. */
function expectError(reply: Reply, status: number, mentions?: RegExp): void {
  expect({ status: reply.status, body: reply.text.trim() }).toMatchObject({ status }); // the body shows on failure
  expect(reply.get('tus-resumable')).toBe('1.0.0');
  expect(reply.get('content-type')).toMatch(/^text\/plain/);
  expect(reply.text.trim().length).toBeGreaterThan(0);
  expect(reply.text.length).toBeLessThan(300);
  if (mentions) expect(reply.text).toMatch(mentions);
}

function bytes(text: string): Buffer {
  return Buffer.from(text, 'utf8');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---------------------------------------------------------------------------------------------------------------
// the app under test (default options, in-memory locker); two more apps for maxSize and CORS below

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.close();
});

const create = (headers: HeaderMap, body?: Buffer | string | Buffer[]) => call('POST', t.endpoint, headers, body);
const patch = (
  url: string,
  offset: number | string | undefined,
  body?: Buffer | string | Buffer[],
  headers: HeaderMap = {},
) => call('PATCH', url, { 'Content-Type': OCTET, 'Upload-Offset': offset, ...headers }, body ?? Buffer.alloc(0));
const head = (url: string, headers: HeaderMap = {}) => call('HEAD', url, headers);
const del = (url: string, headers: HeaderMap = {}) => call('DELETE', url, headers);
const get = (url: string, headers: HeaderMap = {}) => call('GET', url, headers);

/** Creates an upload and returns its URL. */
async function newUpload(length: number | 'deferred', headers: HeaderMap = {}): Promise<string> {
  const declared = length === 'deferred' ? { 'Upload-Defer-Length': 1 } : { 'Upload-Length': length };
  const reply = await create({ ...declared, ...headers });
  expect(reply.status).toBe(201);
  return reply.get('location')!;
}

/** An upload of `data.length` bytes with its first `sent` bytes already PATCHed. */
async function uploadWith(data: Buffer, sent: number, headers: HeaderMap = {}): Promise<string> {
  const url = await newUpload(data.length, headers);
  if (sent > 0) expect((await patch(url, 0, data.subarray(0, sent))).status).toBe(204);
  return url;
}

const keyOf = (url: string) => `${t.prefix}${idOf(url)}`;

/** What a client and S3 see of an upload: compare before/after a refused request to prove nothing changed. */
async function stateOf(url: string) {
  const reply = await head(url);
  return {
    status: reply.status,
    offset: reply.get('upload-offset'),
    length: reply.get('upload-length'),
    defer: reply.get('upload-defer-length'),
    objects: await t.s3.keys(keyOf(url)),
    multipartUploads: await t.s3.multipartUploads(keyOf(url)),
  };
}

/** Every object of the test app (to prove a refused POST created nothing). */
const allKeys = () => t.s3.keys(t.prefix);

// ---------------------------------------------------------------------------------------------------------------

describe('Tus-Resumable and OPTIONS', () => {
  it('OPTIONS needs no Tus-Resumable and answers 204 with Tus-Version, Tus-Extension and Tus-Max-Size', async () => {
    for (const url of [t.endpoint, `${t.endpoint}/${'a'.repeat(32)}`]) {
      const reply = await call('OPTIONS', url, { 'Tus-Resumable': undefined });
      expect(reply.status).toBe(204);
      expect(reply.get('tus-resumable')).toBe('1.0.0');
      expect(reply.get('tus-version')).toBe('1.0.0');
      expect(
        reply
          .get('tus-extension')!
          .split(',')
          .map((e) => e.trim())
          .sort(),
      ).toEqual([...EXTENSIONS].sort());
      expect(reply.get('tus-max-size')).toBe(String(5 * 1024 ** 4));
      expect(reply.body.length).toBe(0);
    }
  });

  describe.each([
    ['missing', undefined],
    ['unsupported (0.2.2)', '0.2.2'],
    ['unsupported (1.0)', '1.0'],
  ])('Tus-Resumable %s', (_, version) => {
    const noVersion = { 'Tus-Resumable': version };

    it('POST is refused with 412 and Tus-Version: 1.0.0, and creates nothing', async () => {
      const before = await allKeys();
      const reply = await create({ ...noVersion, 'Upload-Length': 10 });
      expectError(reply, 412, /Tus-Resumable/);
      expect(reply.get('tus-version')).toBe('1.0.0');
      expect(reply.get('location')).toBeUndefined();
      expect(await allKeys()).toEqual(before);
    });

    it('HEAD is refused with 412 and Tus-Version: 1.0.0, without a body', async () => {
      const url = await newUpload(10);
      const reply = await head(url, noVersion);
      expect(reply.status).toBe(412);
      expect(reply.get('tus-version')).toBe('1.0.0');
      expect(reply.get('tus-resumable')).toBe('1.0.0');
      expect(reply.get('upload-offset')).toBeUndefined();
      expect(reply.body.length).toBe(0);
    });

    it('PATCH is refused with 412 and Tus-Version: 1.0.0, and writes nothing', async () => {
      const url = await newUpload(10);
      const before = await stateOf(url);
      const reply = await patch(url, 0, 'hello', noVersion);
      expectError(reply, 412, /Tus-Resumable/);
      expect(reply.get('tus-version')).toBe('1.0.0');
      expect(await stateOf(url)).toEqual(before);
      expect(before.offset).toBe('0');
    });

    it('DELETE is refused with 412 and Tus-Version: 1.0.0, and deletes nothing', async () => {
      const url = await uploadWith(randomPayload(10), 4);
      const before = await stateOf(url);
      const reply = await del(url, noVersion);
      expectError(reply, 412, /Tus-Resumable/);
      expect(reply.get('tus-version')).toBe('1.0.0');
      expect(await stateOf(url)).toEqual(before);
      expect(before.objects).toContain(`${keyOf(url)}.info`);
    });
  });

  it('every tus response carries Tus-Resumable: 1.0.0, success or error', async () => {
    const url = await newUpload(5);
    const replies: Array<[string, Reply]> = [
      ['OPTIONS', await call('OPTIONS', t.endpoint, { 'Tus-Resumable': undefined })],
      ['POST 201', await create({ 'Upload-Length': 5 })],
      ['POST 400', await create({ 'Upload-Length': 'abc' })],
      ['POST 412', await create({ 'Upload-Length': 5, 'Tus-Resumable': undefined })],
      ['POST 405', await call('POST', url, { 'Upload-Length': 5 })],
      ['HEAD 200', await head(url)],
      ['HEAD 404', await head(`${t.endpoint}/${'0'.repeat(32)}`)],
      ['PATCH 415', await patch(url, 0, 'ab', { 'Content-Type': 'text/plain' })],
      ['PATCH 409', await patch(url, 3, 'ab')],
      ['PATCH 413', await patch(url, 0, 'abcdef')],
      ['PATCH 204', await patch(url, 0, 'ab')],
      ['GET 400', await get(url)],
      ['DELETE 204', await del(url)],
      ['GET 404', await get(url)],
    ];
    const missing = replies.filter(([, reply]) => reply.get('tus-resumable') !== '1.0.0').map(([what]) => what);
    expect(missing).toEqual([]);
  });
});

describe('POST (creation)', () => {
  it('answers 201 with an absolute Location under the endpoint, and the upload starts at offset 0', async () => {
    const reply = await create({ 'Upload-Length': 100 });
    expect(reply.status).toBe(201);
    const location = reply.get('location')!;
    expect(location).toMatch(new RegExp(`^${t.endpoint.replace(/[.]/g, '\\.')}/[A-Za-z0-9_-]+$`));
    expect(await t.s3.exists(`${keyOf(location)}.info`)).toBe(true);
    const status = await head(location);
    expect(status.status).toBe(200);
    expect(status.get('upload-offset')).toBe('0');
    expect(status.get('upload-length')).toBe('100');
  });

  it.each(['abc', '-1', '1.5', '01', '+1', '1e3', '0x10', '', '99999999999999999999'])(
    'refuses a malformed Upload-Length "%s" with 400 and creates nothing',
    async (length) => {
      const before = await allKeys();
      expectError(await create({ 'Upload-Length': length }), 400, /Upload-Length/);
      expect(await allKeys()).toEqual(before);
    },
  );

  it('refuses Upload-Length together with Upload-Defer-Length with 400', async () => {
    const before = await allKeys();
    expectError(
      await create({ 'Upload-Length': 10, 'Upload-Defer-Length': 1 }),
      400,
      /Upload-Length|Upload-Defer-Length/,
    );
    expect(await allKeys()).toEqual(before);
  });

  it('refuses a POST with neither Upload-Length nor Upload-Defer-Length with 400', async () => {
    const before = await allKeys();
    expectError(await create({}), 400, /Upload-Length/);
    expect(await allKeys()).toEqual(before);
  });

  it.each(['0', '2', 'true', ''])('refuses Upload-Defer-Length "%s" (only 1 is allowed) with 400', async (value) => {
    const before = await allKeys();
    expectError(await create({ 'Upload-Defer-Length': value }), 400, /Upload-Defer-Length/);
    expect(await allKeys()).toEqual(before);
  });

  it.each([
    ['a value that is not base64', 'filename ***'],
    ['a value with bad base64 padding', 'filename YQ='],
    ['a duplicate key', `filename ${b64('a')},filename ${b64('b')}`],
    ['a pair with two values', `filename ${b64('a')} ${b64('b')}`],
    ['an empty pair', `a ${b64('x')},,b ${b64('y')}`],
  ])('refuses Upload-Metadata with %s with 400 and creates nothing', async (_, metadata) => {
    const before = await allKeys();
    expectError(await create({ 'Upload-Length': 10, 'Upload-Metadata': metadata }), 400, /Upload-Metadata/);
    expect(await allKeys()).toEqual(before);
  });

  it('refuses POST on an upload URL with 405 (Allow lists the methods) and leaves the upload alone', async () => {
    const url = await uploadWith(randomPayload(10), 3);
    const before = await stateOf(url);
    const reply = await call('POST', url, { 'Upload-Length': 10 });
    expectError(reply, 405, /not allowed/);
    expect(reply.get('allow')).toMatch(/PATCH/);
    expect(reply.get('location')).toBeUndefined();
    expect(await stateOf(url)).toEqual(before);
  });

  describe('with maxSize: 1024', () => {
    let small: TestApp;
    beforeAll(async () => {
      small = await startTestApp({ options: { maxSize: 1024 } });
    });
    afterAll(async () => {
      await small?.close();
    });

    it('announces Tus-Max-Size: 1024', async () => {
      const reply = await call('OPTIONS', small.endpoint, { 'Tus-Resumable': undefined });
      expect(reply.get('tus-max-size')).toBe('1024');
    });

    it('refuses Upload-Length above Tus-Max-Size with 413 and creates nothing; exactly the maximum is fine', async () => {
      const before = await small.s3.keys(small.prefix);
      expectError(await call('POST', small.endpoint, { 'Upload-Length': 1025 }), 413, /1025/);
      expect(await small.s3.keys(small.prefix)).toEqual(before);
      expect((await call('POST', small.endpoint, { 'Upload-Length': 1024 })).status).toBe(201);
    });

    it('refuses a deferred length declared above Tus-Max-Size with 413, and the length stays deferred', async () => {
      const created = await call('POST', small.endpoint, { 'Upload-Defer-Length': 1 });
      const url = created.get('location')!;
      expectError(await patch(url, 0, undefined, { 'Upload-Length': 2000 }), 413);
      const after = await head(url);
      expect(after.get('upload-defer-length')).toBe('1');
      expect(after.get('upload-length')).toBeUndefined();
    });
  });
});

describe('creation-with-upload', () => {
  it('POST with a body answers 201 with Upload-Offset = body length, and the bytes are stored', async () => {
    const data = randomPayload(1000);
    const reply = await create({ 'Upload-Length': 1000, 'Content-Type': OCTET }, data);
    expect(reply.status).toBe(201);
    expect(reply.get('upload-offset')).toBe('1000');
    const url = reply.get('location')!;
    expect(url).toMatch(/^http:\/\//);
    expect((await head(url)).get('upload-offset')).toBe('1000');
    expect((await t.s3.bytes(keyOf(url))).equals(data)).toBe(true);
  });

  it('a partial body in POST is kept and the upload continues with PATCH from Upload-Offset', async () => {
    const data = randomPayload(300);
    const reply = await create({ 'Upload-Length': 300, 'Content-Type': OCTET }, data.subarray(0, 120));
    expect(reply.status).toBe(201);
    expect(reply.get('upload-offset')).toBe('120');
    const url = reply.get('location')!;
    expect((await head(url)).get('upload-offset')).toBe('120');
    const rest = await patch(url, 120, data.subarray(120));
    expect(rest.status).toBe(204);
    expect(rest.get('upload-offset')).toBe('300');
    expect((await t.s3.bytes(keyOf(url))).equals(data)).toBe(true);
  });

  it('a body without Content-Type: application/offset+octet-stream is not stored (plain creation)', async () => {
    const reply = await create({ 'Upload-Length': 10, 'Content-Type': 'text/plain' }, 'hello');
    expect(reply.status).toBe(201);
    expect((await head(reply.get('location')!)).get('upload-offset')).toBe('0');
  });

  it('refuses a body whose Content-Length exceeds Upload-Length with 413 and creates nothing', async () => {
    const before = await allKeys();
    expectError(await create({ 'Upload-Length': 5, 'Content-Type': OCTET }, 'hello world'), 413);
    expect(await allKeys()).toEqual(before);
  });

  it('a chunked POST body longer than Upload-Length is refused with 413 and leaves no unreachable upload in S3', async () => {
    const before = await allKeys();
    const reply = await create({ 'Upload-Length': 5, 'Content-Type': OCTET }, [
      bytes('hello'),
      bytes(' world, and more'),
    ]);
    expect(reply.status).toBe(413);
    // The client got no Location, so nothing may stay behind that it can neither resume nor delete.
    expect(reply.get('location')).toBeUndefined();
    expect(await allKeys()).toEqual(before);
  });
});

describe('creation-defer-length', () => {
  it('POST with Upload-Defer-Length: 1 creates an upload whose HEAD shows Upload-Defer-Length: 1 and no Upload-Length', async () => {
    const url = await newUpload('deferred');
    const reply = await head(url);
    expect(reply.status).toBe(200);
    expect(reply.get('upload-defer-length')).toBe('1');
    expect(reply.get('upload-length')).toBeUndefined();
    expect(reply.get('upload-offset')).toBe('0');
  });

  it('PATCH with Upload-Length sets the length, and the upload finishes with the right bytes', async () => {
    const data = randomPayload(2000);
    const url = await newUpload('deferred');
    const first = await patch(url, 0, data.subarray(0, 700));
    expect(first.status).toBe(204);
    expect(first.get('upload-offset')).toBe('700');
    expect((await head(url)).get('upload-defer-length')).toBe('1');

    const last = await patch(url, 700, data.subarray(700), { 'Upload-Length': 2000 });
    expect(last.status).toBe(204);
    expect(last.get('upload-offset')).toBe('2000');
    const status = await head(url);
    expect(status.get('upload-length')).toBe('2000');
    expect(status.get('upload-defer-length')).toBeUndefined();
    expect((await t.s3.bytes(keyOf(url))).equals(data)).toBe(true);
    expect(await t.s3.multipartUploads(keyOf(url))).toBe(0);
  });

  it('an empty PATCH can declare the length equal to the offset, which finishes the upload', async () => {
    const data = randomPayload(50);
    const url = await newUpload('deferred');
    expect((await patch(url, 0, data)).status).toBe(204);
    const reply = await patch(url, 50, undefined, { 'Upload-Length': 50 });
    expect(reply.status).toBe(204);
    expect(reply.get('upload-offset')).toBe('50');
    expect((await head(url)).get('upload-length')).toBe('50');
    const stored = await t.s3.bytes(keyOf(url));
    expect(stored.length).toBe(50); // the 50 bytes held back as a chunk must end up in the final object
    expect(stored.equals(data)).toBe(true);
    // Deleted right after the answer, in the background.
    const chunksLeft = async () => (await t.s3.keys(keyOf(url))).filter((k) => k.includes('.chunk.'));
    await waitFor(async () => (await chunksLeft()).length === 0);
  });

  it('refuses to change Upload-Length once it is set with 400 (repeating the same value is fine)', async () => {
    const url = await newUpload('deferred');
    expect((await patch(url, 0, 'abc', { 'Upload-Length': 10 })).status).toBe(204);
    const before = await stateOf(url);
    expectError(await patch(url, 3, 'def', { 'Upload-Length': 11 }), 400, /Upload-Length/);
    expect(await stateOf(url)).toEqual(before);
    expect(before.length).toBe('10');
    expect((await patch(url, 3, 'def', { 'Upload-Length': 10 })).status).toBe(204);
  });

  it('refuses an Upload-Length on a non-deferred upload that differs from its length with 400', async () => {
    const url = await newUpload(10);
    const before = await stateOf(url);
    expectError(await patch(url, 0, 'abc', { 'Upload-Length': 20 }), 400, /Upload-Length/);
    expect(await stateOf(url)).toEqual(before);
  });

  it('refuses an Upload-Length less than the offset with 400, and the length stays deferred', async () => {
    const url = await newUpload('deferred');
    expect((await patch(url, 0, 'abcdef')).status).toBe(204);
    const before = await stateOf(url);
    expectError(await patch(url, 6, undefined, { 'Upload-Length': 5 }), 400, /Upload-Length/);
    expect(await stateOf(url)).toEqual(before);
    expect(before.defer).toBe('1');
  });

  it('refuses a malformed Upload-Length on PATCH with 400', async () => {
    const url = await newUpload('deferred');
    const before = await stateOf(url);
    expectError(await patch(url, 0, 'abc', { 'Upload-Length': '-3' }), 400, /Upload-Length/);
    expect(await stateOf(url)).toEqual(before);
  });

  it('a PATCH whose body is longer than the Upload-Length it declares is refused with 413 and changes nothing', async () => {
    const url = await newUpload('deferred');
    expect((await patch(url, 0, 'abcde')).status).toBe(204);
    const before = await stateOf(url);
    // Declares 7 bytes in all but sends 5 more (offset 5 + 5 = 10 > 7).
    expectError(await patch(url, 5, 'fghij', { 'Upload-Length': 7 }), 413);
    expect(await stateOf(url)).toEqual(before);
    expect(before.defer).toBe('1');
  });

  it('a PATCH that declares Upload-Length = offset but carries more bytes is refused with 413 and does not finish the upload', async () => {
    const url = await newUpload('deferred');
    expect((await patch(url, 0, 'abcde')).status).toBe(204);
    const before = await stateOf(url);
    expectError(await patch(url, 5, 'xyz', { 'Upload-Length': 5 }), 413);
    expect(await stateOf(url)).toEqual(before);
    expect(await t.s3.exists(keyOf(url))).toBe(false);
  });
});

describe('HEAD', () => {
  it('answers 200 with Upload-Offset, Upload-Length, Cache-Control: no-store and no body', async () => {
    const url = await uploadWith(randomPayload(100), 40);
    const reply = await head(url);
    expect(reply.status).toBe(200);
    expect(reply.get('tus-resumable')).toBe('1.0.0');
    expect(reply.get('upload-offset')).toBe('40');
    expect(reply.get('upload-length')).toBe('100');
    expect(reply.get('upload-defer-length')).toBeUndefined();
    expect(reply.get('cache-control')).toBe('no-store');
    expect(reply.body.length).toBe(0);
    expect(reply.get('content-length') ?? '0').toBe('0');
  });

  it('echoes Upload-Metadata exactly as sent: non-ASCII text, bytes that are not UTF-8, keys without values', async () => {
    const notUtf8 = Buffer.from([0xff, 0xfe, 0x00, 0x80, 0xc3]).toString('base64');
    const metadata = `filename ${b64('Menü.pdf')},raw ${notUtf8},is_confidential,filetype ${b64('application/pdf')}`;
    const url = await newUpload(10, { 'Upload-Metadata': metadata });
    expect((await head(url)).get('upload-metadata')).toBe(metadata);
  });

  it('sends no Upload-Metadata when the upload has none', async () => {
    const url = await newUpload(10);
    expect((await head(url)).get('upload-metadata')).toBeUndefined();
  });

  it('answers 404 for an unknown upload', async () => {
    const reply = await head(`${t.endpoint}/${'f'.repeat(32)}`);
    expect(reply.status).toBe(404);
    expect(reply.get('tus-resumable')).toBe('1.0.0');
    expect(reply.body.length).toBe(0);
  });

  describe('ids that the server never issues are 404 and never reach another object', () => {
    const invalidIds = (realId: string) => [
      'abc.info',
      `${realId}.info`,
      '..',
      '%2e%2e',
      '.',
      'a%2Fb',
      `${realId}%2F..%2F${realId}.info`,
      `${realId}/x`,
      `${realId}/..`,
      'x'.repeat(200),
      `${realId}%00`,
    ];

    it.each(['HEAD', 'GET', 'PATCH', 'DELETE'])(
      '%s on an invalid id answers 404 and the real upload is untouched',
      async (method) => {
        const data = randomPayload(20);
        const url = await uploadWith(data, 20); // finished: final object + info object
        const realId = idOf(url);
        const before = await stateOf(url);
        const wrong: string[] = [];
        for (const id of invalidIds(realId)) {
          const reply =
            method === 'PATCH'
              ? await patch(`${t.endpoint}/${id}`, 0, 'abc')
              : await call(method, `${t.endpoint}/${id}`);
          if (reply.status !== 404) wrong.push(`${method} /${id}: ${reply.status}`);
          // The info object is JSON; it must never be served.
          if (reply.text.includes('multipartUploadId') || reply.text.includes(realId))
            wrong.push(`${method} /${id} leaked ${reply.text.slice(0, 80)}`);
        }
        expect(wrong).toEqual([]);
        expect(await stateOf(url)).toEqual(before);
        expect(await t.s3.exists(`${keyOf(url)}.info`)).toBe(true);
        expect((await t.s3.bytes(keyOf(url))).equals(data)).toBe(true);
      },
    );
  });
});

describe('PATCH', () => {
  it('appends the body: 204 with the new Upload-Offset, then HEAD agrees and the final object has the bytes', async () => {
    const data = randomPayload(30);
    const url = await newUpload(30);
    const first = await patch(url, 0, data.subarray(0, 12));
    expect(first.status).toBe(204);
    expect(first.get('upload-offset')).toBe('12');
    expect(first.get('tus-resumable')).toBe('1.0.0');
    expect(first.body.length).toBe(0);
    expect((await head(url)).get('upload-offset')).toBe('12');
    const second = await patch(url, 12, data.subarray(12));
    expect(second.status).toBe(204);
    expect(second.get('upload-offset')).toBe('30');
    expect((await t.s3.bytes(keyOf(url))).equals(data)).toBe(true);
  });

  it('a PATCH of 0 bytes answers 204 with the same offset and writes nothing', async () => {
    const url = await uploadWith(randomPayload(30), 7);
    const before = await stateOf(url);
    const reply = await patch(url, 7, Buffer.alloc(0));
    expect(reply.status).toBe(204);
    expect(reply.get('upload-offset')).toBe('7');
    expect(await stateOf(url)).toEqual(before);
  });

  it.each([
    ['missing', undefined],
    ['application/octet-stream', 'application/octet-stream'],
    ['text/plain', 'text/plain'],
    ['application/json', 'application/json'],
  ])('refuses Content-Type %s with 415 and writes nothing', async (_, contentType) => {
    const url = await uploadWith(randomPayload(30), 5);
    const before = await stateOf(url);
    expectError(await patch(url, 5, '{"a":1}', { 'Content-Type': contentType }), 415, /Content-Type/);
    expect(await stateOf(url)).toEqual(before);
  });

  it('refuses a PATCH without Upload-Offset with 400 and writes nothing', async () => {
    const url = await uploadWith(randomPayload(30), 5);
    const before = await stateOf(url);
    expectError(await patch(url, undefined, 'abc'), 400, /Upload-Offset/);
    expect(await stateOf(url)).toEqual(before);
  });

  it.each(['abc', '-1', '1.5', '05', '+5', '', '5 5', '99999999999999999999'])(
    'refuses a malformed Upload-Offset "%s" with 400 and writes nothing',
    async (offset) => {
      const url = await uploadWith(randomPayload(30), 5);
      const before = await stateOf(url);
      expectError(await patch(url, offset, 'abc'), 400, /Upload-Offset/);
      expect(await stateOf(url)).toEqual(before);
    },
  );

  it.each([0, 4, 6, 30])(
    'refuses Upload-Offset %d when the upload is at 5 with 409 and writes nothing',
    async (offset) => {
      const url = await uploadWith(randomPayload(30), 5);
      const before = await stateOf(url);
      expectError(await patch(url, offset, 'abc'), 409, /offset/i);
      expect(await stateOf(url)).toEqual(before);
      expect(before.offset).toBe('5');
    },
  );

  it('answers 404 for an unknown upload and creates nothing', async () => {
    const before = await allKeys();
    const url = `${t.endpoint}/${'e'.repeat(32)}`;
    expectError(await patch(url, 0, 'abc'), 404);
    expect(await allKeys()).toEqual(before);
  });

  it('refuses a body that would go past Upload-Length (by Content-Length) with 413 and writes nothing', async () => {
    const url = await uploadWith(randomPayload(10), 4);
    const before = await stateOf(url);
    expectError(await patch(url, 4, 'abcdefg'), 413); // 4 + 7 > 10
    expect(await stateOf(url)).toEqual(before);
    expect(before.offset).toBe('4');
  });

  it('refuses bytes for a finished upload with 413 and leaves the final object alone', async () => {
    const data = randomPayload(10);
    const url = await uploadWith(data, 10);
    const before = await stateOf(url);
    expectError(await patch(url, 10, 'x'), 413);
    expect(await stateOf(url)).toEqual(before);
    expect((await t.s3.bytes(keyOf(url))).equals(data)).toBe(true);
  });
});

describe('X-HTTP-Method-Override', () => {
  it('POST with X-HTTP-Method-Override: PATCH appends like a PATCH', async () => {
    const data = randomPayload(20);
    const url = await newUpload(20);
    const reply = await call(
      'POST',
      url,
      { 'X-HTTP-Method-Override': 'PATCH', 'Content-Type': OCTET, 'Upload-Offset': 0 },
      data.subarray(0, 8),
    );
    expect(reply.status).toBe(204);
    expect(reply.get('upload-offset')).toBe('8');
    expect((await head(url)).get('upload-offset')).toBe('8');
  });

  it('POST with X-HTTP-Method-Override: PATCH obeys the PATCH rules (409 on a wrong offset, nothing written)', async () => {
    const url = await uploadWith(randomPayload(20), 3);
    const before = await stateOf(url);
    const reply = await call(
      'POST',
      url,
      { 'X-HTTP-Method-Override': 'PATCH', 'Content-Type': OCTET, 'Upload-Offset': 0 },
      'abc',
    );
    expectError(reply, 409);
    expect(await stateOf(url)).toEqual(before);
  });

  it('POST with X-HTTP-Method-Override: DELETE terminates the upload', async () => {
    const url = await uploadWith(randomPayload(20), 3);
    const reply = await call('POST', url, { 'X-HTTP-Method-Override': 'DELETE' });
    expect(reply.status).toBe(204);
    expect((await head(url)).status).toBe(404);
    expect(await t.s3.keys(keyOf(url))).toEqual([]);
  });

  it('POST with X-HTTP-Method-Override: HEAD reports the offset without a body', async () => {
    const url = await uploadWith(randomPayload(20), 3);
    const reply = await call('POST', url, { 'X-HTTP-Method-Override': 'HEAD' });
    expect(reply.status).toBe(200);
    expect(reply.get('upload-offset')).toBe('3');
    expect(reply.get('upload-length')).toBe('20');
    expect(reply.body.length).toBe(0);
  });
});

describe('zero-length upload', () => {
  it('POST Upload-Length: 0 creates a finished, empty upload that downloads as an empty body', async () => {
    const reply = await create({ 'Upload-Length': 0 });
    expect(reply.status).toBe(201);
    const url = reply.get('location')!;
    const status = await head(url);
    expect(status.status).toBe(200);
    expect(status.get('upload-offset')).toBe('0');
    expect(status.get('upload-length')).toBe('0');
    expect(await t.s3.exists(keyOf(url))).toBe(true);
    expect((await t.s3.bytes(keyOf(url))).length).toBe(0);
    expect(await t.s3.multipartUploads(keyOf(url))).toBe(0);
    const download = await get(url);
    expect(download.status).toBe(200);
    expect(download.body.length).toBe(0);
    expect(download.get('content-length')).toBe('0');
  });
});

describe('CORS (origins: https://app.example)', () => {
  const ORIGIN = 'https://app.example';
  let c: TestApp;
  beforeAll(async () => {
    c = await startTestApp({ options: { cors: { origins: [ORIGIN] } } });
  });
  afterAll(async () => {
    await c?.close();
  });

  const list = (value: string | undefined) => (value ?? '').split(',').map((v) => v.trim().toLowerCase());

  it('answers a preflight with 204, the origin, PATCH among the methods and the tus request headers', async () => {
    const reply = await call('OPTIONS', `${c.endpoint}/${'a'.repeat(32)}`, {
      'Tus-Resumable': undefined,
      Origin: ORIGIN,
      'Access-Control-Request-Method': 'PATCH',
      'Access-Control-Request-Headers': 'tus-resumable,upload-offset,content-type',
    });
    expect(reply.status).toBe(204);
    expect(reply.get('access-control-allow-origin')).toBe(ORIGIN);
    expect(list(reply.get('access-control-allow-methods'))).toEqual(
      expect.arrayContaining(['post', 'head', 'patch', 'delete']),
    );
    expect(list(reply.get('access-control-allow-headers'))).toEqual(
      expect.arrayContaining(['upload-offset', 'tus-resumable', 'upload-metadata', 'upload-length', 'content-type']),
    );
    expect(list(reply.get('vary'))).toContain('origin');
  });

  it('exposes Location and Upload-Offset to the allowed origin on a POST', async () => {
    const reply = await call('POST', c.endpoint, { Origin: ORIGIN, 'Upload-Length': 10 });
    expect(reply.status).toBe(201);
    expect(reply.get('access-control-allow-origin')).toBe(ORIGIN);
    expect(list(reply.get('access-control-expose-headers'))).toEqual(
      expect.arrayContaining(['location', 'upload-offset', 'tus-resumable']),
    );
  });

  it('error answers carry the CORS headers too, so the browser can read them', async () => {
    const reply = await call('POST', c.endpoint, { Origin: ORIGIN, 'Upload-Length': 'abc' });
    expect(reply.status).toBe(400);
    expect(reply.get('access-control-allow-origin')).toBe(ORIGIN);
  });

  it('gives an unlisted origin no Access-Control-Allow-Origin, on preflight or POST', async () => {
    const preflight = await call('OPTIONS', c.endpoint, {
      'Tus-Resumable': undefined,
      Origin: 'https://evil.example',
      'Access-Control-Request-Method': 'POST',
    });
    expect(preflight.get('access-control-allow-origin')).toBeUndefined();
    expect(preflight.get('access-control-allow-methods')).toBeUndefined();
    const post = await call('POST', c.endpoint, { Origin: 'https://evil.example', 'Upload-Length': 10 });
    expect(post.get('access-control-allow-origin')).toBeUndefined();
    expect(post.get('access-control-expose-headers')).toBeUndefined();
  });
});

describe('interrupted PATCH', () => {
  /** Declares `declared` bytes, sends `sent`, waits until they left, then cuts the connection. */
  async function interruptedPatch(url: string, offset: number, declared: number, sent: Buffer): Promise<void> {
    const socket = await stalledPatch(url, offset, declared, sent);
    await new Promise((resolve) => setTimeout(resolve, 300));
    socket.destroy();
  }

  it('keeps the bytes that arrived before the client vanished, and the upload resumes from there', async () => {
    const data = randomPayload(3 * MiB);
    const url = await newUpload(data.length);
    await interruptedPatch(url, 0, data.length, data.subarray(0, MiB));

    let offset = 0;
    for (let i = 0; i < 50 && offset === 0; i++) {
      await sleep(100);
      offset = Number((await head(url)).get('upload-offset'));
    }
    expect(offset).toBeGreaterThan(0);
    expect(offset).toBeLessThanOrEqual(MiB);

    const rest = await patch(url, offset, data.subarray(offset));
    expect(rest.status).toBe(204);
    expect(rest.get('upload-offset')).toBe(String(data.length));
    expect((await t.s3.bytes(keyOf(url))).equals(data)).toBe(true);
    expect(await t.s3.keys(keyOf(url))).toEqual([keyOf(url), `${keyOf(url)}.info`]);
  });
});

describe('bad input never yields 5xx', () => {
  type Probe = [label: string, send: () => Promise<Reply | number>];

  /** Runs every probe; each must be answered with a 4xx (a transport error counts as a failure too). */
  async function expectAll4xx(probes: Probe[]): Promise<void> {
    const wrong: string[] = [];
    for (const [label, send] of probes) {
      try {
        const answer = await send();
        const status = typeof answer === 'number' ? answer : answer.status;
        if (status < 400 || status > 499) wrong.push(`${label}: ${status}`);
      } catch (error) {
        wrong.push(`${label}: ${(error as Error).message}`);
      }
    }
    expect(wrong).toEqual([]);
    expect((await call('OPTIONS', t.endpoint)).status).toBe(204); // and the server is still fine
  }

  // (Node trims header whitespace, so no leading/trailing blanks here: " 1 " would arrive as a valid "1".)
  const garbage = ['abc', '-1', '1.5', ' ', '1 1', 'é', '1,2', '0x1', '9'.repeat(400), 'null', 'undefined', '[]', '{}'];

  it('on POST: garbage in every tus header', async () => {
    const probes: Probe[] = [];
    for (const g of garbage) {
      probes.push([`Upload-Length ${JSON.stringify(g.slice(0, 10))}`, () => create({ 'Upload-Length': g })]);
      probes.push([
        `Upload-Defer-Length ${JSON.stringify(g.slice(0, 10))}`,
        () => create({ 'Upload-Defer-Length': g }),
      ]);
      probes.push([
        `Tus-Resumable ${JSON.stringify(g.slice(0, 10))}`,
        () => create({ 'Upload-Length': 1, 'Tus-Resumable': g }),
      ]);
      probes.push([
        `Upload-Metadata ${JSON.stringify(g.slice(0, 10))}`,
        () => create({ 'Upload-Length': 1, 'Upload-Metadata': `k ${g}!` }),
      ]);
      probes.push([
        `Upload-Concat ${JSON.stringify(g.slice(0, 10))}`,
        () => create({ 'Upload-Length': 1, 'Upload-Concat': g }),
      ]);
      probes.push([
        `X-HTTP-Method-Override ${JSON.stringify(g.slice(0, 10))}`,
        () => create({ 'Upload-Length': 1, 'X-HTTP-Method-Override': g }),
      ]);
    }
    probes.push(['Upload-Concat: final', () => create({ 'Upload-Concat': `final;${t.endpoint}/a ${t.endpoint}/b` })]);
    probes.push([
      'Upload-Metadata 20 KB (over the header limit)',
      () => create({ 'Upload-Length': 1, 'Upload-Metadata': `a ${'QUJD'.repeat(5000)}` }),
    ]);
    probes.push([
      'creation body with a Content-Length over Upload-Length',
      () => create({ 'Upload-Length': 1, 'Content-Type': OCTET }, 'abc'),
    ]);
    await expectAll4xx(probes);
  });

  it('on POST: metadata that S3 may not store as object metadata (large or odd) is a 4xx or accepted, never 5xx', async () => {
    const accepted: string[] = [];
    const wrong: string[] = [];
    const cases: Array<[string, string]> = [
      ['a 9 KB value', `filename ${b64('x'.repeat(9000))}`],
      ['a 10 KB key without value', 'k'.repeat(10000)],
      ['300 keys', Array.from({ length: 300 }, (_, i) => `k${i} ${b64('v')}`).join(',')],
      ['a value of spaces', `filename ${b64('   ')}`],
      ['a value with CR LF', `filename ${b64('a\r\nX-Injected: 1')}`],
      ['keys differing only by case', `Name ${b64('a')},name ${b64('b')}`],
      ['a key with header-illegal characters', `a(b)c:d ${b64('x')}`],
    ];
    for (const [label, metadata] of cases) {
      const reply = await create({ 'Upload-Length': 3, 'Upload-Metadata': metadata });
      if (reply.status >= 500) wrong.push(`${label}: ${reply.status} ${reply.text.trim()}`);
      if (reply.status === 201) accepted.push(label);
    }
    expect(wrong).toEqual([]);
    expect(accepted.length).toBeGreaterThan(0);
  });

  it('on PATCH, HEAD and DELETE of a real upload: garbage headers', async () => {
    const url = await uploadWith(randomPayload(50), 5);
    const before = await stateOf(url);
    const probes: Probe[] = [];
    for (const g of garbage) {
      const short = JSON.stringify(g.slice(0, 10));
      probes.push([`PATCH Upload-Offset ${short}`, () => patch(url, g, 'abc')]);
      probes.push([`PATCH Upload-Length ${short}`, () => patch(url, 5, 'abc', { 'Upload-Length': g })]);
      probes.push([`PATCH Content-Type ${short}`, () => patch(url, 5, 'abc', { 'Content-Type': g })]);
      probes.push([`PATCH Tus-Resumable ${short}`, () => patch(url, 5, 'abc', { 'Tus-Resumable': g })]);
      probes.push([`HEAD Tus-Resumable ${short}`, () => head(url, { 'Tus-Resumable': g })]);
      probes.push([`DELETE Tus-Resumable ${short}`, () => del(url, { 'Tus-Resumable': g })]);
    }
    probes.push(['PATCH Upload-Offset 20 KB', () => patch(url, '1'.repeat(20000), 'abc')]);
    probes.push(['PATCH Upload-Offset 10 KB of digits', () => patch(url, '1'.repeat(10000), 'abc')]);
    probes.push(['PATCH Content-Length over the upload length', () => patch(url, 5, 'x'.repeat(100))]);
    probes.push([
      'PATCH with JSON that is not JSON',
      () => patch(url, 5, '{{{', { 'Content-Type': 'application/json' }),
    ]);
    probes.push([
      'Content-Length: abc (raw)',
      () =>
        rawRequest(
          t.origin,
          `PATCH ${new URL(url).pathname} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nContent-Type: ${OCTET}\r\nUpload-Offset: 5\r\nContent-Length: abc\r\n\r\n`,
        ),
    ]);
    probes.push([
      'Content-Length and Transfer-Encoding (raw)',
      () =>
        rawRequest(
          t.origin,
          `PATCH ${new URL(url).pathname} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nContent-Type: ${OCTET}\r\nUpload-Offset: 5\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`,
        ),
    ]);
    await expectAll4xx(probes);
    expect(await stateOf(url)).toEqual(before);
  });

  it('on GET of a finished upload: garbage Range headers are served whole, partially or 416, never 5xx', async () => {
    const url = await uploadWith(randomPayload(50), 50);
    const ranges = [
      'bytes=abc',
      'bytes=99999999999999999999-',
      'bytes=-99999999999999999999',
      'bytes=0-99999999999999999999',
      'bytes=5-2',
      'bytes=0-1,3-4',
      'bytes=',
      'bytes=-',
      'bits=0-1',
      '\t',
      'bytes=50-50',
    ];
    const wrong: string[] = [];
    for (const range of ranges) {
      const reply = await get(url, { Range: range });
      if (![200, 206, 416].includes(reply.status)) wrong.push(`${range}: ${reply.status}`);
    }
    expect(wrong).toEqual([]);
  });

  it('unknown methods and odd paths are 4xx', async () => {
    const url = await uploadWith(randomPayload(50), 5);
    const before = await stateOf(url);
    const probes: Probe[] = [
      ['PUT on the collection', () => call('PUT', t.endpoint, { 'Upload-Length': 1 })],
      ['PUT on an upload', () => call('PUT', url, { 'Content-Type': OCTET, 'Upload-Offset': 5 }, 'abc')],
      ['PROPFIND on an upload', () => call('PROPFIND', url)],
      ['FOO on an upload', () => call('FOO', url)],
      ['PATCH on the collection', () => patch(t.endpoint, 0, 'abc')],
      ['DELETE on the collection', () => del(t.endpoint)],
      ['X-HTTP-Method-Override: PUT', () => call('POST', url, { 'X-HTTP-Method-Override': 'PUT' })],
      ['X-HTTP-Method-Override: __proto__', () => call('POST', url, { 'X-HTTP-Method-Override': '__proto__' })],
      ['bad percent-encoding %zz', () => head(`${t.endpoint}/%zz`)],
      ['lone %', () => head(`${t.endpoint}/%`)],
      ['a 5000-character id', () => head(`${t.endpoint}/${'x'.repeat(5000)}`)],
      ['a path below an upload', () => patch(`${url}/a/b`, 5, 'abc')],
    ];
    await expectAll4xx(probes);
    expect(await stateOf(url)).toEqual(before);
  });
});
