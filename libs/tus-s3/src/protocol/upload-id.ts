/**
 * Upload ids: segments of letters, digits, `_` and `-`, joined by `/` (generated ids are one segment; a hook may
 * choose a path such as `tenant-a/2026/11/<uuid>`), at most 200 characters. No dots, so no `..` and no id can name another upload's
 * `.info` or chunk objects; anything else is refused before any storage call.
 */
export const UPLOAD_ID_PATTERN = /^[A-Za-z0-9_-]+(?:\/[A-Za-z0-9_-]+)*$/;
/** Room for the object prefix and the longest key suffix (`.chunk.<offset>.<nonce>`) within what S3 services accept. */
export const MAX_UPLOAD_ID_LENGTH = 200;

export function isValidUploadId(id: string): boolean {
  return id.length <= MAX_UPLOAD_ID_LENGTH && UPLOAD_ID_PATTERN.test(id);
}
