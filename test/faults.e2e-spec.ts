import { createHash, randomBytes } from 'node:crypto';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { freezeMidway } from './support/freeze-midway';
import { createUpload, headOffset, patch } from './support/raw-http';
import { ActiveRule, Fault, InternalError, ProxiedRequest, S3FaultProxy, SlowDown } from './support/s3-fault-proxy';
import { s3ConfigOf, serviceEnv } from './support/s3-env';
import { MiB, startTestApp, TestApp } from './support/test-app';
import { idOf, uploadWithTusClient } from './support/tus-client';
import { eventually } from './support/eventually';

/**
 * Faults of S3 while uploads run: a proxy in front of RGW fails chosen S3 operations (500 InternalError, 503
 * SlowDown, connection resets before, during and after a request) or holds every request (S3 frozen). The server may
 * answer 5xx with Retry-After meanwhile, but every upload ends byte-identical in S3, through a tus client that
 * resumes with HEAD; every fault a test programs must really have fired.
 */

/** tus-js-client's retries: enough for a fault that outlasts the SDK's and the library's own attempts. */
const RETRIES = [0, 200, 400, 800, 1000, 1000, 1000, 1000];

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

const ResetBefore: Fault = { kind: 'reset' };
const ResetAfter: Fault = { kind: 'reset-after-response' };
const ResetMidBody: Fault = { kind: 'reset-mid-body', afterBytes: 3 * MiB };

async function removeAll(app: TestApp, prefix: string): Promise<void> {
  for (const key of await app.s3.keys(prefix))
    await app.s3.client.send(new DeleteObjectCommand({ Bucket: app.s3.bucket, Key: key }));
}

