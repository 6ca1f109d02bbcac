import { readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** How spool files are named (see Spool): nothing else in the directory is ever touched. */
export const SPOOL_FILE_NAME = /^tus-s3-[0-9a-f]{16}\.part$/;

/**
 * Deletes spool files a killed process left behind: those named like ours and not modified for `olderThanMs` (a
 * spool file lives only while its part uploads). Returns how many were deleted; never throws.
 */
export async function deleteStaleSpools(
  dir: string | undefined,
  olderThanMs: number,
  now = Date.now(),
): Promise<number> {
  const directory = dir ?? tmpdir();
  let names: string[];
  try {
    names = await readdir(directory);
  } catch {
    return 0;
  }
  let deleted = 0;
  for (const name of names) {
    if (!SPOOL_FILE_NAME.test(name)) continue;
    const path = join(directory, name);
    try {
      const info = await stat(path);
      if (!info.isFile() || now - info.mtimeMs < olderThanMs) continue;
      await rm(path, { force: true });
      deleted++;
    } catch {
      // Gone meanwhile, or not ours to delete: left alone.
    }
  }
  return deleted;
}
