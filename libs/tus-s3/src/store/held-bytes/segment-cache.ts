/**
 * The bytes of run segments this instance wrote to Redis, kept for a while in memory, so that cutting a part from
 * a run (in the background, or in the request that completes the upload) does not read back from Redis the
 * megabytes this process sent there a moment ago. Only a cache: Redis holds every byte, and another instance, or
 * this one after eviction, reads them from there.
 *
 * A segment only ever grows at its end (see RedisHeldBytes), so bytes cached for a range of it stay right for as
 * long as the segment exists; an entry is only used when it covers the whole range asked for.
 */
export class SegmentCache {
  private readonly entries = new Map<string, { chunks: Buffer[]; length: number }>();
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  /** Records that `data` was written at byte `at` of segment `key`. Retains `data`: do not reuse its memory. */
  wrote(key: string, at: number, data: Buffer): void {
    if (this.maxBytes <= 0 || data.length === 0) return;
    const entry = this.entries.get(key);
    if (at === 0 && !entry) {
      this.entries.set(key, { chunks: [data], length: data.length });
    } else if (entry && entry.length === at) {
      entry.chunks.push(data);
      entry.length += data.length;
    } else {
      // Written by another instance in between: what this one has would leave a gap.
      this.forget(key);
      return;
    }
    this.bytes += data.length;
    this.evict();
  }

  /** Records that `chunks` were written one after another from byte `at` of segment `key` (see `wrote`). */
  wroteChunks(key: string, at: number, chunks: readonly Buffer[]): void {
    let position = at;
    for (const chunk of chunks) {
      this.wrote(key, position, chunk);
      position += chunk.length;
    }
  }

  /** Bytes [first, last) of segment `key`, as slices, or undefined when the cache does not hold all of them. */
  read(key: string, first: number, last: number): Buffer[] | undefined {
    const entry = this.entries.get(key);
    if (!entry || entry.length < last) return undefined;
    const slices: Buffer[] = [];
    let position = 0;
    for (const chunk of entry.chunks) {
      const from = Math.max(first, position) - position;
      const to = Math.min(last, position + chunk.length) - position;
      if (to > from) slices.push(chunk.subarray(from, to));
      position += chunk.length;
      if (position >= last) break;
    }
    return slices;
  }

  forget(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.bytes -= entry.length;
  }

  /** Drops every segment whose key starts with `prefix` (one upload's, when it is finished or terminated). */
  forgetPrefix(prefix: string): void {
    for (const key of [...this.entries.keys()]) if (key.startsWith(prefix)) this.forget(key);
  }

  get size(): number {
    return this.bytes;
  }

  /** Oldest first: segments are cut into parts in the order they were written. */
  private evict(): void {
    for (const key of this.entries.keys()) {
      if (this.bytes <= this.maxBytes) return;
      this.forget(key);
    }
  }
}
