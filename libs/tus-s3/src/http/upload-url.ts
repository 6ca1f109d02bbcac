import { decodedPathOf } from '../protocol/concat';
import { TusErrors } from '../protocol/tus-error';
import { isValidUploadId } from '../protocol/upload-id';

/**
 * The id of the upload a URL names (Upload-Concat lists partial uploads by URL): what follows the collection URL
 * the request was sent to (the Location this server issued: global prefix and mount path included), else what
 * follows the mount path, else a bare id. Anything that is not an upload id of this server is a 400.
 */
export function uploadIdOfUrl(url: string, mountPath: string, collectionPath = mountPath): string {
  const shown = `"${url.slice(0, 80)}"`;
  const path = decodedPathOf(url);
  if (path === undefined) throw TusErrors.badRequest(`Upload-Concat: ${shown} is not a URL`);
  const id = after(path, collectionPath) ?? after(path, mountPath, true) ?? path.replace(/^\/+/, '');
  if (!isValidUploadId(id)) throw TusErrors.badRequest(`Upload-Concat: ${shown} is not an upload of this server`);
  return id;
}

/** What follows `base/` in `path`: at its start, or (`anywhere`) after its first occurrence. */
function after(path: string, base: string, anywhere = false): string | undefined {
  const prefix = `${base.replace(/\/+$/, '')}/`;
  const at = anywhere ? path.indexOf(prefix) : path.startsWith(prefix) ? 0 : -1;
  return at >= 0 ? path.slice(at + prefix.length) : undefined;
}
