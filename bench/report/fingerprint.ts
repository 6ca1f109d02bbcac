import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

export interface SourceFingerprint {
  /** First 12 hex digits of a sha256 over the paths and contents of the module's source files (specs excluded). */
  sha256: string;
  files: number;
  /** Newest modification time among them, ISO. */
  newest: string;
}

/** Which state of the module was measured (the bench compiles whatever is in libs/ when it starts). */
export function fingerprintSources(root: string, dir = 'libs/tus-s3/src'): SourceFingerprint {
  const files = listTs(join(root, dir)).sort();
  const hash = createHash('sha256');
  let newest = 0;
  for (const file of files) {
    hash.update(relative(root, file)).update('\0').update(readFileSync(file)).update('\0');
    newest = Math.max(newest, statSync(file).mtimeMs);
  }
  return {
    sha256: hash.digest('hex').slice(0, 12),
    files: files.length,
    newest: new Date(newest).toISOString().replace(/\.\d+Z$/, 'Z'),
  };
}

function listTs(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return listTs(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.spec.ts') ? [path] : [];
  });
}
