import type { ServerResponse } from 'node:http';
import { TUS_RESUMABLE } from '../protocol/tus-constants';

/** Writes a complete response; a HEAD response never carries a body. */
export function send(
  res: ServerResponse,
  status: number,
  headers: Record<string, string | number | undefined>,
  body?: string,
  isHead = false,
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.statusCode = status;
  res.setHeader('Tus-Resumable', TUS_RESUMABLE);
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) res.setHeader(name, String(value));
  }
  if (body !== undefined && !isHead && status !== 204 && status !== 304) {
    const text = body.endsWith('\n') ? body : `${body}\n`;
    res.setHeader('Content-Type', 'text/plain; charset=utf-8');
    res.setHeader('Content-Length', Buffer.byteLength(text));
    res.end(text);
    return;
  }
  if (status !== 204 && status !== 304 && !res.hasHeader('Content-Length')) res.setHeader('Content-Length', 0);
  res.end();
}
