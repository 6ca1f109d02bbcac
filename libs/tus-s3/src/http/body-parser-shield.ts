import type { IncomingMessage, Server } from 'node:http';

/** Where a tus request's Content-Type waits while the app's body parsers run. */
const HIDDEN_CONTENT_TYPE = Symbol('tus.hiddenContentType');
type ShieldedRequest = IncomingMessage & { [HIDDEN_CONTENT_TYPE]?: string };

/**
 * Keeps the host app's body parsers (Nest registers JSON and urlencoded parsers before any module's middleware)
 * from consuming a tus request's body: before Express sees a request under the tus mount path, its Content-Type is
 * set aside, so no parser matches it; {@link restoreContentType} puts it back before the app's guards run. A PATCH
 * sent as `application/json` thus reaches the tus handler and gets the tus 415, not a parser's 400.
 */
export function shieldFromBodyParsers(server: Server, mountPath: string): void {
  const mount = mountPath.replace(/\/+$/, '');
  server.prependListener('request', (req: ShieldedRequest) => {
    const type = req.headers['content-type'];
    if (type === undefined || req.method === 'GET' || req.method === 'HEAD') return;
    if (!isUnderMount(req.url ?? '/', mount)) return;
    req[HIDDEN_CONTENT_TYPE] = type;
    delete req.headers['content-type'];
  });
}

/** Undoes {@link shieldFromBodyParsers} for a request that reached the tus routes. */
export function restoreContentType(req: IncomingMessage): void {
  const shielded = req as ShieldedRequest;
  const type = shielded[HIDDEN_CONTENT_TYPE];
  if (type === undefined) return;
  req.headers['content-type'] = type;
  delete shielded[HIDDEN_CONTENT_TYPE];
}

/** Whether a URL's path contains the mount path as whole segments (a global prefix may precede it). */
function isUnderMount(url: string, mount: string): boolean {
  if (mount === '') return true;
  const path = url.split('?')[0];
  for (let at = path.indexOf(mount); at >= 0; at = path.indexOf(mount, at + 1)) {
    const next = path.charAt(at + mount.length);
    if (next === '' || next === '/') return true;
  }
  return false;
}
