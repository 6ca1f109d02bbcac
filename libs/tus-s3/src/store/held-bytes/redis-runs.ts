import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Redis } from 'ioredis';
import {
  APPEND_SMALL,
  COMMIT_SEGMENT,
  DISCARD_RUN,
  END_FLUSH,
  HEADER_BYTES,
  RECORD_IF_RUN_EXISTS,
  TRIM_RUN,
} from './redis-run-scripts';
import { ChunkRelease, FreeChunk } from '../chunk-release';
import { SegmentCache } from './segment-cache';
import { SetFromChunks, sizeOf } from './set-from-chunks';
import { HeldBytesMissingError, StorageError } from '../store-errors';
import type { UploadedPart } from '../upload-info';
import type { HeldTransfer } from './held-bytes';

/** How long a flusher's announcement lasts without renewal (it renews it for every part). */
const FLUSH_ANNOUNCEMENT_MS = 10 * 60 * 1000;
/** Segments outlive their run's index by this much, so an index never names a segment that expired first. */
const SEGMENT_EXTRA_TTL_SECONDS = 3600;
const READ_SLICE = 1024 * 1024;
/** Writes below this grow the run's last segment (up to MAX_MERGED_SEGMENT) rather than adding one. */
const SMALL_WRITE = 256 * 1024;
const MAX_MERGED_SEGMENT = 1024 * 1024;
/** What this instance keeps of the segments it wrote, by default (see SegmentCache). */
const DEFAULT_SEGMENT_CACHE_BYTES = 32 * 1024 * 1024;

/** A part the PartFlusher uploaded: adoptable while the upload's parts end at `start`. */
export interface FlushedPart extends UploadedPart {
  readonly start: number;
}

/** One upload's run: the one that starts at offset `base`. */
export interface RunRef {
  readonly uploadId: string;
  readonly base: number;
}

/** What a request learns from Redis in one round trip before it trusts its cached journal. */
export interface RedisUploadState {
  /** Changes whenever the journal in S3 changes; null when Redis has none (never set, expired or lost). */
  journalVersion: string | null;
  /** Length of the run the caller asked about (0: there is none). */
  heldLength: number;
  /** Parts uploaded in the background and not yet in the journal, by part number. */
  flushed: FlushedPart[];
}

/**
 * The Redis side of `holdBackIn: 'redis'` (RedisHeldBytes has the policy): one "run" of held bytes per upload,
 * appended to by each small PATCH, so a 1 MiB PATCH costs one Redis write instead of an S3 object written now and
 * read back later, and the journal in S3 changes only when parts are added. Full parts are cut from the run in the background (see PartFlusher) and
 * recorded here until a request under the lock adopts them into the journal; the journal's version lives here too.
 *
 * A run is an index key (`run:<id>:<base>`: a decimal header with the number of bytes held, then one `name,size;`
 * entry per segment) and one plain string per PATCH (`seg:<id>:<name>`). Each write is a SET of a fresh segment
 * key, then a small script that adds it to the index only if the run still holds the length the writer expects.
 * (Appending to one long string instead made Redis reallocate, and copy, the whole run on every PATCH.)
 *
 * The run's key names the offset where it starts. Bytes left under an old key by a write whose journal was never
 * saved are therefore never counted (a journal that moves to a key such a write used drops that run first: see
 * RedisHeldBytes), and if Redis loses the run the upload falls back to the offset its parts reach: the client
 * resends the rest, nothing is corrupted.
 */
export class RedisRuns {
  /** Bulk reads (whole parts) go over a connection of their own, so appends never queue behind megabytes. */
  private bulk: Redis | undefined;
  private closed = false;

  /**
   * @param redis a client that queues commands while it connects (see createHeldBytesRedis); not closed here
   */
  constructor(
    private readonly redis: Redis,
    private readonly keyPrefix: string,
    private readonly ttlSeconds = 7 * 24 * 3600,
    private readonly cache = new SegmentCache(DEFAULT_SEGMENT_CACHE_BYTES),
  ) {}

