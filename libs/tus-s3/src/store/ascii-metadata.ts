import { UploadMetadata } from '../protocol/metadata';

/**
 * S3 object metadata travels in HTTP headers, so it must be printable ASCII: every other character becomes "?"
 * ("Menü" -> "Men?"), one per character as the user sees it. Keys are lower-cased by S3 anyway, and characters that
 * cannot appear in a header name become "_". The original stays in the info object.
 */
export function toS3Metadata(metadata: UploadMetadata): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(metadata)) {
    const safeKey = key.toLowerCase().replace(/[^a-z0-9!#$%&'*+.^_`|~-]/g, '_');
    out[safeKey] = toAsciiText(value ?? '');
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
