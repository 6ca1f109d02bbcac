import { decodedPathOf } from '../protocol/concat';
import { TusErrors } from '../protocol/tus-error';
import { isValidUploadId } from '../protocol/upload-id';

/**
 * The id of the upload a URL names (Upload-Concat lists partial uploads by URL): what follows the mount path, or a
 * bare id. Anything that is not an upload id of this server is a 400.
 */
export function uploadIdOfUrl(url: string, mountPath: string): string {
  const shown = `"${url.slice(0, 80)}"`;
  const path = decodedPathOf(url);
  if (path === undefined) throw TusErrors.badRequest(`Upload-Concat: ${shown} is not a URL`);
  const mount = `${mountPath.replace(/\/+$/, '')}/`;
  const at = path.indexOf(mount);
  const id = at >= 0 ? path.slice(at + mount.length) : path.replace(/^\/+/, '');
  if (!isValidUploadId(id)) throw TusErrors.badRequest(`Upload-Concat: ${shown} is not an upload of this server`);
  return id;
}