  /** The upload's journal version, the length of its run `run`, and its flushed parts, in one round trip. */
  async state(run: RunRef): Promise<RedisUploadState> {
    const replies = await this.call('read the upload state', () =>
      this.redis
        .multi()
        .get(this.versionKey(run.uploadId))
        .getrange(this.runKey(run), 0, HEADER_BYTES - 1)
        .hgetall(this.flushedKey(run.uploadId))
        .exec(),
    );
    const [version, length, flushed] = (replies ?? []).map(([error, value]) => {
      if (error) throw new StorageError('could not read the upload state in Redis', error);
      return value;
    });
    return {
      journalVersion: (version as string | null) ?? null,
      heldLength: Number(length || 0),
      flushed: Object.values((flushed ?? {}) as Record<string, string>)
        .map((json) => JSON.parse(json) as FlushedPart)
        .sort((a, b) => a.partNumber - b.partNumber),
    };
  }

  /** Marks the journal as changed: every instance's cached copy stops being trusted. Returns the new version. */
  async bumpJournalVersion(uploadId: string): Promise<string> {
    const version = randomBytes(8).toString('hex');
    await this.call('version the journal', () =>
      this.redis.set(this.versionKey(uploadId), version, 'EX', this.ttlSeconds),
    );
    return version;
  }

  /**
   * Records a part uploaded from the run `run`, unless that run is gone (finished, terminated or dropped): then
   * the record could only be left behind, and a request uploads whatever part is still missing itself.
   */
  async recordFlushed(run: RunRef, part: FlushedPart): Promise<void> {
    await this.call('record a flushed part', () =>
      this.script(
        RECORD_IF_RUN_EXISTS,
        [this.flushedKey(run.uploadId), this.runKey(run)],
        [String(part.partNumber), JSON.stringify(part), this.ttlSeconds],
      ),
    );
  }

  /**
   * Counts a PartFlusher at work on this upload. One that dies without `endFlush` leaves the count up until it
   * expires, which only makes requests cut equal parts meanwhile.
   */
  async announceFlush(uploadId: string): Promise<void> {
    await this.call('announce a background part upload', () =>
      this.redis
        .multi()
        .incr(this.flushingKey(uploadId))
        .pexpire(this.flushingKey(uploadId), FLUSH_ANNOUNCEMENT_MS)
        .exec(),
    );
  }

  /** Keeps the announcement from expiring while a long flush goes on. */
  async renewFlush(uploadId: string): Promise<void> {
    await this.call('announce a background part upload', () =>
      this.redis.pexpire(this.flushingKey(uploadId), FLUSH_ANNOUNCEMENT_MS),
    );
  }

  /** Ends one `announceFlush`. */
  async endFlush(uploadId: string): Promise<void> {
    await this.call('end a background part upload', () => this.script(END_FLUSH, [this.flushingKey(uploadId)], []));
  }

  async isFlushing(uploadId: string): Promise<boolean> {
    return (
      Number(await this.call('read the background part uploads', () => this.redis.get(this.flushingKey(uploadId)))) > 0
    );
  }

  async forgetFlushed(uploadId: string, partNumbers: number[]): Promise<void> {
    if (partNumbers.length === 0) return;
    await this.call('forget flushed parts', () =>
      this.redis.hdel(this.flushedKey(uploadId), ...partNumbers.map(String)),
    );
  }

  /**
   * Starts a run afresh (whatever a failed earlier attempt left under its key is dropped); returns its length.
   * `data`: the bytes, as one buffer or as the chunks they were received in (kept as they are, not copied).
   * `free`: how to free them once the cache is done with them, when nobody else holds them (see SegmentCache).
   */
  async start(run: RunRef, data: Buffer | readonly Buffer[], free?: FreeChunk): Promise<number> {
    return this.write(run, 0, chunksOf(data), 'start', free);
  }

  /** Appends, provided the run still holds `expectedLength` bytes; returns the new length (see `start`). */
  async append(
    run: RunRef,
    expectedLength: number,
    data: Buffer | readonly Buffer[],
    free?: FreeChunk,
  ): Promise<number> {
    return this.write(run, expectedLength, chunksOf(data), 'append', free);
  }

