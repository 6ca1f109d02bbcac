import { createHash } from 'node:crypto';
import { parseUploadChecksum } from './checksum';
import { TusError } from './tus-error';

const sha1 = createHash('sha1').update('hello').digest('base64');

describe('Upload-Checksum', () => {
  it('reads an algorithm and its base64 digest', () => {
    expect(parseUploadChecksum(undefined)).toBeUndefined();
    expect(parseUploadChecksum(`sha1 ${sha1}`)).toEqual({
      algorithm: 'sha1',
      digest: createHash('sha1').update('hello').digest(),
    });
    expect(parseUploadChecksum(`SHA256 ${createHash('sha256').update('').digest('base64')}`)?.algorithm).toBe('sha256');
    expect(parseUploadChecksum('crc32 AAAAAA==')?.digest).toEqual(Buffer.alloc(4));
    expect(parseUploadChecksum(`md5 ${createHash('md5').update('x').digest('base64')}`)?.algorithm).toBe('md5');
  });

  it.each([
    '',
    'sha1',
    `sha1  ${sha1}`,
    `sha3 ${sha1}`,
    'sha1 not-base64!',
    'sha1 AAAA',
    `md5 ${sha1}`,
    `sha1 ${sha1} x`,
  ])('refuses "%s" with 400', (header) => {
    expect(() => parseUploadChecksum(header)).toThrow(TusError);
    try {
      parseUploadChecksum(header);
    } catch (error) {
      expect((error as TusError).status).toBe(400);
    }
  });
});
