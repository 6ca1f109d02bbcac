import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Lets the local RGW free the data of deleted objects now (`radosgw-admin gc process --include-all`) instead of
 * 30-60 s later, in the middle of another target's timed upload, and keeps the in-memory OSD from filling up.
 * Only for the RGW of scripts/services.sh; a no-op against any other S3 (returns false).
 */
export async function flushRgwGarbage(
  servicesDir = process.env.SERVICES_DIR ?? '/tmp/tus-s3-services',
): Promise<boolean> {
  const conf = join(servicesDir, 'ceph.conf');
  if (!existsSync(conf)) return false;
  return new Promise((resolve) => {
    execFile(
      'radosgw-admin',
      ['-c', conf, '-n', 'client.admin', 'gc', 'process', '--include-all'],
      { timeout: 120_000 },
      (error) => resolve(!error),
    );
  });
}
