import { Readable } from 'node:stream';
import type { Redis } from 'ioredis';
import { StorageError } from './store-errors';

/** Marks a journal entry whose bytes are in Redis rather than in an S3 chunk object. */
const REDIS_KEY_MARK = 'redis:';
/** Appends only when the value has the length the writer expects: two writers can never interleave bytes. */
const APPEND_IF_LENGTH = `
if redis.call('STRLEN', KEYS[1]) ~= tonumber(ARGV[1]) then return -1 end
local length = redis.call('APPEND', KEYS[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return length`;
const READ_SLICE = 1024 * 1024;

/**
 * Held-back bytes in Redis (`holdBackIn: 'redis'`): one string per upload and part boundary, appended to by each
 * small PATCH, so a 1 MiB PATCH costs a memory copy in Redis instead of an S3 object written now and read back
 * later, and the journal in S3 changes only when a part is added.
 *
 * The key names the offset where the held bytes start (the end of the journal's parts). Bytes left under an old
 * offset by a write whose journal was never saved are therefore never counted, and if Redis loses a key the upload
 * simply falls back to the offset its parts reach: the client resends the rest, nothing is corrupted.
 */
export class RedisHeldBytes {
  constructor(
    private readonly redis: Redis,
    private readonly keyPrefix: string,
    private readonly ttlSeconds = 7 * 24 * 3600,
  ) {}

  static isRedisKey(journalKey: string): boolean {
    return journalKey.startsWith(REDIS_KEY_MARK);
  }

  /** The journal key of the bytes held after `partsEnd` bytes of parts. */
  journalKey(uploadId: string, partsEnd: number): string {
    return `${REDIS_KEY_MARK}${this.keyPrefix}held:${uploadId}:${partsEnd}`;
  }

  async length(journalKey: string): Promise<number> {
    return this.call('read the held-back bytes', () => this.redis.strlen(redisKey(journalKey)));
  }

  /** Starts the bytes under a key afresh (whatever a failed earlier attempt left there is dropped). */
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

  read(journalKey: string, length: number): Readable {
    const key = redisKey(journalKey);
    const redis = this.redis;
    async function* slices(): AsyncGenerator<Buffer> {
      for (let start = 0; start < length; start += READ_SLICE) {
        const end = Math.min(start + READ_SLICE, length) - 1;
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