  /**
   * Deletes the segments that lie wholly within the first `bytes` of the run (bytes that are now in parts), so Redis
   * holds about what is not in parts yet while the run, and where it starts, stay the same.
   */
  async trim(run: RunRef, bytes: number): Promise<void> {
    const prefix = this.segmentPrefix(run.uploadId);
    const dropped = await this.call('drop held-back bytes that are in parts', () =>
      this.script(TRIM_RUN, [this.runKey(run), this.heldTotalKey()], [bytes, prefix]),
    );
    for (const name of (dropped ?? []) as string[]) this.cache.forget(prefix + name);
  }

  /** `length` bytes of a run from `skip` on, for one part upload; a read fails if Redis no longer has them all. */
  read(run: RunRef, length: number, skip = 0): HeldTransfer {
    const key = this.runKey(run);
    const segmentPrefix = this.segmentPrefix(run.uploadId);
    const redis = this.bulkConnection();
    const cache = this.cache.lease();
    async function* slices(): AsyncGenerator<Buffer> {
      const index = parseIndex(await redis.get(key));
      if (!index || index.length < skip + length) throw new HeldBytesMissingError('Redis');
      let position = 0;
      for (const segment of index.segments) {
        const first = Math.max(skip, position) - position;
        const last = Math.min(skip + length, position + segment.size) - position;
        position += segment.size;
        const cached = last > first ? cache.read(segmentPrefix + segment.name, first, last) : undefined;
        if (cached) {
          yield* cached;
          continue;
        }
        for (let start = first; start < last; start += READ_SLICE) {
          const end = Math.min(start + READ_SLICE, last) - 1;
          // A segment disappears when parts cover it (trim) or its run is dropped: then this read fails, whole.
          const slice = await redis.getrangeBuffer(segmentPrefix + segment.name, start, end);
          if (slice.length !== end - start + 1) throw new HeldBytesMissingError('Redis');
          yield slice;
        }
      }
    }
    return { open: () => Readable.from(slices(), { objectMode: false }), end: (sent) => cache.end(sent) };
  }

  async discard(run: RunRef): Promise<void> {
    const prefix = this.segmentPrefix(run.uploadId);
    const dropped = await this.call('delete the held-back bytes', () =>
      this.script(DISCARD_RUN, [this.runKey(run), this.heldTotalKey()], [prefix]),
    );
    for (const name of (dropped ?? []) as string[]) this.cache.forget(prefix + name);
  }

  /** Everything this upload has in Redis except its runs (which `discard` removes). */
  async forgetUpload(uploadId: string): Promise<void> {
    this.cache.forgetPrefix(this.segmentPrefix(uploadId));
    await this.call('delete the upload state', () =>
      this.redis.del(this.versionKey(uploadId), this.flushedKey(uploadId), this.flushingKey(uploadId)),
    );
  }

  /** Closes the connection this class opened for bulk reads (the main client belongs to whoever passed it). */
  close(): void {
    this.closed = true;
    this.bulk?.disconnect();
    this.bulk = undefined;
  }

  /**
   * The connection for bulk reads: its own, which queues commands until it is connected on first use
   * (commandTimeout bounds that). Once closed, none is opened again: a read still under way at shutdown (a request,
   * a background part upload) would leave it open and keep the process from exiting; it uses the main client,
   * which fails at once when its owner closed it too.
   */
  private bulkConnection(): Redis {
    if (this.closed) return this.redis;
    return (this.bulk ??= this.redis.duplicate());
  }

