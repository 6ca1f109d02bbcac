import Redis from 'ioredis';

/** Calls per Redis command, from INFO commandstats. */
export type RedisCommandCounts = Record<string, number>;

/**
 * Counts the commands the Redis server handled between two snapshots. The counters are server-wide: anything else
 * using this Redis at the same time (another test run) shows up too.
 */
export class RedisCommandCounter {
  private readonly client: Redis;

  constructor(url: string) {
    this.client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  }

  async snapshot(): Promise<RedisCommandCounts> {
    const text = await this.client.info('commandstats');
    const counts: RedisCommandCounts = {};
    for (const match of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) counts[match[1]] = Number(match[2]);
    return counts;
  }

  /** `after - before` per command, without the INFO calls this counter made itself. */
  static diff(before: RedisCommandCounts, after: RedisCommandCounts): RedisCommandCounts {
    const out: RedisCommandCounts = {};
    for (const [cmd, n] of Object.entries(after)) {
      const delta = n - (before[cmd] ?? 0) - (cmd === 'info' ? 1 : 0);
      if (delta > 0) out[cmd] = delta;
    }
    return out;
  }

  close(): void {
    this.client.disconnect();
  }
}
