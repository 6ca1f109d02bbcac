import { DEMO_ENV } from './support/demo-env'; // first: the demo reads the environment as it loads
import { randomBytes } from 'node:crypto';
import { AddressInfo } from 'node:net';
import { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { AppModule } from '../src/app.module';
import { serviceEnv, testS3Client } from './support/s3-env';
import { S3Inspector } from './support/s3-inspect';
import { MiB } from './support/test-app';
import { idOf, uploadWithTusClient } from './support/tus-client';

/** The demo app, configured from the environment exactly as `npm run start:prod` would be. */
describe('demo app', () => {
  let app: INestApplication;
  let origin: string;
  const prefix = DEMO_ENV.S3_OBJECT_PREFIX;

  beforeAll(async () => {
    serviceEnv(); // fails with instructions when the services are not configured
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.listen(0, '127.0.0.1');
    origin = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await app?.close();
  });

  it('serves the upload page, pointing at the configured tus path, and the tus client it uses', async () => {
    const page = await fetch(`${origin}/`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('<meta name="tus-endpoint" content="/uploads">');
    expect(html).toContain('<script src="tus.min.js"></script>');
    const script = await fetch(`${origin}/tus.min.js`);
    expect(script.status).toBe(200);
    expect(await script.text()).toContain('tus');
  });

  it('accepts an upload into the configured bucket and prefix, holding small chunks where configured', async () => {
    const data = randomBytes(2 * MiB + 3);
    const url = await uploadWithTusClient(data, { endpoint: `${origin}/uploads`, chunkSize: MiB });
    const client = testS3Client();
    try {
      const s3 = new S3Inspector(client, 'tus-demo-e2e');
      expect((await s3.bytes(`${prefix}${idOf(url)}`)).equals(data)).toBe(true);
      expect((await s3.info(`${prefix}${idOf(url)}.info`)).heldIn).toBe('redis'); // from TUS_HOLD_BACK_IN
    } finally {
      client.destroy();
    }
  });
});
