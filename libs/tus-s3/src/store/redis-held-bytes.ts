import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Redis } from 'ioredis';
import { StorageError } from './store-errors';
import type { UploadedPart } from './upload-info';

/** Marks a journal entry whose bytes are in Redis rather than in an S3 chunk object. */
const REDIS_KEY_MARK = 'redis:';
/** Appends only when the value has the length the writer expects: two writers can never interleave bytes. */
const APPEND_IF_LENGTH = `
if redis.call('STRLEN', KEYS[1]) ~= tonumber(ARGV[1]) then return -1 end
local length = redis.call('APPEND', KEYS[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return length`;
const RECORD_IF_RUN_EXISTS = `
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1`;
const READ_SLICE = 1024 * 1024;

/** What a request learns from Redis in one round trip before it trusts its cached journal. */
export interface RedisUploadState {
  /** Changes whenever the journal in S3 changes; null when Redis has none (never set, expired or lost). */
  journalVersion: string | null;
  /** Length of the held run under the key the caller asked about. */
  heldLength: number;
  /** Parts uploaded in the background and not yet in the journal, by part number. */
  flushed: UploadedPart[];
}

/**
 * Held-back bytes in Redis (`holdBackIn: 'redis'`): one string per upload (a "run"), appended to by each small
 * PATCH, so a 1 MiB PATCH costs a memory copy in Redis instead of an S3 object written now and read back later, and
 * the journal in S3 changes only when parts are added. Full parts are cut from the run in the background (see
 * PartFlusher) and recorded here until a request under the lock adopts them into the journal.
 *
 * The run's key names the offset where it starts. Bytes left under an old key by a write whose journal was never
 * saved are therefore never counted, and if Redis loses the run the upload falls back to the offset its parts
 * reach: the client resends the rest, nothing is corrupted.
 */
export class RedisHeldBytes {
  /** Bulk reads (whole parts) go over a connection of their own, so appends never queue behind megabytes. */
  private bulk: Redis | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly keyPrefix: string,
    private readonly ttlSeconds = 7 * 24 * 3600,
  ) {}

  static isRedisKey(journalKey: string): boolean {
    return journalKey.startsWith(REDIS_KEY_MARK);
  }

  /** The journal key of the run that starts at offset `base`. */
  journalKey(uploadId: string, base: number): string {
    return `${REDIS_KEY_MARK}${this.keyPrefix}held:${uploadId}:${base}`;
  }

  async state(uploadId: string, runKey: string): Promise<RedisUploadState> {
    const replies = await this.call('read the upload state', () =>
      this.redis
        .multi()
        .get(this.versionKey(uploadId))
        .strlen(redisKey(runKey))
        .hgetall(this.flushedKey(uploadId))
        .exec(),
    );
    const [version, length, flushed] = (replies ?? []).map(([error, value]) => {
      if (error) throw new StorageError('could not read the upload state in Redis', error);
      return value;
    });
    return {
      journalVersion: (version as string | null) ?? null,
      heldLength: Number(length),
      flushed: Object.values((flushed ?? {}) as Record<string, string>)
        .map((json) => JSON.parse(json) as UploadedPart)
        .sort((a, b) => a.partNumber - b.partNumber),
    };
  }

  /** Marks the journal as changed: every instance's cached copy stops being trusted. Returns the new version. */
  async bumpJournalVersion(uploadId: string): Promise<string> {
    const version = randomBytes(8).toString('hex');
    await this.call('version the journal', () => this.redis.set(this.versionKey(uploadId), version, 'EX', this.ttlSeconds));
    return version;
  }

  /**
   * Records a part uploaded from the run `runKey`, unless that run is gone (finished, terminated or restarted): then
   * the record could only be left behind, and a request uploads whatever part is still missing itself.
   */
  async recordFlushed(uploadId: string, runKey: string, part: UploadedPart): Promise<void> {
    await this.call('record a flushed part', () =>
      this.redis.eval(
        RECORD_IF_RUN_EXISTS,
        2,
        this.flushedKey(uploadId),
        redisKey(runKey),
        String(part.partNumber),
        JSON.stringify(part),
        this.ttlSeconds,
      ),
    );
  }

  async forgetFlushed(uploadId: string, partNumbers: number[]): Promise<void> {
    if (partNumbers.length === 0) return;
    await this.call('forget flushed parts', () => this.redis.hdel(this.flushedKey(uploadId), ...partNumbers.map(String)));
  }

  /** Starts a run afresh (whatever a failed earlier attempt left under its key is dropped). */
  async start(journalKey: string, data: Buffer): Promise<void> {
    await this.call('store the held-back bytes', () => this.redis.set(redisKey(journalKey), data, 'EX', this.ttlSeconds));
  }

  /** Appends, provided the value still has `expectedLength` bytes; returns the new length. */
  async append(journalKey: string, expectedLength: number, data: Buffer): Promise<number> {
    const length = await this.call('store the held-back bytes', () =>
      this.redis.eval(APPEND_IF_LENGTH, 1, redisKey(journalKey), expectedLength, data, this.ttlSeconds),
    );
    if (length === -1) throw new StorageError('the held-back bytes changed under this request; send HEAD and resume');
    return Number(length);
  }

  /** `length` bytes of a run from `skip` on, in slices; fails if Redis no longer has them all. */
  read(journalKey: string, length: number, skip = 0): Readable {
    const key = redisKey(journalKey);
    // Its own connection may still be connecting on first use: let it queue until ready (commandTimeout bounds it).
    const redis = (this.bulk ??= this.redis.duplicate({ enableOfflineQueue: true }));
    async function* slices(): AsyncGenerator<Buffer> {
      for (let start = skip; start < skip + length; start += READ_SLICE) {
        const end = Math.min(start + READ_SLICE, skip + length) - 1;
        const slice = await redis.getrangeBuffer(key, start, end);
        if (slice.length !== end - start + 1) throw new StorageError('held-back bytes are missing from Redis');
        yield slice;
      }
    }
    return Readable.from(slices(), { objectMode: false });
  }

  async discard(journalKey: string): Promise<void> {
    await this.call('delete the held-back bytes', () => this.redis.del(redisKey(journalKey)));
  }

  /** Everything this upload has in Redis except its runs (which `discard` removes). */
  async forgetUpload(uploadId: string): Promise<void> {
    await this.call('delete the upload state', () => this.redis.del(this.versionKey(uploadId), this.flushedKey(uploadId)));
  }

  /** Closes the connection this store opened (the main client belongs to the locker). */
  close(): void {
    this.bulk?.disconnect();
    this.bulk = undefined;
  }

  private versionKey(uploadId: string): string {
    return `${this.keyPrefix}journal:${uploadId}`;
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

function redisKey(journalKey: string): string {
  return journalKey.slice(REDIS_KEY_MARK.length);
}
