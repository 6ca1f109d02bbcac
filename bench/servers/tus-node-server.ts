/**
 * Server child (c): the peer, @tus/server with @tus/s3-store, against the same RGW. Part size 8 MiB like ours;
 * everything else at its defaults (in-memory locker and KV cache, up to 60 part uploads at once). Its parts are
 * spooled to os.tmpdir(), which the bench points at this child's own temp dir through TMPDIR.
 */
import { randomBytes } from 'node:crypto';
import type { Server as HttpServer } from 'node:http';
import { once } from 'node:events';
import { S3Store } from '@tus/s3-store';
import { Server } from '@tus/server';
import { s3ConfigOf, serviceEnv } from '../config';
import { childSettings, countS3Calls, S3CallStats, serveChildProtocol } from './child-protocol';

async function main(): Promise<void> {
  const settings = childSettings();
  const store = new S3Store({
    partSize: settings.partSize,
    s3ClientConfig: { bucket: settings.bucket, ...s3ConfigOf(serviceEnv()) },
  });
  const tus = new Server({
    path: '/files',
    datastore: store,
    // The id is the object key; no slash allowed (the id is the last URL segment), so the run prefix ends in '-'.
    namingFunction: () => `${settings.prefix}${randomBytes(16).toString('hex')}`,
  });
  const stats: S3CallStats = {};
  countS3Calls((store as unknown as { client: Parameters<typeof countS3Calls>[0] }).client, stats);
  const http: HttpServer = tus.listen({ host: '127.0.0.1', port: 0 });
  await once(http, 'listening');
  serveChildProtocol(http, stats, async () => {
    http.closeAllConnections();
    await new Promise<void>((resolve) => http.close(() => resolve()));
  });
}

main().catch((error) => {
  console.error('tus-node-server failed to start:', error);
  process.exit(1);
});
