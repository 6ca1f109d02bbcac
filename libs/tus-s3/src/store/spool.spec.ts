import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { remainderAfter, SpoolFile } from './spool-file';

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('SpoolFile', () => {
  let dir: string;
  beforeEach(async () => (dir = await mkdtemp(join(tmpdir(), 'spool-spec-'))));
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('keeps a small body in memory and never creates a file', async () => {
    const spool = await SpoolFile.create(dir);
    const data = randomBytes(100_000);
    await spool.write(data.subarray(0, 40_000));
    await spool.write(data.subarray(40_000));
    await spool.close();
    expect(await readdir(dir)).toEqual([]);
    expect((await readAll(spool.read())).equals(data)).toBe(true);
  });

  it('writes a large body to disk as received, in socket-sized chunks, and reads it back whole', async () => {
    const spool = await SpoolFile.create(dir);
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
});
