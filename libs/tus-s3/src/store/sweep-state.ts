import type { Redis } from 'ioredis';

/** Where a sweep stopped: the phase and its listing position, so the next sweep (on any instance) goes on from there. */
export type SweepCursor =
  | { readonly phase: 'multipart'; readonly keyMarker?: string; readonly uploadIdMarker?: string }
  | { readonly phase: 'chunks'; readonly startAfter?: string };

/**
 * What sweeps share across instances: a lease (at most one sweep at a time) and the cursor. With Redis
 * ({@link RedisSweepState}) they are shared; in memory ({@link MemorySweepState}) they serve one instance.
 */
export interface SweepState {
  /** Takes the lease for `ttlMs`; false when another sweep holds it. */
  acquire(owner: string, ttlMs: number): Promise<boolean>;
  /** Extends the lease this owner holds; false when it is no longer this owner's (expired and taken). */
  renew(owner: string, ttlMs: number): Promise<boolean>;
  release(owner: string): Promise<void>;
  cursor(): Promise<SweepCursor | undefined>;
  /** undefined: the pass is complete, the next sweep starts from the beginning. */
  saveCursor(cursor: SweepCursor | undefined): Promise<void>;
}

/** Only the owner may extend its lease. */
const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
/** Only the owner may end its lease. */
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
/** The cursor outlives any pause between sweeps, but not forever (a forgotten one restarts the pass). */
const CURSOR_TTL_SECONDS = 7 * 24 * 3600;

/**
 * Lease and cursor in Redis: `<keyPrefix>sweep:<bucket>/<objectPrefix>:lease` (SET NX PX, owner-checked renew and
 * release) and `…:cursor`. Named after what is swept, so modules on other buckets or prefixes sharing a Redis and a
 * keyPrefix sweep independently.
 */
export class RedisSweepState implements SweepState {
  private readonly leaseKey: string;
  private readonly cursorKey: string;

  constructor(
    private readonly redis: Redis,
    keyPrefix: string,
    swept: string,
  ) {
    this.leaseKey = `${keyPrefix}sweep:${swept}:lease`;
    this.cursorKey = `${keyPrefix}sweep:${swept}:cursor`;
  }

  async acquire(owner: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.set(this.leaseKey, owner, 'PX', ttlMs, 'NX')) === 'OK';
  }

  async renew(owner: string, ttlMs: number): Promise<boolean> {
    return Number(await this.redis.eval(RENEW, 1, this.leaseKey, owner, String(ttlMs))) === 1;
  }

  async release(owner: string): Promise<void> {
    await this.redis.eval(RELEASE, 1, this.leaseKey, owner);
  }

  async cursor(): Promise<SweepCursor | undefined> {
    const text = await this.redis.get(this.cursorKey);
    if (!text) return undefined;
    try {
      const cursor = JSON.parse(text) as SweepCursor;
      return cursor.phase === 'multipart' || cursor.phase === 'chunks' ? cursor : undefined;
    } catch {
      return undefined;
    }
  }

  async saveCursor(cursor: SweepCursor | undefined): Promise<void> {
    if (cursor === undefined) await this.redis.del(this.cursorKey);
    else await this.redis.set(this.cursorKey, JSON.stringify(cursor), 'EX', CURSOR_TTL_SECONDS);
  }
}

/** One instance (the in-memory locker): the lease only keeps this instance's own sweeps apart. */
export class MemorySweepState implements SweepState {
  private owner: string | undefined;
  private saved: SweepCursor | undefined;

  async acquire(owner: string, _ttlMs?: number): Promise<boolean> {
    if (this.owner !== undefined) return false;
    this.owner = owner;
    return true;
  }

  async renew(owner: string): Promise<boolean> {
    return this.owner === owner;
  }

  async release(owner: string): Promise<void> {
    if (this.owner === owner) this.owner = undefined;
  }

  async cursor(): Promise<SweepCursor | undefined> {
    return this.saved;
  }

  async saveCursor(cursor: SweepCursor | undefined): Promise<void> {
    this.saved = cursor;
  }
}
