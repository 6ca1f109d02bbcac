import type { Socket } from 'node:net';
import { eventually } from './support/eventually';
import { createUpload, headOffset, patch, stalledPatch } from './support/raw-http';
import { serviceEnv } from './support/s3-env';
import { InternalError, ProxiedRequest, S3FaultProxy } from './support/s3-fault-proxy';
import { s3ConfigOf } from './support/service-env';
import { MiB, randomPayload, startTestApp, TestApp } from './support/test-app';
import { idOf } from './support/tus-client';

/**
 * A PATCH whose length says what its parts will be sends each one to S3 while its bytes still arrive (and a body that
 * will be held back, its chunk object): the request that brings the end of an upload is answered about when its last
 * byte is in, not one part upload later. A proxy in
 * front of RGW sees what S3 is asked, and when; the client stalls a MiB before the end of its body meanwhile.
 */
describe('parts sent to S3 while their bytes arrive', () => {
  const env = serviceEnv();
  let proxy: S3FaultProxy;
  let t: TestApp;
  const asked: ProxiedRequest[] = [];

  beforeAll(async () => {
    proxy = await S3FaultProxy.start(env.endpoint);
    t = await startTestApp({ options: { s3: { ...s3ConfigOf(env), endpoint: proxy.endpoint } } });
    // Never fires: it only watches every request as it starts, before its body is forwarded.
    proxy.inject({ match: (request) => (asked.push(request), false), fault: InternalError, times: Infinity });
  });
  afterAll(async () => {
    await t?.close();
    await proxy?.close();
  });

  /** Sends the rest of a stalled PATCH and returns the status it is answered. */
  async function finish(socket: Socket, rest: Buffer): Promise<number> {
    const answer = new Promise<string>((resolve) => {
      let text = '';
      socket.on('data', (data: Buffer) => {
        text += data.toString('latin1');
        if (text.includes('\r\n\r\n')) resolve(text);
      });
    });
    socket.write(rest);
    const status = Number((await answer).split(' ')[1]);
    socket.destroy();
    return status;
  }

  async function seen(which: (request: ProxiedRequest) => boolean): Promise<boolean> {
    return eventually(async () => asked.some(which), Boolean, 10_000, 20);
  }

  it('sends the last part before the PATCH that brings it is all in, and stores every byte', async () => {
    const data = randomPayload(20 * MiB + 5); // above storeWholeUpTo: in parts
    const url = await createUpload(t.endpoint, data.length);
    const key = `${t.prefix}${idOf(url)}`;
    const last = data.length - MiB;
    const socket = await stalledPatch(url, 0, data.length, data.subarray(0, last));
    // Part 3 is the last 4 MiB: S3 is asked for it while a MiB of it has not left the client.
    const lastPart = (r: ProxiedRequest) =>
      r.operation === 'UploadPart' && r.key === key && /partNumber=3\b/.test(r.url);
    expect(await seen(lastPart)).toBe(true);
    expect(await finish(socket, data.subarray(last))).toBe(204);
    expect((await t.s3.bytes(key)).equals(data)).toBe(true);
  });

  it('stores the chunk object of a PATCH below the part minimum while the PATCH arrives, and every byte', async () => {
    const data = randomPayload(12 * MiB + 3);
    const url = await createUpload(t.endpoint, data.length);
    const key = `${t.prefix}${idOf(url)}`;
    const socket = await stalledPatch(url, 0, MiB, data.subarray(0, MiB / 2));
    expect(await seen((r) => r.operation === 'PutObject' && r.key.startsWith(`${key}.chunk.0.`))).toBe(true);
    expect(await finish(socket, data.subarray(MiB / 2, MiB))).toBe(204);
    expect((await headOffset(url)).offset).toBe(MiB);
    expect((await patch(url, MiB, data.subarray(MiB))).status).toBe(204);
    expect((await t.s3.bytes(key)).equals(data)).toBe(true);
  });

  it.each([
    ['smaller than a part', 3 * MiB + 7],
    ['larger than a part', 12 * MiB + 7],
  ])(
    'sends the one object of an upload stored whole (%s) before its last byte is in, and stores every byte',
    async (_, size) => {
      const data = randomPayload(size);
      const url = await createUpload(t.endpoint, data.length);
      const key = `${t.prefix}${idOf(url)}`;
      const socket = await stalledPatch(url, 0, data.length, data.subarray(0, data.length - MiB));
      expect(await seen((r) => r.operation === 'PutObject' && r.key === key)).toBe(true);
      expect(await finish(socket, data.subarray(data.length - MiB))).toBe(204);
      expect((await t.s3.bytes(key)).equals(data)).toBe(true);
      expect(await t.s3.multipartUploads(key)).toBe(0);
    },
  );
});
