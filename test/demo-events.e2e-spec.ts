import { DEMO_AUTH, DEMO_ENV } from './support/demo-env'; // first: the demo reads the environment as it loads
import { randomBytes } from 'node:crypto';
import { DemoApp, startDemoApp } from './support/demo-app';
import { serviceEnv, testS3Client } from './support/s3-env';
import { S3Inspector } from './support/s3-inspect';
import { EventStream, openEventStream } from './support/sse';
import { MiB } from './support/test-app';
import { idOf, uploadWithTusClient } from './support/tus-client';

/**
 * Two demo instances sharing Redis (REDIS_URLS), as behind a load balancer: a page connected to one of them sees
 * the uploads finished on the other, through the demo's Redis channel.
 */
describe('demo: finished uploads reach the /events of every instance', () => {
  let a: DemoApp;
  let b: DemoApp;
  const streams: EventStream[] = [];

  beforeAll(async () => {
    if (serviceEnv().redisUrls.length === 0) throw new Error('REDIS_URLS is not set: this test needs the shared Redis');
    a = await startDemoApp();
    b = await startDemoApp();
  });

  afterAll(async () => {
    streams.forEach((stream) => stream.close());
    await a?.close();
    await b?.close();
  });

  async function watch(app: DemoApp): Promise<{ stream: EventStream; instance: string }> {
    const stream = await openEventStream(`${app.origin}/events`, DEMO_AUTH);
    streams.push(stream);
    expect(stream.status).toBe(200);
    const ready = await stream.next((event) => event.type === 'ready');
    return { stream, instance: JSON.parse(ready.data).instance };
  }

  it('delivers an upload finished on instance A to a client of instance B, and of A', async () => {
    const onA = await watch(a);
    const onB = await watch(b);
    expect(onB.instance).not.toBe(onA.instance);

    const data = randomBytes(MiB + 5);
    const url = await uploadWithTusClient(data, {
      endpoint: `${a.origin}/uploads`,
      headers: { ...DEMO_AUTH },
      metadata: { filename: 'über ✓.bin', filetype: 'application/octet-stream' },
    });
    const id = idOf(url);

    for (const { stream } of [onB, onA]) {
      const event = await stream.next((e) => e.type === 'finished' && e.id === id);
      expect(JSON.parse(event.data)).toEqual({
        id,
        size: data.length,
        filename: 'über ✓.bin',
        filetype: 'application/octet-stream',
        object: { bucket: DEMO_ENV.S3_BUCKET, key: `${DEMO_ENV.S3_OBJECT_PREFIX}${id}` },
        copy: null,
        finishedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        instance: onA.instance,
      });
    }
  });

  it('leaves out the partial uploads of a parallel upload, and replays recent uploads to a new client', async () => {
    const client = testS3Client();
    const s3 = new S3Inspector(client, DEMO_ENV.S3_BUCKET);
    const uploadIds = async () =>
      (await s3.keys(DEMO_ENV.S3_OBJECT_PREFIX))
        .map((key) => key.slice(DEMO_ENV.S3_OBJECT_PREFIX.length))
        .filter((id) => /^[0-9a-f]{32}$/.test(id));
    try {
      const before = new Set(await uploadIds());
      const data = randomBytes(2 * MiB + 1);
      const url = await uploadWithTusClient(data, {
        endpoint: `${b.origin}/uploads`,
        headers: { ...DEMO_AUTH },
        parallelUploads: 3,
        metadata: { filename: 'parallel.bin' },
      });
      const id = idOf(url);
      const partials = (await uploadIds()).filter((other) => !before.has(other) && other !== id);
      expect(partials).toHaveLength(3);
      // Connected afterwards: the recent uploads come first, the final upload among them, no partial one.
      const late = await watch(a);
      const finished = await late.stream.next((e) => e.type === 'finished' && e.id === id);
      expect(JSON.parse(finished.data)).toMatchObject({ id, size: data.length, filename: 'parallel.bin' });
      await expect(late.stream.next((e) => partials.includes(e.id ?? ''), 500)).rejects.toThrow(/no matching event/);
    } finally {
      client.destroy();
    }
  });
});
