import { createHash, randomBytes } from 'node:crypto';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { ChildInstance, startChildInstance } from './support/child-instance';
import { createUpload, headOffset, patch } from './support/raw-http';
import { serviceEnv } from './support/s3-env';
import { MiB, startTestApp, TestApp } from './support/test-app';
import { idOf, uploadWithTusClient } from './support/tus-client';

/**
 * An instance SIGKILLed right after it acknowledged PATCHes (test/crash-progress.e2e-spec.ts covers a kill in the
 * middle of one): every acknowledged byte must be kept, so HEAD on another instance answers exactly the offset the
 * last 204 gave, and the upload resumes there byte-identical. With held bytes in Redis, the killed instance may have
 * been uploading a part in the background from its memory when it died.
 */
describe('an instance killed after acknowledged PATCHes', () => {
  const env = serviceEnv();
  const prefix = `faults-kill-${randomBytes(4).toString('hex')}/`;
  const optionsOf = (holdBackIn: 's3' | 'redis') => ({
    objectPrefix: prefix,
    holdBackIn,
    redis: { urls: env.redisUrls, keyPrefix: `tus-faults-kill-${randomBytes(3).toString('hex')}:` },
    lock: { ttlMs: 3000, waitMs: 15_000 },
  });
  const modes = ['s3', 'redis'] as const;
  const pairs = new Map<string, { child: ChildInstance; other: TestApp }>();

  beforeAll(async () => {
    if (env.redisUrls.length === 0) throw new Error('REDIS_URLS is not set: run through `npm test`');
    // Both children start at once: starting one (ts-node) is most of this file's time.
    await Promise.all(
      modes.map(async (mode) => {
        const options = optionsOf(mode);
        const [child, other] = await Promise.all([
          startChildInstance(`instance to kill (held back in ${mode})`, options),
          startTestApp({ options }),
        ]);
        pairs.set(mode, { child, other });
      }),
    );
  }, 120_000);

  afterAll(async () => {
    for (const { child, other } of pairs.values()) {
      await child.process.stop();
      await other.close();
    }
    const { s3 } = [...pairs.values()][0]?.other ?? {};
    if (s3)
      for (const key of await s3.keys(prefix))
        await s3.client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: key }));
  });

  it.each(modes)(
    'keeps every acknowledged byte (held back in %s): HEAD on another instance gives the last offset, and the upload resumes there',
    async (mode) => {
      const { child, other } = pairs.get(mode)!;
      const data = randomBytes(21 * MiB + 9);
      const url = await createUpload(child.endpoint, data.length);
      // 1 MiB PATCHes up to 9 MiB: a part's worth held back (in Redis, a background part upload starts), plus 1 MiB.
      let acknowledged = 0;
      for (let at = 0; at < 9 * MiB; at += MiB) {
        const res = await patch(url, at, data.subarray(at, at + MiB));
        expect(res.status).toBe(204);
        acknowledged = Number(res.headers['upload-offset']);
      }
      expect(acknowledged).toBe(9 * MiB);
      await child.process.kill();

      const onOther = url.replace(child.origin, other.origin);
      const head = await headOffset(onOther);
      expect(head.status).toBe(200);
      expect(head.offset).toBe(acknowledged);

      await uploadWithTusClient(data, { uploadUrl: onOther, chunkSize: 4 * MiB, retryDelays: [0, 500, 1000] });
      const stored = await other.s3.bytes(`${prefix}${idOf(url)}`);
      expect(createHash('sha256').update(stored).digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    },
  );
});
