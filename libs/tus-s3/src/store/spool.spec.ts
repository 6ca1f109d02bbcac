import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { ChunkRelease } from './chunk-release';
import { MemoryBudget } from './memory-budget';
import { remainderAfter, Spool } from './spool';

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('Spool', () => {
  let dir: string;
  beforeEach(async () => (dir = await mkdtemp(join(tmpdir(), 'spool-spec-'))));
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('keeps a small body in memory and never creates a file', async () => {
    const spool = await Spool.create(dir);
    const data = randomBytes(100_000);
    await spool.write(data.subarray(0, 40_000));
    await spool.write(data.subarray(40_000));
    await spool.close();
    expect(await readdir(dir)).toEqual([]);
    expect((await readAll(spool.read())).equals(data)).toBe(true);
  });

  it('writes a large body to disk as received, in socket-sized chunks, and reads it back whole', async () => {
    const spool = await Spool.create(dir);
    const data = randomBytes(5 * 1024 * 1024 + 12_345);
    for (let at = 0; at < data.length; at += 65_536) await spool.write(data.subarray(at, at + 65_536));
    await spool.close();
    expect(spool.size).toBe(data.length);
    expect(await readdir(dir)).toHaveLength(1);
    expect((await readAll(spool.read())).equals(data)).toBe(true);
    await spool.dispose();
    expect(await readdir(dir)).toEqual([]);
  });

  it('goes on after a short write from the first byte not written', () => {
    const chunks = [Buffer.from('abc'), Buffer.from('defg'), Buffer.from('h')];
    expect(remainderAfter(chunks, 0).map(String)).toEqual(['abc', 'defg', 'h']);
    expect(remainderAfter(chunks, 3).map(String)).toEqual(['defg', 'h']);
    expect(remainderAfter(chunks, 5).map(String)).toEqual(['fg', 'h']);
    expect(remainderAfter(chunks, 8)).toEqual([]);
  });

  describe('with a memory budget', () => {
    const MiB = 1024 * 1024;
    const fill = async (spool: Spool, data: Buffer) => {
      for (let at = 0; at < data.length; at += 65_536) await spool.write(data.subarray(at, at + 65_536));
    };
    const pieces = async (spool: Spool) => {
      const all: Buffer[] = [];
      for await (const piece of spool.read()) all.push(piece as Buffer);
      return all;
    };

    it('copies a whole part into slabs of the budget, hands them out as they are, and reuses them', async () => {
      const budget = new MemoryBudget(16 * MiB);
      const spool = await Spool.create(dir, budget);
      const data = randomBytes(8 * MiB + 3);
      await fill(spool, data);
      await spool.close();
      expect(await readdir(dir)).toEqual([]);
      expect(spool.inMemory).toBe(true);
      expect(budget.inUse).toBe(9 * MiB);
      const read = await pieces(spool);
      expect(read.map((p) => p.length)).toEqual([...Array<number>(8).fill(MiB), 3]); // one piece per slab
      expect(Buffer.concat(read).equals(data)).toBe(true);
      await spool.dispose();
      expect(budget.inUse).toBe(0);

      const next = await Spool.create(dir, budget);
      await fill(next, randomBytes(2 * MiB));
      expect(budget.allocatedBytes).toBe(9 * MiB); // the slabs of the first spool, not new ones
      await next.dispose();
    });

    it('goes to disk once the budget is spent, gives its slabs back, and still reads back every byte', async () => {
      const budget = new MemoryBudget(4 * MiB);
      const first = await Spool.create(dir, budget);
      await fill(first, randomBytes(3 * MiB));
      const second = await Spool.create(dir, budget);
      const data = randomBytes(6 * MiB + 5);
      await fill(second, data);
      await second.close();
      expect(second.inMemory).toBe(false);
      expect(budget.inUse).toBe(3 * MiB); // the second spool had one slab, then spilled and gave it back
      expect(await readdir(dir)).toHaveLength(1);
      expect((await readAll(second.read())).equals(data)).toBe(true);
      await Promise.all([first.dispose(), second.dispose()]);
      expect(budget.inUse).toBe(0);
      expect(await readdir(dir)).toEqual([]);
    });

    it('without a slab to start with, keeps a small body as received and puts a large one on disk', async () => {
      const budget = new MemoryBudget(0);
      const small = await Spool.create(dir, budget);
      const data = randomBytes(200_000);
      await small.write(data);
      await small.close();
      expect(small.inMemory).toBe(true);
      expect((await pieces(small))[0]).toBe(data); // the buffer received, itself
      const large = await Spool.create(dir, budget);
      await fill(large, randomBytes(MiB));
      await large.close();
      expect(large.inMemory).toBe(false);
      await Promise.all([small.dispose(), large.dispose()]);
    });

    it('hands chunks kept as received over as they are, for the collector', async () => {
      const unslabbed = await Spool.create(dir, new MemoryBudget(0));
      const chunks = [randomBytes(100_000), randomBytes(90_000)];
      for (const chunk of chunks) await unslabbed.write(chunk);
      const kept = unslabbed.detach()!;
      expect(kept.chunks[0]).toBe(chunks[0]); // as received, uncopied
      expect(kept.free).toBeUndefined(); // and somebody else may hold them: the collector's
      await unslabbed.dispose();
    });

    it('hands its slabs over, uncopied, and the budget reuses each once it is given back', async () => {
      await ChunkRelease.ready();
      const budget = new MemoryBudget(3 * MiB);
      const spool = await Spool.create(dir, budget, { expectedBytes: 2 * MiB });
      const data = randomBytes(MiB + 10);
      await fill(spool, data);
      await spool.close();
      const handed = spool.detach()!;
      expect(spool.size).toBe(data.length);
      await spool.dispose();
      expect(budget.inUse).toBe(0); // the reservation is over,
      expect(budget.allocatedBytes).toBe(0); // and the slabs are the holder's now, not the pool's
      const slabs = handed.chunks.map((chunk) => chunk.buffer);
      expect(handed.chunks.map((chunk) => chunk.length)).toEqual([MiB, 10]);
      const other = await Spool.create(dir, budget, { expectedBytes: 2 * MiB });
      await fill(other, Buffer.alloc(2 * MiB, 7)); // new slabs: the handed ones are untouched
      expect(Buffer.concat([...handed.chunks]).equals(data)).toBe(true);
      await other.dispose();

      for (const chunk of handed.chunks) handed.free!(chunk);
      // The pool (2 slabs now) had room for one more: the first came back, the second was freed.
      expect(budget.allocatedBytes).toBe(3 * MiB);
      expect(slabs[1].byteLength).toBe(0);
      const reusing = await Spool.create(dir, budget, { expectedBytes: 3 * MiB });
      await fill(reusing, Buffer.alloc(3 * MiB, 9));
      expect(budget.allocatedBytes).toBe(3 * MiB); // nothing new allocated
      expect(new Uint8Array(slabs[0])[0]).toBe(9); // the slab handed over, reused
      await reusing.dispose();
    });

    it('frees a slab given back beyond the budget at once, instead of keeping it', async () => {
      await ChunkRelease.ready();
      const budget = new MemoryBudget(MiB);
      const spool = await Spool.create(dir, budget, { expectedBytes: MiB });
      await fill(spool, randomBytes(MiB));
      await spool.close();
      const handed = spool.detach()!;
      await spool.dispose();
      const other = await Spool.create(dir, budget, { expectedBytes: MiB });
      await fill(other, randomBytes(MiB)); // the budget's one slab is lent again
      handed.free!(handed.chunks[0]);
      expect(handed.chunks[0].length).toBe(0); // freed, not pooled: the pool is full
      expect(budget.allocatedBytes).toBe(MiB);
      await other.dispose();
    });

    it('reserves a whole part before its first byte, waits its turn when the budget is spent, and frees the rest', async () => {
      const budget = new MemoryBudget(8 * MiB);
      const first = await Spool.create(dir, budget, { expectedBytes: 5 * MiB, waitMs: 1000 });
      expect(budget.inUse).toBe(5 * MiB); // reserved, though nothing is written yet
      let secondReady = false;
      const second = Spool.create(dir, budget, { expectedBytes: 4 * MiB, waitMs: 5000 }).then((spool) => {
        secondReady = true;
        return spool;
      });
      await fill(first, randomBytes(2 * MiB));
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(secondReady).toBe(false); // 5 + 4 MiB do not fit in 8: it waits, it does not go to disk
      await first.close(); // the body ended after 2 MiB: the 3 MiB it will not fill are free at once
      const waiting = await second;
      expect(budget.inUse).toBe(6 * MiB);
      const data = randomBytes(4 * MiB);
      await fill(waiting, data);
      await waiting.close();
      expect(waiting.inMemory).toBe(true);
      expect((await readAll(waiting.read())).equals(data)).toBe(true);
      await Promise.all([first.dispose(), waiting.dispose()]);
      expect(budget.inUse).toBe(0);
      expect(budget.allocatedBytes).toBeLessThanOrEqual(8 * MiB);
    });

    it('goes to disk when its turn does not come in time, or its request is stopped', async () => {
      const budget = new MemoryBudget(4 * MiB);
      const holder = await Spool.create(dir, budget, { expectedBytes: 4 * MiB, waitMs: 0 });
      const late = await Spool.create(dir, budget, { expectedBytes: MiB, waitMs: 30 });
      const stop = new AbortController();
      const stopped = Spool.create(dir, budget, { expectedBytes: MiB, waitMs: 60_000, signal: stop.signal });
      stop.abort();
      const spools = [late, await stopped];
      for (const spool of spools) {
        const data = randomBytes(MiB);
        await fill(spool, data);
        await spool.close();
        expect(spool.inMemory).toBe(false);
        expect((await readAll(spool.read())).equals(data)).toBe(true);
      }
      expect(budget.waiters).toBe(0);
      await Promise.all([holder.dispose(), ...spools.map((spool) => spool.dispose())]);
      expect(budget.inUse).toBe(0);
    });

    it('hands the bytes out to a follower as they arrive, 256 KiB at a time, the last piece once all are here', async () => {
      const spool = await Spool.create(dir, new MemoryBudget(8 * MiB), { expectedBytes: 2.5 * MiB });
      expect(spool.keepsInMemory(2.5 * MiB)).toBe(true);
      expect(spool.keepsInMemory(3.5 * MiB)).toBe(false); // beyond what it reserved, it might go to disk
      const data = randomBytes(2.5 * MiB - 100);
      const got: Buffer[] = [];
      const following = (async () => {
        for await (const piece of spool.follow(data.length)) got.push(piece as Buffer);
      })();
      const settle = () => new Promise((resolve) => setTimeout(resolve, 10));
      await spool.write(data.subarray(0, 200 * 1024));
      await settle();
      expect(got).toEqual([]); // not 256 KiB yet
      await fill(spool, data.subarray(200 * 1024, 1.5 * MiB));
      await settle();
      expect(got.reduce((sum, piece) => sum + piece.length, 0)).toBe(1.5 * MiB);
      await fill(spool, data.subarray(1.5 * MiB));
      await following; // all its bytes are here: it ends without waiting for the spool to close
      // Whole 256 KiB steps (several, when more arrived meanwhile) but the last, never across a slab.
      let at = 0;
      for (const [i, piece] of got.entries()) {
        if (i < got.length - 1) expect(piece.length % (256 * 1024)).toBe(0);
        expect((at % MiB) + piece.length).toBeLessThanOrEqual(MiB);
        at += piece.length;
      }
      expect(Buffer.concat(got).equals(data)).toBe(true);
      await spool.dispose();
    });

    it('fails a follower when the spool closes, or is disposed, before the bytes it expects', async () => {
      for (const end of ['close', 'dispose'] as const) {
        const spool = await Spool.create(dir, new MemoryBudget(8 * MiB), { expectedBytes: 2 * MiB });
        const following = readAll(spool.follow(2 * MiB));
        await fill(spool, randomBytes(1.5 * MiB));
        await (end === 'close' ? spool.close() : spool.dispose());
        await expect(following).rejects.toThrow(/ended after|left memory/);
        await spool.dispose();
      }
    });

    it('hands in-memory bytes out in groups of at most a size, cutting at the boundaries without copying', async () => {
      const spool = await Spool.create(dir, new MemoryBudget(8 * MiB));
      const data = randomBytes(3 * MiB + 100);
      await fill(spool, data);
      await spool.close();
      const groups: Buffer[][] = [];
      for await (const group of spool.groups(1.5 * MiB)) groups.push(group);
      const sizes = groups.map((group) => group.reduce((sum, piece) => sum + piece.length, 0));
      expect(sizes).toEqual([1.5 * MiB, 1.5 * MiB, 100]);
      expect(groups[0].map((piece) => piece.length)).toEqual([MiB, 0.5 * MiB]);
      expect(Buffer.concat(groups.flat()).equals(data)).toBe(true);
      await spool.dispose();
    });
  });
});
