/** Upload ids as we generate them; anything else (dots, slashes, "..") is refused before any S3 call. */
export const UPLOAD_ID_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;

export function isValidUploadId(id: string): boolean {
  return UPLOAD_ID_PATTERN.test(id);
}
