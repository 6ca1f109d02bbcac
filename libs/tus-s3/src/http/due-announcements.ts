import type { Redis } from 'ioredis';

/**
 * Which finished uploads may still owe their copy and `upload.finished`, so that a periodic scan can find them
 * without listing the bucket: a sorted set in Redis (by when they finished), shared by every instance, or a map in
 * memory with the in-memory locker (one instance). An entry only says "look": the journal says what is owed.
 */
export interface DueAnnouncementIndex {
  add(uploadId: string, atMs: number): Promise<void>;
  remove(uploadId: string): Promise<void>;
  /** Up to `limit` ids noted at or before `atMs`. */
  notedBefore(atMs: number, limit: number): Promise<string[]>;
}

export class RedisDueAnnouncements implements DueAnnouncementIndex {
  constructor(
    private readonly redis: Redis,
    private readonly key: string,
  ) {}

  async add(uploadId: string, atMs: number): Promise<void> {
    await this.redis.zadd(this.key, 'NX', atMs, uploadId);
  }

  async remove(uploadId: string): Promise<void> {
    await this.redis.zrem(this.key, uploadId);
  }

  notedBefore(atMs: number, limit: number): Promise<string[]> {
    return this.redis.zrangebyscore(this.key, '-inf', atMs, 'LIMIT', 0, limit);
  }
}

export class MemoryDueAnnouncements implements DueAnnouncementIndex {
  private readonly noted = new Map<string, number>();

  async add(uploadId: string, atMs: number): Promise<void> {
    if (!this.noted.has(uploadId)) this.noted.set(uploadId, atMs);
  }

  async remove(uploadId: string): Promise<void> {
    this.noted.delete(uploadId);
  }

  async notedBefore(atMs: number, limit: number): Promise<string[]> {
    return [...this.noted]
      .filter(([, at]) => at <= atMs)
      .slice(0, limit)
      .map(([id]) => id);
  }
}
