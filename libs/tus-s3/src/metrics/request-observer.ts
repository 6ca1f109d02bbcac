import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TusMetrics } from './tus-metrics';

/**
 * Counts one tus request: its body bytes as they arrive, and, once the response is done, the method and the status
 * (`aborted` when the connection closed before an answer went out). The method is read at the end, so it is the one
 * served: the module's middleware applies `X-HTTP-Method-Override` (on POST) by rewriting `req.method`.
 */
export function observeTusRequest(metrics: TusMetrics, req: IncomingMessage, res: ServerResponse): void {
  countBodyBytes(req, (bytes) => metrics.addReceivedBytes(bytes));
  let recorded = false;
  const record = () => {
    if (recorded) return;
    recorded = true;
    const status = res.writableFinished || res.headersSent ? res.statusCode : 'aborted';
    metrics.observeRequest(req.method ?? 'GET', status);
  };
  res.once('finish', record);
  res.once('close', record);
}

/**
 * Counts the body bytes of `req` without reading them. A 'data' listener would switch the request to flowing mode
 * under the body reader (and lose bytes); counting `socket.bytesRead` would also count headers, chunk framing and
 * the next request on a kept-alive connection. Instead: what Node's HTTP parser has already buffered in the request
 * (`readableLength`: the part of the body that came with the headers), then every chunk the parser pushes into it.
 * These are decoded body bytes as they arrive, whether or not the tus service ends up storing them.
 */
export function countBodyBytes(req: IncomingMessage, count: (bytes: number) => void): void {
  if (req.readableLength > 0) count(req.readableLength);
  const push = req.push.bind(req);
  req.push = (chunk: unknown, encoding?: BufferEncoding): boolean => {
    if (typeof chunk === 'string') count(Buffer.byteLength(chunk, encoding));
    else if (chunk instanceof Uint8Array) count(chunk.byteLength);
    return push(chunk, encoding);
  };
}