  private async write(
    run: RunRef,
    expected: number,
    chunks: readonly Buffer[],
    mode: 'start' | 'append',
    free: FreeChunk | undefined,
  ): Promise<number> {
    const prefix = this.segmentPrefix(run.uploadId);
    const runKey = this.runKey(run);
    const name = randomBytes(6).toString('hex');
    const segmentTtl = this.ttlSeconds + SEGMENT_EXTRA_TTL_SECONDS;
    const size = sizeOf(chunks);
    if (mode === 'append' && size < SMALL_WRITE) {
      const joined = chunks.length > 1;
      const data = joined ? Buffer.concat(chunks, size) : chunks[0];
      const reply = await this.call('store the held-back bytes', () =>
        this.script(
          APPEND_SMALL,
          [runKey, this.heldTotalKey()],
          [expected, data, prefix, name, MAX_MERGED_SEGMENT, segmentTtl],
        ),
      );
      if (reply === -1) throw changedUnderUs();
      const [length, segment, at] = reply as [number, string, number];
      this.cache.wrote(prefix + segment, Number(at), data, joined ? ChunkRelease.free : free);
      return Number(length);
    }
    // A SET of a fresh key: Redis keeps the request buffer as the value (a script would copy it twice), and the
    // chunks go to the socket as they are (see SetFromChunks). The script that adds it to the run follows in the
    // same round trip; Redis runs them in order, and the script refuses a segment whose SET did not happen.
    const length = await this.call('store the held-back bytes', async () => {
      const stored = this.redis.sendCommand(new SetFromChunks(prefix + name, chunks, segmentTtl));
      const committed = this.script(
        COMMIT_SEGMENT,
        [runKey, this.heldTotalKey()],
        [expected, name, size, this.ttlSeconds, prefix, mode],
      );
      const [set, commit] = await Promise.allSettled([stored, committed]);
      if (set.status === 'rejected') throw set.reason;
      if (commit.status === 'rejected') throw commit.reason;
      if (commit.value === -2) throw new StorageError('Redis did not store the held-back bytes');
      return commit.value;
    });
    if (length === -1) {
      await this.redis.del(prefix + name).catch(() => undefined);
      throw changedUnderUs();
    }
    this.cache.wroteChunks(prefix + name, 0, chunks, free);
    return Number(length);
  }

  /** EVALSHA, loading the script on first use (or after a Redis restart) with EVAL. */
  private async script(source: string, keys: string[], args: Array<string | number | Buffer>): Promise<unknown> {
    const sha = scriptSha(source);
    try {
      return await this.redis.evalsha(sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!String((error as Error)?.message).startsWith('NOSCRIPT')) throw error;
      return this.redis.eval(source, keys.length, ...keys, ...args);
    }
  }

  /** Bytes all uploads hold in Redis (the segments' sizes), as the scripts count them. */
  async heldBytesTotal(): Promise<number> {
    const total = await this.call('read the held-back bytes total', () => this.redis.get(this.heldTotalKey()));
    return Math.max(0, Number(total ?? 0));
  }

  /** The counter of the bytes in every upload's segments (see redis-run-scripts). */
  private heldTotalKey(): string {
    return `${this.keyPrefix}held-bytes`;
  }

  private runKey(run: RunRef): string {
    return `${this.keyPrefix}run:${run.uploadId}:${run.base}`;
  }

  private segmentPrefix(uploadId: string): string {
    return `${this.keyPrefix}seg:${uploadId}:`;
  }

  private versionKey(uploadId: string): string {
    return `${this.keyPrefix}journal:${uploadId}`;
  }

  private flushingKey(uploadId: string): string {
    return `${this.keyPrefix}flushing:${uploadId}`;
  }

  private flushedKey(uploadId: string): string {
    return `${this.keyPrefix}flushed:${uploadId}`;
  }

  private async call<T>(what: string, command: () => Promise<T>): Promise<T> {
    try {
      return await command();
    } catch (error) {
      if (error instanceof StorageError) throw error;
      throw new StorageError(`could not ${what} in Redis`, error);
    }
  }
}

const shas = new Map<string, string>();
function scriptSha(source: string): string {
  let sha = shas.get(source);
  if (!sha) shas.set(source, (sha = createHash('sha1').update(source).digest('hex')));
  return sha;
}

/** The index of a run: how many bytes it holds, and its segments in order. */
function parseIndex(value: string | null): { length: number; segments: Array<{ name: string; size: number }> } | null {
  if (value === null) return null;
  const segments = value
    .slice(HEADER_BYTES)
    .split(';')
    .filter(Boolean)
    .map((entry) => {
      const [name, size] = entry.split(',');
      return { name, size: Number(size) };
    });
  return { length: Number(value.slice(0, HEADER_BYTES)), segments };
}

function chunksOf(data: Buffer | readonly Buffer[]): readonly Buffer[] {
  return Buffer.isBuffer(data) ? [data] : data;
}

function changedUnderUs(): StorageError {
  return new StorageError('the held-back bytes changed under this request; send HEAD and resume');
}
