import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { DeleteObjectCommand, ListPartsCommand } from '@aws-sdk/client-s3';
import { waitFor } from './support/eventually';
import { WatchedProcess } from './support/processes';
import { createUpload, headOffset, patch } from './support/raw-http';
import { serviceEnv } from './support/s3-env';
import { MiB, startTestApp, TestApp } from './support/test-app';
import { idOf } from './support/tus-client';

/**
 * A crash inside a long PATCH: the instance receiving it is a child process, SIGKILLed once a part of the body is in
 * S3; another instance (same bucket prefix, same Redis) then finds that part in the upload's offset, and the client
 * resumes from there. Parts are saved in the journal as they land, not only when the body ends.
 */
describe.each([['s3' as const], ['redis' as const]])('a crash mid-PATCH (held back in %s)', (holdBackIn) => {
  const env = serviceEnv();
  const prefix = `crash-${randomBytes(4).toString('hex')}/`;
  const options = {
    objectPrefix: prefix,
    holdBackIn,
    redis: { urls: env.redisUrls, keyPrefix: `tus-crash-${randomBytes(3).toString('hex')}:` },
    // The killed instance never releases its lock: the other one waits for the lease to run out.
    lock: { ttlMs: 3000, waitMs: 15_000 },
  };
  let child: WatchedProcess;
  let other: TestApp;
  let childOrigin: string;

  beforeAll(async () => {
    if (env.redisUrls.length === 0) throw new Error('REDIS_URLS is not set: run through `npm test`');
    child = new WatchedProcess(
      'crashing instance',
      process.execPath,
      ['-r', 'ts-node/register', 'test/support/instance-main.ts'],
      {
        cwd: `${__dirname}/..`,
        env: {
          ...process.env,
          TS_NODE_PROJECT: 'tsconfig.jest.json',
          TS_NODE_TRANSPILE_ONLY: '1',
          TUS_INSTANCE_OPTIONS: JSON.stringify(options),
        },
      },
    );
    childOrigin = (await child.waitForLine((line) => line.startsWith('READY '), 60_000)).slice('READY '.length);
    other = await startTestApp({ options });
  }, 90_000);

  afterAll(async () => {
    await child?.stop();
    if (other) {
      for (const key of await other.s3.keys(prefix))
        await other.s3.client.send(new DeleteObjectCommand({ Bucket: other.s3.bucket, Key: key }));
      await other.close();
    }
  });

  it('keeps the parts that reached S3 before the crash; the upload resumes from them byte-identical', async () => {
    const data = randomBytes(24 * MiB + 11);
    const url = await createUpload(`${childOrigin}/files`, data.length);
    const id = idOf(url);
    // 3 MiB held back first (a chunk object, or a run in Redis): part 1 of the long PATCH starts with them.
    expect((await patch(url, 0, data.subarray(0, 3 * MiB))).status).toBe(204);
    const { multipartUploadId } = (await other.s3.info(`${prefix}${id}.info`)) as { multipartUploadId: string };

    // The long PATCH, over a raw socket, 14 MiB of its 21 MiB written slowly; then nothing more.
    const { hostname, port, pathname } = new URL(url);
    const socket = connect(Number(port), hostname);
    socket.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    socket.write(
      `PATCH ${pathname} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nTus-Resumable: 1.0.0\r\n` +
        `Content-Type: application/offset+octet-stream\r\nUpload-Offset: ${3 * MiB}\r\nContent-Length: ${data.length - 3 * MiB}\r\n\r\n`,
    );
    for (let at = 3 * MiB; at < 17 * MiB; at += MiB) {
      await new Promise<void>((resolve) => socket.write(data.subarray(at, at + MiB), () => resolve()));
      await new Promise((resolve) => setTimeout(resolve, 40));
    }
    // Part 1 (8 MiB) is in S3, and the body is still streaming.
    const listParts = () =>
      other.s3.client.send(
        new ListPartsCommand({ Bucket: other.s3.bucket, Key: `${prefix}${id}`, UploadId: multipartUploadId }),
      );
    await waitFor(async () => ((await listParts()).Parts ?? []).some((part) => part.PartNumber === 1), 20_000);
    // Its checkpoint is one small PUT after it; give it that, the body still open.
    await waitFor(async () => ((await other.s3.info(`${prefix}${id}.info`)).parts as unknown[]).length >= 1, 20_000);
    // The chunk object now in part 1 is deleted right after that save (in the background: no journal lists it).
    if (holdBackIn === 's3') await waitFor(async () => (await other.s3.keys(`${prefix}${id}.chunk.`)).length === 0);

    await child.kill();
    socket.destroy();

    // Another instance: the offset covers part 1 at least, not 0.
    const head = await headOffset(url.replace(childOrigin, other.origin));
    expect(head.status).toBe(200);
    expect(head.offset).toBeGreaterThanOrEqual(8 * MiB);
    const journal = await other.s3.info(`${prefix}${id}.info`);
    expect(journal.pending).toEqual([]); // the held bytes are in part 1, not listed twice

    const resumed = await patch(url.replace(childOrigin, other.origin), head.offset, data.subarray(head.offset));
    expect(resumed.status).toBe(204);
    expect((await other.s3.bytes(`${prefix}${id}`)).equals(data)).toBe(true);
  });
});
