import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { UploadPartCommand } from '@aws-sdk/client-s3';
import { createS3Client } from './s3-client.factory';

/** A stand-in S3 endpoint that answers every UploadPart and counts the connections it accepted. */
async function partServer(): Promise<{ server: Server; endpoint: string; connections: () => number }> {
  let connections = 0;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { ETag: '"etag"', 'Content-Length': '0' }).end());
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { server, endpoint: `http://127.0.0.1:${port}`, connections: () => connections };
}

describe('createS3Client', () => {
  const credentials = { accessKeyId: 'key', secretAccessKey: 'secret' };
  const part = (PartNumber: number) =>
    new UploadPartCommand({ Bucket: 'b', Key: 'k', UploadId: 'u', PartNumber, Body: Buffer.alloc(3 * 1024 * 1024) });

  it('sends parts of 2 MB and more over one kept-alive connection (no Expect: 100-continue)', async () => {
    const { server, endpoint, connections } = await partServer();
    const client = createS3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials });
    try {
      for (let n = 1; n <= 3; n++) await client.send(part(n));
      expect(connections()).toBe(1);
    } finally {
      client.destroy();
      server.closeAllConnections();
      server.close();
    }
  });

  it('resolves the middleware of each kind of command once, not on every call', async () => {
    const { server, endpoint } = await partServer();
    const client = createS3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials });
    const resolved = jest.spyOn(UploadPartCommand.prototype, 'resolveMiddleware');
    try {
      for (let n = 1; n <= 3; n++) await client.send(part(n));
      expect(resolved).toHaveBeenCalledTimes(1);
    } finally {
      resolved.mockRestore();
      client.destroy();
      server.closeAllConnections();
      server.close();
    }
  });

  it('leaves the choice to the caller', async () => {
    const client = createS3Client({ region: 'us-east-1', expectContinueHeader: 1024, cacheMiddleware: false });
    try {
      expect(client.config.expectContinueHeader).toBe(1024);
      expect(client.config.cacheMiddleware).toBe(false);
    } finally {
      client.destroy();
    }
  });
});
