import { Logger } from '@nestjs/common';
import Redis, { RedisOptions } from 'ioredis';

const logger = new Logger('TusRedisLock');

/**
 * Client options for lock masters. A lock attempt must fail fast when a master is down, so that the others can
 * still form a quorum and a request is not held up by commands queued on a dead connection; meanwhile the client
 * keeps reconnecting forever, so a master that comes back is used again without restarting anything.
 */
export const LOCK_REDIS_OPTIONS: Readonly<RedisOptions> = Object.freeze({
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  connectTimeout: 2_000,
  // A master that accepted the connection but stopped answering must count as a failed vote, not hang the vote.
  commandTimeout: 1_000,
  lazyConnect: false,
  retryStrategy: (attempt: number) => Math.min(50 * 2 ** Math.min(attempt, 10), 2_000),
});

/** One client per independent Redis master, e.g. `['redis://a:6379', 'redis://b:6379', 'redis://c:6379']`. */
export function createRedisClients(urls: string[], overrides: RedisOptions = {}): Redis[] {
  if (urls.length === 0) throw new Error('createRedisClients needs at least one Redis URL');
  return urls.map((url) => {
    const client = new Redis(url, { ...LOCK_REDIS_OPTIONS, ...overrides });
    logConnectionChanges(client, describeUrl(url));
    return client;
  });
}

/**
 * Logs when a connection goes down or comes back, once per change rather than once per reconnect attempt. The
 * 'error' listener also keeps ioredis from reporting every failed reconnect as an unhandled error.
 */
export function logConnectionChanges(client: Redis, label: string): void {
  let down = false;
  client.on('error', (error: Error) => {
    if (down) return;
    down = true;
    logger.warn(`Redis ${label} is unreachable: ${error.message}; reconnecting in the background`);
  });
  client.on('ready', () => {
    if (!down) return;
    down = false;
    logger.log(`Redis ${label} is reachable again`);
  });
}

/** host:port of a Redis URL, without credentials, for log lines. */
export function describeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || '6379'}`;
  } catch {
    return 'redis';
  }
}
