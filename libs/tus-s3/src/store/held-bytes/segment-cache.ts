import type { FreeChunk } from '../chunk-release';

interface Entry {
  readonly chunks: Buffer[];
  length: number;
  /** Frees a chunk once nothing reads it (see `forget`): every chunk is this cache's alone, and freed the same way. */
  free: FreeChunk | undefined;
  /** Leases that read it and have not ended. */
  readers: number;
  /** A transfer that read it failed, or read it more than once: a socket may still hold its bytes. */
  tainted: boolean;
  /** Dropped from the cache: freed when its last reader ends. */
  forgotten: boolean;
}

/**
 * The bytes of run segments this instance wrote to Redis, kept for a while in memory, so that cutting a part from
 * a run (in the background, or in the request that completes the upload) does not read back from Redis the
 * megabytes this process sent there a moment ago. Only a cache: Redis holds every byte, and another instance, or
 * this one after eviction, reads them from there.
 *
 * A segment only ever grows at its end (see RedisHeldBytes), so bytes cached for a range of it stay right for as
 * long as the segment exists; an entry is only used when it covers the whole range asked for.
 *
 * Its buffers live for several PATCHes, long enough for V8 to move them to the old generation, where only a major
 * collection frees them; churned through at upload speed, that made V8 run major collections in a loop. So the
 * memory of an entry that is forgotten (its bytes are in parts, or it was evicted) is freed at once when that is
 * safe: its chunks were the writer's alone (it said how to `free` them: detach them, or give slabs back to the
 * memory budget, where they are reused at once), and no transfer that read them is still going or may still have
 * them in a socket's queue. Reads therefore happen within a {@link SegmentLease}: one part upload, all its attempts.
 * One that fails, or reads an entry twice (a retry), leaves that entry to the collector.
 */
export class SegmentCache {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  /**
   * Records that `data` was written at byte `at` of segment `key`. Retains `data`: do not reuse its memory.
   * @param free how to free `data` once the cache is done with it, when nobody else holds it (else the collector does)
   */
  wrote(key: string, at: number, data: Buffer, free?: FreeChunk): void {
    if (this.maxBytes <= 0 || data.length === 0) return;
    const entry = this.entries.get(key);
    if (at === 0 && !entry) {
      this.entries.set(key, {
        chunks: [data],
        length: data.length,
        free,
        readers: 0,
        tainted: false,
        forgotten: false,
      });
    } else if (entry && entry.length === at) {
      entry.chunks.push(data);
      entry.length += data.length;
      if (entry.free !== free) entry.free = undefined;
    } else {
      // Written by another instance in between: what this one has would leave a gap.
      this.forget(key);
      return;
    }
    this.bytes += data.length;
    this.evict();
  }

  /** Records that `chunks` were written one after another from byte `at` of segment `key` (see `wrote`). */
  wroteChunks(key: string, at: number, chunks: readonly Buffer[], free?: FreeChunk): void {
    let position = at;
    for (const chunk of chunks) {
      this.wrote(key, position, chunk, free);
      position += chunk.length;
    }
  }

  /** Reads for one transfer; `end` it once the transfer is over, whatever its outcome. */
  lease(): SegmentLease {
    return new SegmentLease(
      (key) => this.entries.get(key),
      (entry) => this.freeIfDone(entry),
    );
  }

  /** Drops segment `key`, freeing its memory once nothing reads it (see the class). */
  forget(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.bytes -= entry.length;
    entry.forgotten = true;
    this.freeIfDone(entry);
  }

  /** Drops every segment whose key starts with `prefix` (one upload's, when it is finished or terminated). */
  forgetPrefix(prefix: string): void {
    for (const key of [...this.entries.keys()]) if (key.startsWith(prefix)) this.forget(key);
  }

  get size(): number {
    return this.bytes;
  }

  private freeIfDone(entry: Entry): void {
    const free = entry.free;
    if (!entry.forgotten || !free || entry.tainted || entry.readers > 0) return;
    // Once only: the chunks are gone afterwards.
    entry.free = undefined;
    for (const chunk of entry.chunks) free(chunk);
  }

  /** Oldest first: segments are cut into parts in the order they were written. */
  private evict(): void {
    for (const key of this.entries.keys()) {
      if (this.bytes <= this.maxBytes) return;
      this.forget(key);
    }
  }
}

/** The cache's reads for one transfer to S3 (a part upload, with all its attempts). */
export class SegmentLease {
  private readonly reads = new Map<Entry, number>();
  private ended = false;

  constructor(
    private readonly lookUp: (key: string) => Entry | undefined,
    private readonly done: (entry: Entry) => void,
  ) {}

  /** Bytes [first, last) of segment `key`, as slices, or undefined when the cache does not hold all of them. */
  read(key: string, first: number, last: number): Buffer[] | undefined {
    const entry = this.ended ? undefined : this.lookUp(key);
    if (!entry || entry.length < last) return undefined;
    const times = this.reads.get(entry) ?? 0;
    if (times === 0) entry.readers++;
    this.reads.set(entry, times + 1);
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

  /**
   * The transfer is over. `sent`: S3 acknowledged it, so every byte left the sockets; the entries it read once may
   * then be freed when forgotten. Otherwise a socket may still have them queued: they are left to the collector.
   */
  end(sent: boolean): void {
    if (this.ended) return;
    this.ended = true;
    for (const [entry, times] of this.reads) {
      entry.readers--;
      if (!sent || times > 1) entry.tainted = true;
      this.done(entry);
    }
    this.reads.clear();
  }
}
