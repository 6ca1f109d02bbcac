import type Redis from 'ioredis';

/**
 * Reads held-back bytes straight from Redis, to check what `holdBackIn: 'redis'` stored. A run is an index key
 * `<prefix>run:<id>:<base>` (16-digit length, then `name,size;` per segment) and one key `<prefix>seg:<id>:<name>`
 * per segment.
 */
export async function heldKeys(redis: Redis, keyPrefix: string, id: string): Promise<string[]> {
  return [...(await redis.keys(`${keyPrefix}run:${id}:*`)), ...(await redis.keys(`${keyPrefix}seg:${id}:*`))];
}

/** The bytes the run starting at `base` holds, or null when there is no such run. */
export async function heldRun(redis: Redis, keyPrefix: string, id: string, base = 0): Promise<Buffer | null> {
  const index = await redis.get(`${keyPrefix}run:${id}:${base}`);
  if (index === null) return null;
  const length = Number(index.slice(0, 16));
  const segments = index
    .slice(16)
    .split(';')
    .filter(Boolean)
    .map((entry) => entry.split(','));
  const bytes: Buffer[] = [];
  for (const [name, size] of segments) {
    const segment = await redis.getBuffer(`${keyPrefix}seg:${id}:${name}`);
    if (segment === null || segment.length !== Number(size))
      throw new Error(`segment ${name} of run ${id}:${base} is missing`);
    bytes.push(segment);
  }
  const run = Buffer.concat(bytes);
  if (run.length !== length) throw new Error(`run ${id}:${base} says ${length} bytes, its segments hold ${run.length}`);
  return run;
}