describe.each([['s3' as const], ['redis' as const]])('S3 failing (held back in %s)', (holdBackIn) => {
  const env = serviceEnv();
  const keyPrefix = `tus-faults-${randomBytes(3).toString('hex')}:`;
  let proxy: S3FaultProxy;
  let app: TestApp;

  beforeAll(async () => {
    if (env.redisUrls.length === 0) throw new Error('REDIS_URLS is not set: run through `npm test`');
    proxy = await S3FaultProxy.start(env.endpoint);
    app = await startTestApp({
      options: {
        holdBackIn,
        s3: { ...s3ConfigOf(env), endpoint: proxy.endpoint },
        redis: { urls: env.redisUrls, keyPrefix },
      },
    });
  });

  afterEach(async () => {
    proxy.reset();
    await deliveriesRecorded();
  });

  /**
   * The server records that `upload.finished` was delivered after it answered the last PATCH: a PUT of the `.info`
   * that the next test's rules must not catch. Waits until no finished upload's record is due (up to 10 s: a record
   * that failed is not retried).
   */
  async function deliveriesRecorded(): Promise<void> {
    await eventually(anyDeliveryDue, (due) => !due, 10_000, 50);
  }

  async function anyDeliveryDue(): Promise<boolean> {
    const due = async (key: string) => {
      const info = await app.s3.info(key).catch(() => undefined); // removed meanwhile: nothing due
      return (info?.announce as { due?: boolean } | undefined)?.due === true;
    };
    const infos = (await app.s3.keys(app.prefix)).filter((key) => key.endsWith('.info'));
    return (await Promise.all(infos.map(due))).some(Boolean);
  }

  afterAll(async () => {
    if (app) {
      await removeAll(app, app.prefix);
      await app.close();
    }
    await proxy?.close();
  });

  /**
   * 11 MiB in 3 MiB PATCHes: held-back bytes after the first, an 8 MiB part cut from them, a last short part. Returns
   * how many answers of the server were 5xx (the client then resumed with HEAD).
   */
  async function uploadThroughFaults(size = 11 * MiB + 5): Promise<number> {
    const data = randomBytes(size);
    let failures = 0;
    const url = await uploadWithTusClient(data, {
      endpoint: app.endpoint,
      chunkSize: 3 * MiB,
      retryDelays: RETRIES,
      onAfterResponse: (_, res) => void (res.getStatus() >= 500 && failures++),
    });
    const stored = await app.s3.bytes(`${app.prefix}${idOf(url)}`);
    expect(sha256(stored)).toBe(sha256(data));
    return failures;
  }

  /** What a rule fails, by operation and, for PutObject, by the object written; only under this app's prefix. */
  const targets = {
    UploadPart: (r: ProxiedRequest) => r.operation === 'UploadPart',
    'PutObject of a .info': (r: ProxiedRequest) => r.operation === 'PutObject' && r.key.endsWith('.info'),
    'PutObject of a held-back chunk': (r: ProxiedRequest) => r.operation === 'PutObject' && r.key.includes('.chunk.'),
    CreateMultipartUpload: (r: ProxiedRequest) => r.operation === 'CreateMultipartUpload',
    CompleteMultipartUpload: (r: ProxiedRequest) => r.operation === 'CompleteMultipartUpload',
  };
  type Target = keyof typeof targets;

  // A fault that fires once or twice is absorbed below the client: by the SDK's retries (maxAttempts 3) for string
  // bodies, by the library's own for streamed ones (parts, chunks), which the SDK cannot retry. Four times outlasts
  // both: the server answers 503 and the client resumes with HEAD.
  const cases: Array<[Target, string, number, Fault]> = [
    ['UploadPart', '500 InternalError', 2, InternalError],
    ['UploadPart', '500 InternalError', 4, InternalError],
    ['UploadPart', '503 SlowDown', 2, SlowDown],
    ['UploadPart', '503 SlowDown', 4, SlowDown],
    ['UploadPart', 'a reset before forwarding', 4, ResetBefore],
    ['UploadPart', 'a reset mid-body', 2, ResetMidBody],
    ['UploadPart', 'a reset after S3 answered', 2, ResetAfter],
    ['PutObject of a .info', '500 InternalError', 2, InternalError],
    ['PutObject of a .info', '503 SlowDown', 4, SlowDown],
    ['PutObject of a .info', 'a reset before forwarding', 4, ResetBefore],
    ['PutObject of a .info', 'a reset after S3 answered', 2, ResetAfter],
    ['CreateMultipartUpload', '500 InternalError', 4, InternalError],
    ['CreateMultipartUpload', '503 SlowDown', 2, SlowDown],
    ['CreateMultipartUpload', 'a reset before forwarding', 4, ResetBefore],
    ['CreateMultipartUpload', 'a reset after S3 answered', 1, ResetAfter],
    ['CompleteMultipartUpload', '500 InternalError', 4, InternalError],
    ['CompleteMultipartUpload', '503 SlowDown', 2, SlowDown],
    ['CompleteMultipartUpload', 'a reset before forwarding', 4, ResetBefore],
    ['CompleteMultipartUpload', 'a reset after S3 answered', 1, ResetAfter],
  ];
  // Chunk objects exist only with held bytes in S3 (a rule that never fires would prove nothing).
  const chunkCases: Array<[Target, string, number, Fault]> = [
    ['PutObject of a held-back chunk', '500 InternalError', 2, InternalError],
    ['PutObject of a held-back chunk', '503 SlowDown', 4, SlowDown],
    ['PutObject of a held-back chunk', 'a reset mid-body', 2, { kind: 'reset-mid-body', afterBytes: MiB }],
    ['PutObject of a held-back chunk', 'a reset after S3 answered', 4, ResetAfter],
  ];

  it.each(holdBackIn === 's3' ? [...cases, ...chunkCases] : cases)(
    'completes byte-identical through %s failing with %s (%d times)',
    async (target, _, times, fault) => {
      const match = (r: ProxiedRequest) => r.key.startsWith(app.prefix) && targets[target](r);
      const rule = proxy.inject({ match, fault, times });
      const answered5xx = await uploadThroughFaults();
      expect(rule.fired).toBe(times);
      if (times <= 2) expect(answered5xx).toBe(0);
      // With held bytes in Redis, full parts are uploaded in the background: a failure there answers nobody, the
      // bytes stay in Redis and a later request cuts the part again.
      else if (holdBackIn === 's3' || target !== 'UploadPart') expect(answered5xx).toBeGreaterThan(0);
    },
  );

  it('finishes an upload whose journal could not be saved after S3 completed it (the next HEAD finishes it)', async () => {
    // CompleteMultipartUpload goes through; the `.info` PUTs after it fail past every retry.
    let completed = false;
    const rule = proxy.inject({
      match: (request) => {
        if (request.key.startsWith(app.prefix) && request.operation === 'CompleteMultipartUpload') completed = true;
        return completed && request.operation === 'PutObject' && request.key.endsWith('.info');
      },
      fault: InternalError,
      times: 4,
    });
    await uploadThroughFaults();
    expect(completed).toBe(true);
    expect(rule.fired).toBe(4);
  });

  it('completes byte-identical when S3 freezes for 4 s in the middle of an upload, then thaws', async () => {
    const data = randomBytes(19 * MiB + 3);
    const freeze = freezeMidway(proxy, 6 * MiB);
    const url = await uploadWithTusClient(data, {
      endpoint: app.endpoint,
      chunkSize: 3 * MiB,
      retryDelays: RETRIES,
      onChunkComplete: freeze.onChunkComplete,
    });
    expect(freeze.frozen).toBe(true);
    expect([...proxy.injected].filter(([name]) => name.endsWith(' frozen')).length).toBeGreaterThan(0);
    expect(sha256(await app.s3.bytes(`${app.prefix}${idOf(url)}`))).toBe(sha256(data));
  });

  if (holdBackIn === 's3') {
    // A write's chunk object and the journal that lists it (as unconfirmed) go up at the same time.
    const chunkPut = (r: ProxiedRequest) =>
      r.key.startsWith(app.prefix) && r.operation === 'PutObject' && r.key.includes('.chunk.');
    const infoPut = (r: ProxiedRequest) =>
      r.key.startsWith(app.prefix) && r.operation === 'PutObject' && r.key.endsWith('.info');

    /**
     * 2 MiB acknowledged, then a PATCH of 1 MiB more while `inject`'s rules are in place: it must be refused (503),
     * HEAD must still say 2 MiB once the rules are gone (`whileStored` looks at S3 before that HEAD), and the upload
     * must finish byte-identical from there.
     */
    async function refusedSecondPatch(inject: () => ActiveRule[], whileStored?: (id: string) => Promise<void>) {
      const data = randomBytes(5 * MiB);
      const url = await createUpload(app.endpoint, data.length);
      expect((await patch(url, 0, data.subarray(0, 2 * MiB))).status).toBe(204);
      const rules = inject();
      expect((await patch(url, 2 * MiB, data.subarray(2 * MiB, 3 * MiB))).status).toBe(503);
      for (const rule of rules) {
        expect(rule.fired).toBeGreaterThan(0);
        rule.remove();
      }
      await whileStored?.(idOf(url));
      expect((await headOffset(url)).offset).toBe(2 * MiB);
      expect((await patch(url, 2 * MiB, data.subarray(2 * MiB))).status).toBe(204);
      expect(sha256(await app.s3.bytes(`${app.prefix}${idOf(url)}`))).toBe(sha256(data));
    }

    it('falls back to the parts when a chunk its journal lists is gone (deleted behind its back): no 503 forever', async () => {
      const data = randomBytes(10 * MiB); // larger than a part: cut into parts, not stored whole
      const url = await createUpload(app.endpoint, data.length);
      expect((await patch(url, 0, data.subarray(0, 2 * MiB))).status).toBe(204);
      expect((await patch(url, 2 * MiB, data.subarray(2 * MiB, 4 * MiB))).status).toBe(204);
      const chunks = await app.s3.keys(`${app.prefix}${idOf(url)}.chunk.0.`);
      expect(chunks).toHaveLength(1);
      await app.s3.client.send(new DeleteObjectCommand({ Bucket: app.s3.bucket, Key: chunks[0] }));
      // Another app instance reads the chunks from S3 (this one still has them in memory).
      const other = await startTestApp({
        options: { s3: s3ConfigOf(env), objectPrefix: app.prefix, redis: { urls: env.redisUrls, keyPrefix } },
      });
      try {
        const otherUrl = url.replace(app.endpoint, other.endpoint);
        // 4 MiB held + 2 MiB: a part is cut, and its first chunk is missing.
        const refused = await patch(otherUrl, 4 * MiB, data.subarray(4 * MiB, 6 * MiB));
        expect(refused.status).toBe(503);
        expect(refused.body).toContain('lost');
        expect((await headOffset(otherUrl)).offset).toBe(0);
        expect((await patch(otherUrl, 0, data)).status).toBe(204);
      } finally {
        await other.close();
      }
      expect(sha256(await app.s3.bytes(`${app.prefix}${idOf(url)}`))).toBe(sha256(data));
    });

    it('does not count the bytes of a chunk object that never landed, though its journal did', async () => {
      await refusedSecondPatch(() => [proxy.inject({ match: chunkPut, fault: SlowDown, times: Infinity })]);
    });

    it('drops a chunk its journal lists as unconfirmed when the chunk is missing (as after a crash between the two)', async () => {
      // The chunk fails and so does the journal saved again without it: S3 keeps a journal that lists a missing chunk.
      let infoPuts = 0;
      await refusedSecondPatch(
        () => [
          proxy.inject({ match: chunkPut, fault: SlowDown, times: Infinity }),
          proxy.inject({ match: (r) => infoPut(r) && ++infoPuts > 1, fault: SlowDown, times: Infinity }),
        ],
        async (id) => {
          const journal = JSON.parse((await app.s3.bytes(`${app.prefix}${id}.info`)).toString()) as {
            pending: Array<{ unconfirmed?: true }>;
          };
          expect(journal.pending.at(-1)?.unconfirmed).toBe(true);
        },
      );
    });
  }

  it('never acknowledges bytes it did not keep: a PATCH that S3 fails answers 503, and HEAD tells the truth', async () => {
    const data = randomBytes(10 * MiB);
    const url = await createUpload(app.endpoint, data.length);
    expect((await patch(url, 0, data.subarray(0, 2 * MiB))).status).toBe(204);
    // Every part upload fails: the 8 MiB part cannot be stored.
    const rule = proxy.inject({
      match: (r) => r.key.startsWith(app.prefix) && r.operation === 'UploadPart',
      fault: SlowDown,
      times: Infinity,
    });
    const refused = await patch(url, 2 * MiB, data.subarray(2 * MiB, 9 * MiB));
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBeDefined();
    expect(rule.fired).toBeGreaterThan(0);
    const { offset } = await headOffset(url);
    expect(offset).toBeGreaterThanOrEqual(2 * MiB);
    expect(offset).toBeLessThanOrEqual(9 * MiB);
    rule.remove();
    // Fault over: no restart, the client resends from the offset HEAD gave.
    expect((await patch(url, offset, data.subarray(offset))).status).toBe(204);
    expect(sha256(await app.s3.bytes(`${app.prefix}${idOf(url)}`))).toBe(sha256(data));
  });
});
