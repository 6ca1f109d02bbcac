import { createHash } from 'node:crypto';
import type { UploadedPart } from './upload-info';

/**
 * The ETag S3 (and Ceph RGW) gives the object a multipart upload of these parts completes into: the MD5 of the
 * parts' MD5s (their ETags), a dash, and the number of parts. Undefined when a part's ETag is not a plain MD5.
 */
export function multipartEtag(parts: readonly UploadedPart[]): string | undefined {
  const md5s: Buffer[] = [];
  for (const part of parts) {
    const hex = part.etag.replace(/"/g, '');
    if (!/^[0-9a-f]{32}$/i.test(hex)) return undefined;
    md5s.push(Buffer.from(hex, 'hex'));
  }
  return `"${createHash('md5').update(Buffer.concat(md5s)).digest('hex')}-${parts.length}"`;
}
