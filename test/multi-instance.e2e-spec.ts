import { randomBytes } from 'node:crypto';
import { Upload } from 'tus-js-client';
import { waitFor } from './support/eventually';
import { freePorts, RedisMaster, waitForRedisServerBinary } from './support/redis-masters';
import { createUpload, headOffset, patch, rawRequest, stalledPatch, TUS } from './support/raw-http';
import { MiB, startTestApp, TestApp } from './support/test-app';
import { idOf, uploadWithTusClient } from './support/tus-client';

/**
 * Two app instances in one process on different ports, sharing the real RGW bucket prefix and three Redis
 * masters started here: requests of one upload land on either instance, as behind a load balancer without
 * sticky sessions.
 */
describe('several instances, one upload', () => {
  const masters: RedisMaster[] = [];
  let a: TestApp;
  let b: TestApp;
  const prefix = `multi-${randomBytes(4).toString('hex')}/`;

  beforeAll(async () => {
    await waitForRedisServerBinary();
    for (const port of await freePorts(3, 6385)) masters.push(new RedisMaster(port));
    await Promise.all(masters.map((m) => m.start()));
    const options = {
      objectPrefix: prefix,
      redis: { urls: masters.map((m) => m.url) },
      lock: { ttlMs: 3000, waitMs: 2000 },
    };
    a = await startTestApp({ options });
    b = await startTestApp({ options });
  });

  afterAll(async () => {
    await a?.close();
    await b?.close();
    await Promise.all(masters.map((m) => m.stop()));
  });

  const onB = (url: string) => url.replace(a.origin, b.origin);

  async function finishWith(url: string, data: Buffer): Promise<void> {
    const { offset } = await headOffset(url);
    const res = await patch(url, offset, data.subarray(offset));
    expect(res.status).toBe(204);
  }

  async function expectFinalBytes(url: string, data: Buffer): Promise<void> {
    const stored = await a.s3.bytes(`${prefix}${idOf(url)}`);
    expect(stored.length).toBe(data.length);
    expect(stored.equals(data)).toBe(true);
  }

  it.each([
    ['below the part minimum', 1 * MiB + 17],
    ['above the part minimum', 9 * MiB + 3],
  ])('lets exactly one of two racing PATCHes at the same offset win (%s), storing only its bytes', async (_, size) => {
    for (let round = 0; round < 6; round++) {
      const url = await createUpload(a.endpoint, size);
      const mine = randomBytes(size);
      const theirs = randomBytes(size);
      const [first, second] = await Promise.all([patch(url, 0, mine), patch(onB(url), 0, theirs)]);
      const statuses = [first.status, second.status];
      // A winner that was asked to let go mid-body still answers 204 with what it stored.
      expect(statuses.filter((s) => s === 204).length).toBeGreaterThanOrEqual(1);
      for (const s of statuses) expect([204, 409, 423]).toContain(s);
      const { offset } = await headOffset(url);
      // Whoever stored bytes, they are a prefix of exactly one payload: finishing with that payload must give it whole.
      const winner = first.status === 204 && Number(first.headers['upload-offset']) === offset ? mine : theirs;
      if (statuses.every((s) => s === 204)) {
        // Both answered 204: the first winner was interrupted and the second continued at its offset: impossible,
        // since the second PATCH claimed offset 0. Only one may have stored anything.
        expect(Number(first.headers['upload-offset']) === 0 || Number(second.headers['upload-offset']) === 0).toBe(
          true,
        );
      }
      if (offset < size) await finishWith(url, winner);
      await expectFinalBytes(url, winner);
    }
  });

  it('answers HEAD on the other instance within seconds when a client stalls mid-PATCH, with every byte it sent', async () => {
    const data = randomBytes(12 * MiB + 5);
    const url = await createUpload(a.endpoint, data.length);
    const sent = 7 * MiB + 3;
    const socket = await stalledPatch(url, 0, data.length, data.subarray(0, sent));
    try {
      await new Promise((r) => setTimeout(r, 500)); // let the server read what was sent
      const started = Date.now();
      const head = await headOffset(onB(url));
      const elapsed = Date.now() - started;
      expect(head.status).toBe(200);
      expect(elapsed).toBeLessThan(3000);
      expect(head.offset).toBe(sent);
      await finishWith(onB(url), data);
      await expectFinalBytes(url, data);
    } finally {
      socket.destroy();
    }
  });

  it('keeps uploading with one of three Redis masters down, and uses it again once it is back', async () => {
    await masters[0].stop();
    try {
      const data = randomBytes(6 * MiB);
      const url = await uploadWithTusClient(data, { endpoint: a.endpoint, chunkSize: 2 * MiB });
      await expectFinalBytes(url, data);
    } finally {
      await masters[0].start();
    }
    // With the master back, losing another one still leaves a quorum: it must be in use again.
    await masters[1].stop();
    try {
      await new Promise((r) => setTimeout(r, 1500)); // reconnect backoff of the restarted master
      const data = randomBytes(2 * MiB);
      const url = await uploadWithTusClient(data, { endpoint: b.endpoint, chunkSize: 1 * MiB });
      await expectFinalBytes(url, data);
    } finally {
      await masters[1].start();
    }
  });

  it('answers 503 with Retry-After and changes nothing in S3 when the lock quorum is lost, and recovers without restart', async () => {
    const data = randomBytes(3 * MiB);
    const url = await createUpload(a.endpoint, data.length);
    expect((await patch(url, 0, data.subarray(0, MiB))).status).toBe(204);
    const keysBefore = await a.s3.keys(`${prefix}${idOf(url)}`);
    const infoBefore = await a.s3.bytes(`${prefix}${idOf(url)}.info`);

    await Promise.all([masters[0].stop(), masters[1].stop()]);
    try {
      const refused = await patch(onB(url), MiB, data.subarray(MiB));
      expect(refused.status).toBe(503);
      expect(refused.headers['retry-after']).toBeDefined();
      // On B, which holds no lock. A may still keep the lock of its PATCH, valid until its TTL runs out whatever
      // the masters do (nobody else can take it meanwhile), and answer from it (lock.keepMs).
      expect((await rawRequest(onB(url), 'HEAD', { ...TUS })).status).toBe(503);
      expect(await a.s3.keys(`${prefix}${idOf(url)}`)).toEqual(keysBefore);
      expect((await a.s3.bytes(`${prefix}${idOf(url)}.info`)).equals(infoBefore)).toBe(true);
    } finally {
      await Promise.all([masters[0].start(), masters[1].start()]);
    }
    // Both instances recover (each reconnects to the masters on its own schedule).
    await waitFor(answersHead(url), 10_000);
    await waitFor(answersHead(onB(url)), 10_000);
    await finishWith(onB(url), data);
    await expectFinalBytes(url, data);
  });

  it('stops a PATCH at once when its lock is lost, and commits nothing after that', async () => {
    const data = randomBytes(20 * MiB);
    const url = await createUpload(a.endpoint, data.length);
    const id = idOf(url);
    const socket = await stalledPatch(url, 0, data.length, data.subarray(0, 3 * MiB));
    const answer = new Promise<string>((resolve) => {
      let text = '';
      socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
      socket.on('close', () => resolve(text));
    });
    try {
      await new Promise((r) => setTimeout(r, 300));
      const infoBefore = await a.s3.bytes(`${prefix}${id}.info`);
      const keysBefore = await a.s3.keys(`${prefix}${id}`);
      await Promise.all([masters[0].stop(), masters[1].stop()]); // the holder can no longer extend its lock
      const status = await Promise.race([answer, new Promise<string>((r) => setTimeout(() => r('no answer'), 5000))]);
      expect(status).toMatch(/^HTTP\/1\.1 503 /);
      // Whatever the client sends now is not written either.
      socket.write(data.subarray(3 * MiB, 4 * MiB));
      await new Promise((r) => setTimeout(r, 300));
      expect((await a.s3.bytes(`${prefix}${id}.info`)).equals(infoBefore)).toBe(true);
      expect(await a.s3.keys(`${prefix}${id}`)).toEqual(keysBefore);
    } finally {
      socket.destroy();
      await Promise.all([masters[0].start(), masters[1].start()]);
    }
    await waitFor(answersHead(url), 10_000);
    expect((await headOffset(url)).offset).toBe(0);
    await finishWith(url, data);
    await expectFinalBytes(url, data);
  });

  it('finishes an upload whose Redis masters restart while it runs', async () => {
    const data = randomBytes(10 * MiB);
    let restarted = false;
    const url = await new Promise<string>((resolve, reject) => {
      const upload = new Upload(data, {
        endpoint: a.endpoint,
        chunkSize: 1 * MiB,
        retryDelays: [200, 500, 1000, 2000, 3000],
        onError: reject,
        onSuccess: () => resolve(upload.url!),
        onChunkComplete: (_, accepted) => {
          if (!restarted && accepted >= 4 * MiB) {
            restarted = true;
            void (async () => {
              for (const m of masters) {
                await m.stop();
                await m.start();
              }
            })();
          }
        },
      });
      upload.start();
    });
    expect(restarted).toBe(true);
    await expectFinalBytes(url, data);
  });
});

/** Whether `url` answers HEAD (its instance reached the lock masters again); a failed request counts as no. */
function answersHead(url: string): () => Promise<boolean> {
  return () =>
    headOffset(url).then(
      (reply) => reply.status === 200,
      () => false,
    );
}
