import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';

/** Largest piece handed to a socket or stream at once. */
const CHUNK = 1024 * 1024;
/**
 * Length of the random pattern the upload bytes repeat. Odd, so no two 8 MiB parts (or PATCHes of any size used
 * here) of one upload hold the same bytes: a misplaced part changes the sha256.
 */
const PATTERN_LENGTH = 16 * 1024 * 1024 + 17;

/**
 * The bytes of every upload: byte `i` is `pattern[i % PATTERN_LENGTH]`. Served as subarrays of one buffer, so the
 * client streams from memory without copying, and uploads of 1 GiB need no 1 GiB buffer.
 */
export class Payload {
  private readonly pattern = randomBytes(PATTERN_LENGTH);
  private readonly hashes = new Map<number, string>();
  private readonly buffers = new Map<number, Buffer>();

  /** Bytes [start, end) as zero-copy chunks of at most 1 MiB. */
  *chunks(start: number, end: number): Generator<Buffer> {
    let offset = start;
    while (offset < end) {
      const at = offset % PATTERN_LENGTH;
      const length = Math.min(CHUNK, end - offset, PATTERN_LENGTH - at);
      yield this.pattern.subarray(at, at + length);
      offset += length;
    }
  }

  stream(start: number, end: number): Readable {
    return Readable.from(this.chunks(start, end), { objectMode: false });
  }

  /**
   * The first `size` bytes as one buffer, built on the first call and kept: for the direct ceiling, which sends
   * slices of it. Call it before timing anything.
   */
  contiguous(size: number): Buffer {
    let buffer = this.buffers.get(size);
    if (!buffer) {
      buffer = Buffer.concat([...this.chunks(0, size)], size);
      this.buffers.set(size, buffer);
    }
    return buffer;
  }

  /** Hex sha256 of the first `size` bytes. */
  sha256(size: number): string {
    let hash = this.hashes.get(size);
    if (!hash) {
      const h = createHash('sha256');
      for (const chunk of this.chunks(0, size)) h.update(chunk);
      hash = h.digest('hex');
      this.hashes.set(size, hash);
    }
    return hash;
  }
}
