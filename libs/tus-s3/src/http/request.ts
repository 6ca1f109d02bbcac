import type { IncomingMessage } from 'node:http';
import { parseNonNegativeInteger, singleHeader } from '../protocol/headers';
import { OFFSET_OCTET_STREAM, TUS_RESUMABLE } from '../protocol/tus-constants';
import { TusErrors } from '../protocol/tus-error';

/** Node's request as Express hands it over: `originalUrl` keeps the global prefix that routing stripped. */
export type TusRequest = IncomingMessage & { originalUrl?: string };

/** The path a request was sent to, global prefix included, without query or trailing slashes. */
export function requestPathOf(req: TusRequest): string {
  const url = req.originalUrl ?? req.url ?? '/';
  return url.split('?')[0].replace(/\/+$/, '');
}

/** A header that may arrive repeated; tus reads the first one only where a repeat is harmless. */
export function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

export function checkTusResumable(req: IncomingMessage): void {
  const version = firstHeader(req.headers['tus-resumable']);
  if (version !== TUS_RESUMABLE) throw TusErrors.unsupportedVersion(version);
}

export function isOffsetStream(req: IncomingMessage): boolean {
  const type = firstHeader(req.headers['content-type']);
  return type?.split(';')[0].trim().toLowerCase() === OFFSET_OCTET_STREAM;
}

export function hasBody(req: IncomingMessage): boolean {
  const length = firstHeader(req.headers['content-length']);
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length.trim() !== '0');
}

export function parseContentLength(req: IncomingMessage): number | undefined {
  const length = firstHeader(req.headers['content-length']);
  return length === undefined ? undefined : parseNonNegativeInteger('Content-Length', length);
}

/** A tus header that must appear at most once, trimmed. */
export function tusHeader(req: IncomingMessage, name: string): string | undefined {
  return singleHeader(name, req.headers[name.toLowerCase()]);
}

/**
 * Whether a body carries any byte: `bytes`, `none`, or `unknown` when the client went away or `stop` fired first
 * (another request asked for the upload). With Content-Length that is known up front; a chunked body is read until
 * its first byte (then paused: the connection is closed after the answer) or its end.
 */
export function bodyHasBytes(
  req: IncomingMessage,
  contentLength: number | undefined,
  stop: AbortSignal,
): Promise<'bytes' | 'none' | 'unknown'> {
  if (contentLength !== undefined) return Promise.resolve(contentLength > 0 ? 'bytes' : 'none');
  if (!hasBody(req) || req.readableEnded) return Promise.resolve('none');
  if (req.destroyed || req.readableAborted || stop.aborted) return Promise.resolve('unknown');
  return new Promise((resolve) => {
    const done = (answer: 'bytes' | 'none' | 'unknown') => {
      req.off('data', onData).off('end', onEnd).off('error', onGone).off('close', onGone);
      stop.removeEventListener('abort', onGone);
      if (answer === 'bytes') req.pause();
      resolve(answer);
    };
    const onData = (chunk: Buffer) => chunk.length > 0 && done('bytes');
    const onEnd = () => done('none');
    const onGone = () => done('unknown');
    req.on('data', onData).once('end', onEnd).once('error', onGone).once('close', onGone);
    stop.addEventListener('abort', onGone, { once: true });
  });
}
