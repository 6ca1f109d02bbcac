import Redis, { RedisOptions } from 'ioredis';
import { describeUrl, logConnectionChanges } from '../../locker/redis-clients';

/**
 * The held-bytes client is not a lock master: where a lock vote must fail at once, a PATCH would rather wait a
 * moment for a connection being (re)established (start-up, Redis coming back), so commands queue while it connects.
 * They stay bounded: a command fails after `commandTimeout`, or once the connection failed `maxRetriesPerRequest`
 * more times, so a dead Redis answers the request 503 (StorageError) instead of hanging it.
 */
const HELD_BYTES_REDIS_OPTIONS: Readonly<RedisOptions> = Object.freeze({
  enableOfflineQueue: true,
  maxRetriesPerRequest: 2,
  connectTimeout: 2_000,
  // Values are up to 1 MiB each way: more than a lock vote, still far below this on any working network.
  commandTimeout: 5_000,
  lazyConnect: false,
  // Tells it apart from the lock connections in CLIENT LIST.
  connectionName: 'tus-held-bytes',
  // Keys are prefixed here (`redis.keyPrefix`), also inside the scripts: a client's own prefix would split them.
  keyPrefix: '',
  retryStrategy: (attempt: number) => Math.min(50 * 2 ** Math.min(attempt, 10), 2_000),
});

/**
 * A connection of its own to the Redis that holds bytes: the first of `urls`, or when the user passed clients, a
 * duplicate of the first (same server and credentials). The caller owns it and closes it.
 */
export function createHeldBytesRedis(
  redis: { urls: readonly string[]; clients?: readonly Redis[] },
  overrides: RedisOptions = {},
): Redis {
  const options = { ...HELD_BYTES_REDIS_OPTIONS, ...overrides };
  const [given] = redis.clients ?? [];
  if (!given && redis.urls.length === 0) throw new Error("holdBackIn 'redis' needs redis.urls or redis.clients");
  const client = given ? given.duplicate(options) : new Redis(redis.urls[0], options);
  logConnectionChanges(client, given ? `${client.options.host}:${client.options.port}` : describeUrl(redis.urls[0]));
  return client;
}
