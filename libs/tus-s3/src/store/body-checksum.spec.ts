import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { BodyChecksum, ChecksumMismatchError } from './body-checksum';

describe('BodyChecksum', () => {
  const data = Buffer.from('the quick brown fox');

  it.each(['sha1', 'md5', 'sha256'] as const)('verifies %s over pieces', (algorithm) => {
    const checksum = new BodyChecksum({ algorithm, digest: createHash(algorithm).update(data).digest() });
    checksum.update(data.subarray(0, 7));
    checksum.update(data.subarray(7));
    expect(() => checksum.verify()).not.toThrow();
  });

  it('verifies crc32 as a big-endian 32-bit value, incrementally', () => {
    const digest = Buffer.alloc(4);
    digest.writeUInt32BE(crc32(data));
    const checksum = new BodyChecksum({ algorithm: 'crc32', digest });
    for (const byte of data) checksum.update(Buffer.from([byte]));
    expect(() => checksum.verify()).not.toThrow();
  });

  it('throws ChecksumMismatchError when one byte differs', () => {
    const checksum = new BodyChecksum({ algorithm: 'sha1', digest: createHash('sha1').update(data).digest() });
    checksum.update(Buffer.from('the quick brown fax'));
    expect(() => checksum.verify()).toThrow(ChecksumMismatchError);
  });
});
