import { TusErrors } from './tus-error';

/**
 * Upload-Metadata: comma-separated pairs of a key and an optional base64 value. Values are bytes, not text;
 * we keep the header exactly as sent (HEAD echoes it) and decode values as UTF-8 only where text is needed.
 */
export type UploadMetadata = Readonly<Record<string, string | null>>;

const KEY = /^[\x21-\x7e]+$/; // printable ASCII without space; the comma is excluded below
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const MAX_HEADER_LENGTH = 64 * 1024;

export function parseMetadata(header: string | undefined): UploadMetadata {
  const result = Object.create(null) as Record<string, string | null>;
  if (header === undefined || header.trim() === '') return result;
  if (header.length > MAX_HEADER_LENGTH) throw TusErrors.badRequest('Upload-Metadata is too long');
  for (const pair of header.split(',')) {
    const parts = pair.trim().split(' ');
    if (parts.length > 2) throw TusErrors.badRequest('Upload-Metadata: each pair is a key, a space and a base64 value');
    const [key, value] = parts;
    if (!KEY.test(key) || key.includes(',')) {
      throw TusErrors.badRequest(`Upload-Metadata: invalid key "${key.slice(0, 40)}"`);
    }
    if (key in result) throw TusErrors.badRequest(`Upload-Metadata: duplicate key "${key}"`);
    if (value === undefined || value === '') {
      result[key] = null;
      continue;
    }
    if (!BASE64.test(value)) throw TusErrors.badRequest(`Upload-Metadata: the value of "${key}" is not base64`);
    result[key] = Buffer.from(value, 'base64').toString('utf8');
  }
  return result;
}

/** Upload-Metadata for decoded values (used when the app's hook replaces an upload's metadata). */
export function serializeMetadata(metadata: UploadMetadata): string {
  return Object.entries(metadata)
    .map(([key, value]) => (value === null ? key : `${key} ${Buffer.from(value, 'utf8').toString('base64')}`))
    .join(',');
}
