import type { Server } from 'node:http';
import { call, stalledPatch } from './support/raw-http';
import { randomPayload, startTestApp, TestApp } from './support/test-app';

/** A client whose body stops arriving must not hold its upload (and the server's memory) forever. */

const KiB = 1024;
let t: TestApp;

beforeAll(async () => {
  t = await startTestApp({ options: { idleTimeoutMs: 1_000 } });
});
afterAll(async () => {
  await t?.close();
});

it('ends a PATCH whose body stalls after idleTimeoutMs, keeps what arrived and frees the upload', async () => {
  const created = await call('POST', t.endpoint, { 'Upload-Length': 1024 * KiB });
  const url = created.get('location')!;
  const sent = randomPayload(300 * KiB);
  const socket = await stalledPatch(url, 0, 1024 * KiB, sent);
  const startedAt = Date.now();
  const closedAfter = await new Promise<number>((resolve) =>
    socket.once('close', () => resolve(Date.now() - startedAt)),
  );
  expect(closedAfter).toBeGreaterThanOrEqual(900);
  expect(closedAfter).toBeLessThan(5_000);

  const before = Date.now();
  const head = await call('HEAD', url);
  expect(head.status).toBe(200);
  expect(head.get('upload-offset')).toBe(String(300 * KiB));
  expect(Date.now() - before).toBeLessThan(1_000); // the lock was released: no release request was needed
  const rest = randomPayload(724 * KiB);
  const patched = await call(
    'PATCH',
    url,
    { 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': 300 * KiB },
    rest,
  );
  expect(patched.status).toBe(204);
  const id = url.slice(url.lastIndexOf('/') + 1);
  expect(Buffer.compare(await t.s3.bytes(`${t.prefix}${id}`), Buffer.concat([sent, rest]))).toBe(0);
});

it("lifts Node's 5-minute deadline for a whole request, which would cut long PATCHes", () => {
  expect((t.app.getHttpServer() as Server).requestTimeout).toBe(0);
});
