import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
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

    it('keeps a whole part in memory as the chunks received, taking from the budget and giving it back', async () => {
      const budget = new MemoryBudget(16 * MiB);
      const spool = await Spool.create(dir, budget);
      const data = randomBytes(8 * MiB + 3);
      await fill(spool, data);
      await spool.close();
      expect(await readdir(dir)).toEqual([]);
      expect(spool.inMemory).toBe(true);
      expect(budget.inUse).toBe(9 * MiB); // taken in 1 MiB steps once past the first 256 KiB
      const pieces: Buffer[] = [];
      for await (const piece of spool.read()) pieces.push(piece as Buffer);
      expect(pieces.length).toBe(Math.ceil(data.length / 65_536));
      expect(pieces[0].buffer).toBe(data.buffer); // the received chunks themselves: no copy
      expect(Buffer.concat(pieces).equals(data)).toBe(true);
      await spool.dispose();
      expect(budget.inUse).toBe(0);
    });

    it('goes to disk once the budget is spent, gives its memory back, and still reads back every byte', async () => {
      const budget = new MemoryBudget(4 * MiB);
      const first = await Spool.create(dir, budget);
      await fill(first, randomBytes(4 * MiB));
      expect(budget.inUse).toBe(4 * MiB);
      const second = await Spool.create(dir, budget);
      const data = randomBytes(6 * MiB + 5);
      await fill(second, data);
      await second.close();
      expect(second.inMemory).toBe(false);
      expect(budget.inUse).toBe(4 * MiB); // the second spool found nothing left: it went to disk
      expect(await readdir(dir)).toHaveLength(1);
      expect((await readAll(second.read())).equals(data)).toBe(true);
      await Promise.all([first.dispose(), second.dispose()]);
      expect(budget.inUse).toBe(0);
      expect(await readdir(dir)).toEqual([]);
    });

    it('hands in-memory bytes out in groups of at most a size, cutting chunks at the boundaries without copying', async () => {
      const spool = await Spool.create(dir, new MemoryBudget(8 * MiB));
      const data = randomBytes(3 * MiB + 100);
      await spool.write(data.subarray(0, 10));
      await spool.write(data.subarray(10, 2 * MiB + 10));
      await spool.write(data.subarray(2 * MiB + 10));
      await spool.close();
      const groups: Buffer[][] = [];
      for await (const group of spool.groups(MiB)) groups.push(group);
      const sizes = groups.map((group) => group.reduce((sum, piece) => sum + piece.length, 0));
      expect(sizes).toEqual([MiB, MiB, MiB, 100]);
      expect(groups[0].map((piece) => piece.length)).toEqual([10, MiB - 10]);
      expect(groups.flat().every((piece) => piece.buffer === data.buffer)).toBe(true); // views of what was written
      expect(Buffer.concat(groups.flat()).equals(data)).toBe(true);
      await spool.dispose();
    });
  });
});
