import { UploadMetadata } from '../protocol/metadata';

/** AWS's limit for user metadata (keys and values, UTF-8 bytes); other services are at least as generous. */
export const S3_METADATA_LIMIT_BYTES = 2048;
/**
 * At most this many entries: each is a request header (and named in the signature), and services refuse requests
 * with too many headers well before 2 KB of short keys (Ceph RGW fails at about 500).
 */
export const S3_METADATA_MAX_ENTRIES = 64;

/**
 * S3 object metadata travels in HTTP headers, so it must be printable ASCII: every other character becomes "?"
 * ("Menü" -> "Men?"), one per character as the user sees it. Keys are lower-cased by S3 anyway, and characters that
 * cannot appear in a header name become "_". Entries past the 64th, or that would push the total past S3's 2 KB limit, are left off
 * (client metadata must never make S3 refuse the upload); the info object keeps all of it, unchanged.
 */
export function toS3Metadata(metadata: UploadMetadata): Record<string, string> {
  const out: Record<string, string> = {};
  let total = 0;
  for (const [key, value] of Object.entries(metadata)) {
    const safeKey = key.toLowerCase().replace(/[^a-z0-9!#$%&'*+.^_`|~-]/g, '_');
    const safeValue = toAsciiText(value ?? '');
    if (safeKey in out || total + safeKey.length + safeValue.length > S3_METADATA_LIMIT_BYTES) continue;
    if (Object.keys(out).length === S3_METADATA_MAX_ENTRIES) break;
    out[safeKey] = safeValue;
    total += safeKey.length + safeValue.length;
  }
  return out;
}

export function toAsciiText(value: string): string {
  let ascii = '';
  for (const char of value) {
    const code = char.codePointAt(0)!;
    ascii += code >= 0x20 && code < 0x7f ? char : '?';
  }
  return ascii;
}
