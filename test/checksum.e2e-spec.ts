import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { call } from './support/raw-http';
import { MiB, randomPayload, startTestApp, TestApp } from './support/test-app';

/**
 * The checksum extension against the real RGW: a body counts only when it matches its Upload-Checksum, also when it
 * spanned parts that reached S3 while it streamed, and also with held-back bytes in Redis.
 */

const OCTET = 'application/offset+octet-stream';
const sha1 = (data: Buffer) => `sha1 ${createHash('sha1').update(data).digest('base64')}`;
const crc = (data: Buffer) => {
  const digest = Buffer.alloc(4);
  digest.writeUInt32BE(crc32(data));
  return `crc32 ${digest.toString('base64')}`;
};

describe.each([
  ['held back in S3', false],
  ["held back in Redis (holdBackIn: 'redis')", true],
])('checksums, %s', (_, inRedis) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(inRedis ? { redis: true, options: { holdBackIn: 'redis' } } : {});
  });
  afterAll(async () => {
    await t?.close();
  });

  const idOf = (url: string) => url.slice(url.lastIndexOf('/') + 1);
  const head = async (url: string) => Number((await call('HEAD', url)).get('upload-offset'));
  const patch = (url: string, offset: number, body: Buffer, checksum?: string) =>
    call('PATCH', url, { 'Content-Type': OCTET, 'Upload-Offset': offset, 'Upload-Checksum': checksum }, body);

  it('OPTIONS lists checksum and its algorithms', async () => {
    const reply = await call('OPTIONS', t.endpoint, { 'Tus-Resumable': undefined });
    expect(reply.get('tus-extension')).toContain('checksum');
    expect(reply.get('tus-checksum-algorithm')).toBe('sha1,md5,sha256,crc32');
  });

  it('a mismatch on a PATCH longer than a part keeps nothing (460); a correct retry completes the object', async () => {
    const data = randomPayload(20 * MiB + 5);
    const url = (await call('POST', t.endpoint, { 'Upload-Length': data.length })).get('location')!;
    expect((await patch(url, 0, data.subarray(0, MiB), sha1(data.subarray(0, MiB)))).status).toBe(204);

    const rest = data.subarray(MiB);
    const corrupted = Buffer.from(rest);
    corrupted[corrupted.length - 1] ^= 0xff; // the last byte arrives after two parts went to S3
    const refused = await patch(url, MiB, corrupted, sha1(rest));
    expect(refused.status).toBe(460);
    expect(refused.text).toMatch(/Checksum Mismatch/);
    expect(await head(url)).toBe(MiB);

    const accepted = await patch(url, MiB, rest, crc(rest));
    expect(accepted.status).toBe(204);
    expect(Number(accepted.get('upload-offset'))).toBe(data.length);
    expect(Buffer.compare(await t.s3.bytes(`${t.prefix}${idOf(url)}`), data)).toBe(0);
  });

  it('a mismatch on a small PATCH keeps nothing, in S3 or in Redis', async () => {
    const data = randomPayload(3 * MiB);
    const url = (await call('POST', t.endpoint, { 'Upload-Length': data.length })).get('location')!;
    const first = data.subarray(0, MiB);
    expect((await patch(url, 0, first, sha1(Buffer.from('something else')))).status).toBe(460);
    expect(await head(url)).toBe(0);
    expect((await patch(url, 0, first, sha1(first))).status).toBe(204);
    expect((await patch(url, MiB, data.subarray(MiB), sha1(data.subarray(MiB)))).status).toBe(204);
    expect(Buffer.compare(await t.s3.bytes(`${t.prefix}${idOf(url)}`), data)).toBe(0);
  });

  it('checks creation-with-upload too: a mismatch creates nothing', async () => {
    const body = randomPayload(1000);
    const before = await t.s3.keys(t.prefix);
    const refused = await call(
      'POST',
      t.endpoint,
      { 'Upload-Length': 2000, 'Content-Type': OCTET, 'Upload-Checksum': sha1(Buffer.from('x')) },
      body,
    );
    expect(refused.status).toBe(460);
    expect(await t.s3.keys(t.prefix)).toEqual(before);
  });

  it.each([
    ['an unknown algorithm', 'sha3 AAAA'],
    ['a malformed value', 'sha1 not*base64'],
    ['a digest of the wrong length', 'sha1 AAAA'],
  ])('answers %s with 400 and keeps nothing', async (_what, header) => {
    const url = (await call('POST', t.endpoint, { 'Upload-Length': 10 })).get('location')!;
    const reply = await patch(url, 0, Buffer.alloc(5, 1), header);
    expect(reply.status).toBe(400);
    expect(await head(url)).toBe(0);
  });
});
