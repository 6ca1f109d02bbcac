import type { IncomingMessage, ServerResponse } from 'node:http';
import { TUS_EXPOSED_HEADERS, TUS_REQUEST_HEADERS } from '../protocol/tus-constants';
import type { ResolvedTusS3Options } from '../tus-s3.options';

const METHODS = 'POST, HEAD, PATCH, DELETE, GET, OPTIONS';

/**
 * CORS for browser tus clients: every tus header allowed in and exposed out, so `Location` and `Upload-Offset`
 * are readable. Unknown origins get no CORS headers at all and the browser refuses them. Applied before the app's
 * guards, so that a refused request reaches the browser as a 401/403 it can read, not as a network error.
 * @returns true when the request is a CORS preflight (answer it and stop).
 */
export function applyCors(req: IncomingMessage, res: ServerResponse, cors: ResolvedTusS3Options['cors']): boolean {
  const origin = req.headers.origin;
  if (!cors || !origin) return false;
  res.appendHeader('Vary', 'Origin');
  const allowed = cors.origins === '*' || cors.origins.includes(origin);
  if (!allowed) return false;
  res.setHeader('Access-Control-Allow-Origin', cors.origins === '*' ? '*' : origin);
  if (cors.credentials) res.setHeader('Access-Control-Allow-Credentials', 'true');
  res.setHeader('Access-Control-Expose-Headers', TUS_EXPOSED_HEADERS.join(', '));
  const isPreflight = req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined;
  if (isPreflight) {
    res.setHeader('Access-Control-Allow-Methods', METHODS);
    res.setHeader('Access-Control-Allow-Headers', TUS_REQUEST_HEADERS.join(', '));
    res.setHeader('Access-Control-Max-Age', String(cors.maxAgeSeconds));
  }
  return isPreflight;
}
