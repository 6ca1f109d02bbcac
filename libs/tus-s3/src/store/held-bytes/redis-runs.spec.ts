/**
 * RedisRuns against a real redis-server started here: the run layout (index + one key per segment), the
 * length check that keeps two writers from interleaving bytes, restarts copied inside Redis, and clean-up.
 */
import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { freePorts, RedisMaster, waitForRedisServerBinary } from '../../../../../test/support/redis-masters';
import { heldKeys, heldRun } from '../../../../../test/support/redis-runs';
import { StorageError } from '../store-errors';
import { createHeldBytesRedis } from './redis-client';
import type { HeldTransfer } from './held-bytes';
import { RedisRuns } from './redis-runs';

jest.setTimeout(20_000);

/** Reads a transfer's bytes once, as one part upload would, and ends it. */
async function readAll(transfer: HeldTransfer): Promise<Buffer> {
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of transfer.open()) chunks.push(Buffer.from(chunk as Buffer));
  } catch (error) {
    transfer.end(false);
    throw error;
  }
  transfer.end(true);
  return Buffer.concat(chunks);
}

describe('RedisRuns', () => {
  let master: RedisMaster;
  let redis: Redis;
  let held: RedisRuns;
  const prefix = 'spec:';
  const id = 'upload1';

  beforeAll(async () => {
    await waitForRedisServerBinary();
    const [port] = await freePorts(1);
    master = new RedisMaster(port);
    await master.start();
    redis = new Redis(master.url);
  });
  afterAll(async () => {
    held?.close();
    redis?.disconnect();
    await master?.stop();
  });
  beforeEach(async () => {
    await redis.flushall();
    held?.close();
    held = new RedisRuns(redis, prefix, 100);
  });

  it('appends segments in order and reads any range across them', async () => {
    const data = randomBytes(3000);
    const key = { uploadId: id, base: 0 };
    expect(await held.start(key, data.subarray(0, 1000))).toBe(1000);
    expect(await held.append(key, 1000, data.subarray(1000, 1700))).toBe(1700);
    expect(await held.append(key, 1700, data.subarray(1700))).toBe(3000);
    expect((await heldRun(redis, prefix, id))!.equals(data)).toBe(true);
    expect((await readAll(held.read(key, 1500, 900))).equals(data.subarray(900, 2400))).toBe(true);
    expect((await held.state(key)).heldLength).toBe(3000);
  });

  it('stores bytes given as the chunks they were received in, byte for byte and with an expiry', async () => {
    const data = randomBytes(1024 * 1024 + 7);
    const chunks = [data.subarray(0, 65_536), data.subarray(65_536, 65_537), data.subarray(65_537)];
    const key = { uploadId: id, base: 0 };
    expect(await held.start(key, chunks)).toBe(data.length);
    expect(await held.append(key, data.length, [data.subarray(0, 300_000), data.subarray(300_000, 600_000)])).toBe(
      data.length + 600_000,
    );
    expect((await heldRun(redis, prefix, id))!.equals(Buffer.concat([data, data.subarray(0, 600_000)]))).toBe(true);
    const segments = await redis.keys(`${prefix}seg:${id}:*`);
    expect(segments).toHaveLength(2);
    for (const segment of segments) expect(await redis.ttl(segment)).toBeGreaterThan(0);
    expect(await redis.ping()).toBe('PONG'); // the connection's protocol stream is intact afterwards
  });

  it('adds nothing to the run when Redis refuses the bytes themselves (out of memory)', async () => {
    const key = { uploadId: id, base: 0 };
    await held.start(key, randomBytes(10));
    await redis.config('SET', 'maxmemory', '1');
    try {
      await expect(held.append(key, 10, randomBytes(300_000))).rejects.toThrow(StorageError);
    } finally {
      await redis.config('SET', 'maxmemory', '0');
    }
    expect((await held.state(key)).heldLength).toBe(10);
    expect(await redis.keys(`${prefix}seg:${id}:*`)).toHaveLength(1);
    expect(await held.append(key, 10, randomBytes(300_000))).toBe(300_010);
  });

  it('refuses an append at a length the run does not have, and leaves no segment behind', async () => {
    const key = { uploadId: id, base: 0 };
    await held.start(key, randomBytes(10));
    await expect(held.append(key, 5, randomBytes(10))).rejects.toThrow(StorageError);
    await expect(held.append(key, 20, randomBytes(10))).rejects.toThrow(StorageError);
    expect((await heldRun(redis, prefix, id))!.length).toBe(10);
    expect(await redis.keys(`${prefix}seg:*`)).toHaveLength(1);
  });

  it('refuses to read bytes the run does not hold', async () => {
    const key = { uploadId: id, base: 0 };
    await held.start(key, randomBytes(100));
    await expect(readAll(held.read(key, 50, 60))).rejects.toThrow('missing');
    await expect(readAll(held.read({ uploadId: id, base: 7 }, 1))).rejects.toThrow('missing');
  });

  it('starting a run again drops what an earlier attempt left under its key', async () => {
    const key = { uploadId: id, base: 0 };
    await held.start(key, randomBytes(10));
    await held.append(key, 10, randomBytes(10));
    const fresh = randomBytes(5);
    await held.start(key, fresh);
    expect((await heldRun(redis, prefix, id))!.equals(fresh)).toBe(true);
    expect(await redis.keys(`${prefix}seg:*`)).toHaveLength(1);
  });

  it('trims the segments that parts now cover, keeping offsets and everything after them', async () => {
    const data = randomBytes(3_000_000); // 300 kB, 700 kB, 2 MB: a segment each
    const key = { uploadId: id, base: 0 };
    await held.start(key, data.subarray(0, 300_000));
    await held.append(key, 300_000, data.subarray(300_000, 1_000_000));
    await held.append(key, 1_000_000, data.subarray(1_000_000));
    await held.trim(key, 900_000); // only the first segment lies wholly below
    expect(await redis.keys(`${prefix}seg:*`)).toHaveLength(2);
    expect((await readAll(held.read(key, 2_100_000, 900_000))).equals(data.subarray(900_000))).toBe(true);
    await held.trim(key, 1_000_000);
    expect(await redis.keys(`${prefix}seg:*`)).toHaveLength(1);
    expect((await held.state(key)).heldLength).toBe(3_000_000);
    expect((await readAll(held.read(key, 5, 1_000_000))).equals(data.subarray(1_000_000, 1_000_005))).toBe(true);
    await expect(readAll(held.read(key, 10, 999_995))).rejects.toThrow('missing');
    await held.append(key, 3_000_000, data.subarray(0, 10)); // appends go on after a trim (a new segment: 2 MB is full)
    expect((await held.state(key)).heldLength).toBe(3_000_010);
    await held.trim(key, 0);
    expect(await redis.keys(`${prefix}seg:*`)).toHaveLength(2);
  });

  it('discards a run with all its segments, and forgets the rest of the upload', async () => {
    const key = { uploadId: id, base: 0 };
    await held.start(key, randomBytes(10));
    await held.append(key, 10, randomBytes(10));
    await held.bumpJournalVersion(id);
    await held.discard(key);
    await held.forgetUpload(id);
    expect(await heldKeys(redis, prefix, id)).toEqual([]);
    expect(await redis.dbsize()).toBe(0);
  });

  it('lets a run index expire before its segments, so it never names a segment that is gone', async () => {
    const key = { uploadId: id, base: 0 };
    await held.start(key, randomBytes(10));
    await held.append(key, 10, randomBytes(10));
    const indexTtl = await redis.ttl(`${prefix}run:${id}:0`);
    expect(indexTtl).toBeGreaterThan(0);
    expect(indexTtl).toBeLessThanOrEqual(100);
    for (const segment of await redis.keys(`${prefix}seg:*`))
      expect(await redis.ttl(segment)).toBeGreaterThan(indexTtl);
  });

  it('grows the last segment for small writes instead of adding one per write', async () => {
    const data = randomBytes(2 * 1024 * 1024);
    const key = { uploadId: id, base: 0 };
    await held.start(key, data.subarray(0, 1000));
    for (let at = 1000; at < data.length;) {
      const size = Math.min(64 * 1024, data.length - at);
      expect(await held.append(key, at, data.subarray(at, at + size))).toBe(at + size);
      at += size;
    }
    expect((await heldRun(redis, prefix, id))!.equals(data)).toBe(true);
    expect((await redis.keys(`${prefix}seg:*`)).length).toBeLessThanOrEqual(3); // 1 MiB per segment at most
    expect((await readAll(held.read(key, data.length - 5, 5))).equals(data.subarray(5))).toBe(true);
  });

  it('reads from Redis what another instance wrote, and from its own cache what it wrote itself', async () => {
    const data = randomBytes(900_000); // 300 kB writes: a segment each
    const key = { uploadId: id, base: 0 };
    const other = new RedisRuns(redis, prefix, 100);
    await other.start(key, data.subarray(0, 300_000));
    await held.append(key, 300_000, data.subarray(300_000, 600_000));
    await other.append(key, 600_000, data.subarray(600_000));
    const getrange = jest.spyOn(Redis.prototype, 'getrangeBuffer');
    try {
      expect((await readAll(held.read(key, data.length))).equals(data)).toBe(true);
      expect(getrange).toHaveBeenCalledTimes(2); // the other instance's two segments
      getrange.mockClear();
      expect((await readAll(other.read(key, 400_000, 200_000))).equals(data.subarray(200_000, 600_000))).toBe(true);
      expect(getrange).toHaveBeenCalledTimes(1); // its own first segment from memory, the middle one from Redis
    } finally {
      getrange.mockRestore();
      other.close();
    }
  });

  it('keeps a total of the bytes every run holds: grown by writes, lowered by trims, restarts and discards', async () => {
    const first = { uploadId: id, base: 0 };
    const second = { uploadId: 'upload2', base: 0 };
    await held.start(first, randomBytes(300_000));
    await held.append(first, 300_000, randomBytes(1000)); // a small write grows the last segment
    await held.append(first, 301_000, randomBytes(300_000)); // a segment of its own
    await held.start(second, randomBytes(5000));
    expect(await held.heldBytesTotal()).toBe(606_000);
    await held.trim(first, 301_000); // the first segment (with the small write in it) is in parts now
    expect(await held.heldBytesTotal()).toBe(305_000);
    await held.trim(first, 301_000); // nothing more to trim
    expect(await held.heldBytesTotal()).toBe(305_000);
    await held.start(second, randomBytes(7000)); // starting again drops what was there
    expect(await held.heldBytesTotal()).toBe(307_000);
    await held.discard(first);
    await held.discard(second);
    expect(await held.heldBytesTotal()).toBe(0);
  });

  it('counts background part uploads at work on an upload', async () => {
    expect(await held.isFlushing(id)).toBe(false);
    await held.announceFlush(id);
    await held.announceFlush(id); // another instance
    await held.renewFlush(id);
    await held.endFlush(id);
    expect(await held.isFlushing(id)).toBe(true);
    expect(await redis.pttl(`${prefix}flushing:${id}`)).toBeGreaterThan(60_000);
    await held.endFlush(id);
    expect(await held.isFlushing(id)).toBe(false);
    expect(await redis.exists(`${prefix}flushing:${id}`)).toBe(0);
  });

  it('waits for a connection that is still being established instead of failing (its client queues while connecting)', async () => {
    const connecting = createHeldBytesRedis({ urls: [master.url] });
    const early = new RedisRuns(connecting, prefix, 100);
    try {
      expect(connecting.status).not.toBe('ready');
      expect(await early.start({ uploadId: id, base: 0 }, randomBytes(10))).toBe(10);
      expect((await early.state({ uploadId: id, base: 0 })).heldLength).toBe(10);
    } finally {
      early.close();
      connecting.disconnect();
    }
  });

  it('fails with a StorageError, soon, when Redis does not answer, rather than hanging the request', async () => {
    const [deadPort] = await freePorts(1, 6700); // away from the ports other specs start masters on
    const dead = createHeldBytesRedis({ urls: [`redis://127.0.0.1:${deadPort}`] });
    const runs = new RedisRuns(dead, prefix, 100);
    const started = Date.now();
    try {
      await expect(runs.start({ uploadId: id, base: 0 }, randomBytes(10))).rejects.toThrow(StorageError);
      await expect(runs.state({ uploadId: id, base: 0 })).rejects.toThrow(StorageError);
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      runs.close();
      dead.disconnect();
    }
  });

  it('opens no connection for a read after it was closed: one left open would keep the process from exiting', async () => {
    const key = { uploadId: id, base: 0 };
    const data = randomBytes(100);
    await held.start(key, data);
    const duplicate = jest.spyOn(redis, 'duplicate');
    held.close();

    expect((await readAll(held.read(key, 100))).equals(data)).toBe(true); // over the main client, still open here
    expect(duplicate).not.toHaveBeenCalled();
    duplicate.mockRestore();
  });
});
