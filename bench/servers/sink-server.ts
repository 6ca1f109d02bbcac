/**
 * Server child (f): the least a tus server on Node can do. It answers the bench's tus client (POST, then PATCHes)
 * after reading each body through Node's HTTP stack, and keeps nothing: what it and the client spend per MiB is the
 * price of getting the bytes to a server at all, before any of them goes to S3 (see bench/measure/receive-floor.ts).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FromChild } from './child-protocol';

let uploads = 0;
const server = createServer((req, res) => {
  if (req.method === 'POST') {
    req.resume();
    res.writeHead(201, { 'Tus-Resumable': '1.0.0', Location: `/files/${++uploads}` }).end();
    return;
  }
  let received = 0;
  req.on('data', (chunk: Buffer) => (received += chunk.length));
  req.on('end', () => {
    const offset = Number(req.headers['upload-offset'] ?? 0) + received;
    res.writeHead(204, { 'Tus-Resumable': '1.0.0', 'Upload-Offset': String(offset) }).end();
  });
});

server.listen(0, '127.0.0.1', () => {
  const ready: FromChild = { type: 'ready', port: (server.address() as AddressInfo).port };
  process.send?.(ready);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
process.once('disconnect', () => process.exit(1)); // the bench is gone
