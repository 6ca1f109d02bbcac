import { createHash, Hash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import type { ExpectedChecksum } from '../protocol/checksum';

/** A request body did not hash to its Upload-Checksum: none of its bytes were kept. */
export class ChecksumMismatchError extends Error {
  constructor(readonly algorithm: string) {
    super(`the body does not match its Upload-Checksum (${algorithm})`);
    this.name = 'ChecksumMismatchError';
  }
}

/** Hashes a body as it streams by, and tells at its end whether it matched what the client declared. */
export class BodyChecksum {
  private hash: Hash | undefined;
  private crc = 0;

  constructor(private readonly expected: ExpectedChecksum) {
    if (expected.algorithm !== 'crc32') this.hash = createHash(expected.algorithm);
  }

  update(data: Buffer): void {
    if (this.hash) this.hash.update(data);
    else this.crc = crc32(data, this.crc);
  }

  /** @throws ChecksumMismatchError */
  verify(): void {
    if (!this.digest().equals(this.expected.digest)) throw new ChecksumMismatchError(this.expected.algorithm);
  }

  private digest(): Buffer {
    if (this.hash) return this.hash.digest();
    // As S3's x-amz-checksum-crc32: the 32-bit value, big-endian.
    const digest = Buffer.alloc(4);
    digest.writeUInt32BE(this.crc >>> 0);
    return digest;
  }
}
