import { mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deleteStaleSpools } from './spool-cleanup';

describe('deleteStaleSpools', () => {
  it('deletes only spool files (tus-s3-<16 hex>.part) untouched for longer than the age given', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'spool-cleanup-'));
    try {
      const old = new Date(Date.now() - 2 * 3600_000);
      for (const name of [
        'tus-s3-0123456789abcdef.part',
        'tus-s3-fedcba9876543210.part',
        'other.part',
        'tus-s3-xyz.part',
      ]) {
        await writeFile(join(dir, name), 'x');
        if (name !== 'tus-s3-fedcba9876543210.part') await utimes(join(dir, name), old, old);
      }
      expect(await deleteStaleSpools(dir, 3600_000)).toBe(1);
      expect((await readdir(dir)).sort()).toEqual(['other.part', 'tus-s3-fedcba9876543210.part', 'tus-s3-xyz.part']);
      expect(await deleteStaleSpools(join(dir, 'missing'), 0)).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
