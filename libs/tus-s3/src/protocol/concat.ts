import { isValidUploadId } from './upload-id';
import { TusErrors } from './tus-error';

/** Upload-Concat of a creation request (the concatenation extension). */
export type ConcatRequest = { kind: 'partial' } | { kind: 'final'; uploadIds: string[] };

/**
 * `partial`, or `final;<url> <url> ...` where each URL (absolute, or a path) names a partial upload of this server by
 * its last path segment. Anything else is a 400.
 */
export function parseUploadConcat(header: string | undefined): ConcatRequest | undefined {
  if (header === undefined) return undefined;
  const value = header.trim();
  if (value === 'partial') return { kind: 'partial' };
  if (!value.startsWith('final;')) throw TusErrors.badRequest('Upload-Concat must be "partial" or "final;<url> <url> ..."');
  const urls = value.slice('final;'.length).trim().split(/ +/).filter(Boolean);
  if (urls.length === 0) throw TusErrors.badRequest('Upload-Concat: final needs the URLs of the partial uploads');
  if (urls.length > 10_000) throw TusErrors.badRequest('Upload-Concat: too many partial uploads');
  return { kind: 'final', uploadIds: urls.map(uploadIdOf) };
}

function uploadIdOf(url: string): string {
  let id: string;
  try {
    const path = new URL(url, 'http://relative.invalid').pathname;
    id = decodeURIComponent(path.slice(path.lastIndexOf('/') + 1));
  } catch {
    throw TusErrors.badRequest(`Upload-Concat: "${url.slice(0, 80)}" is not a URL`);
  }
  if (!isValidUploadId(id)) throw TusErrors.badRequest(`Upload-Concat: "${url.slice(0, 80)}" is not an upload of this server`);
  return id;
}
