import { DEMO_AUTH, DEMO_ENV } from './support/demo-env'; // first: the demo reads the environment as it loads
import { randomBytes } from 'node:crypto';
import { DemoApp, startDemoApp } from './support/demo-app';
import { call } from './support/raw-http';
import { testS3Client } from './support/s3-env';
import { S3Inspector } from './support/s3-inspect';
import { openEventStream } from './support/sse';
import { MiB } from './support/test-app';
import { idOf, uploadWithTusClient } from './support/tus-client';

/** The demo app, configured from the environment exactly as `npm run start:prod` would be. */
describe('demo app', () => {
  let demo: DemoApp;
  let origin: string;
  const prefix = DEMO_ENV.S3_OBJECT_PREFIX;

  beforeAll(async () => {
    demo = await startDemoApp();
    origin = demo.origin;
  });

  afterAll(async () => {
    await demo?.close();
  });

  it('serves the upload page, pointing at the configured tus path, and the Uppy build it uses, without a token', async () => {
    const page = await fetch(`${origin}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("connect-src 'self'");
    const html = await page.text();
    expect(html).toContain('<meta name="tus-endpoint" content="/uploads">');
    // A token of one's own is never put into the public page (only the documented default is).
    expect(html).toContain('<meta name="demo-token" content="">');
    expect(html).not.toContain(DEMO_ENV.DEMO_TOKEN);
    expect(html).toContain('<script type="module" src="demo.js"></script>');
    for (const [path, type, text] of [
      ['/demo.js', 'text/javascript', "from './uppy/uppy.min.mjs'"],
      ['/uppy/uppy.min.mjs', 'text/javascript', 'Dashboard'],
      ['/uppy/uppy.min.css', 'text/css', '.uppy-Dashboard'],
    ]) {
      const asset = await fetch(`${origin}${path}`);
      expect(asset.status).toBe(200);
      expect(asset.headers.get('content-type')).toContain(type);
      expect(await asset.text()).toContain(text);
    }
    expect((await fetch(`${origin}/uppy/package.json`)).status).toBe(404);
    expect((await fetch(`${origin}/uppy/..%2F..%2Fpackage.json`)).status).toBe(404);
  });

  it('accepts an upload with the token into the configured bucket and prefix, holding small chunks where configured', async () => {
    const data = randomBytes(2 * MiB + 3);
    const url = await uploadWithTusClient(data, {
      endpoint: `${origin}/uploads`,
      chunkSize: MiB,
      headers: { ...DEMO_AUTH },
    });
    const client = testS3Client();
    try {
      const s3 = new S3Inspector(client, 'tus-demo-e2e');
      expect((await s3.bytes(`${prefix}${idOf(url)}`)).equals(data)).toBe(true);
      expect((await s3.info(`${prefix}${idOf(url)}.info`)).heldIn).toBe('redis'); // from TUS_HOLD_BACK_IN
    } finally {
      client.destroy();
    }
  });

  it('answers 401 with a short plain-text body to tus requests without the right Bearer token', async () => {
    const create = { 'Upload-Length': 3 };
    for (const headers of [{}, { Authorization: 'Bearer wrong' }, { Authorization: `Basic ${DEMO_ENV.DEMO_TOKEN}` }]) {
      const reply = await call('POST', `${origin}/uploads`, { ...create, ...headers });
      expect(reply.status).toBe(401);
      expect(reply.get('content-type')).toBe('text/plain; charset=utf-8');
      expect(reply.get('www-authenticate')).toMatch(/^Bearer /);
      expect(reply.text.length).toBeLessThan(100);
      expect(reply.text).toMatch(/token/);
    }
    // ?token= is for /events only: query strings end up in logs.
    expect((await call('POST', `${origin}/uploads?token=${DEMO_ENV.DEMO_TOKEN}`, create)).status).toBe(401);
    const created = await call('POST', `${origin}/uploads`, { ...create, ...DEMO_AUTH });
    expect(created.status).toBe(201);
    for (const method of ['HEAD', 'PATCH', 'DELETE', 'GET']) {
      expect((await call(method, created.get('location')!)).status).toBe(401);
    }
    expect((await call('DELETE', created.get('location')!, DEMO_AUTH)).status).toBe(204);
  });

  it('streams /events only with the token, as a header or as ?token=', async () => {
    const refused = await call('GET', `${origin}/events`, { 'tus-resumable': undefined });
    expect(refused.status).toBe(401);
    expect(refused.get('content-type')).toBe('text/plain; charset=utf-8');
    expect((await call('GET', `${origin}/events?token=wrong`, { 'tus-resumable': undefined })).status).toBe(401);
    for (const [url, headers] of [
      [`${origin}/events?token=${encodeURIComponent(DEMO_ENV.DEMO_TOKEN)}`, {}],
      [`${origin}/events`, { ...DEMO_AUTH }],
    ] as const) {
      const stream = await openEventStream(url, headers);
      try {
        expect(stream.status).toBe(200);
        expect(stream.headers['content-type']).toBe('text/event-stream');
        const ready = await stream.next((event) => event.type === 'ready');
        expect(JSON.parse(ready.data)).toEqual({ instance: expect.stringMatching(/^[0-9a-f]{6}$/) });
      } finally {
        stream.close();
      }
    }
  });

  it('sends no CORS headers: the page is served from the same origin', async () => {
    const preflight = await call('OPTIONS', `${origin}/uploads`, {
      Origin: 'https://elsewhere.example',
      'Access-Control-Request-Method': 'POST',
      'Access-Control-Request-Headers': 'authorization, tus-resumable, upload-length',
    });
    expect(preflight.get('access-control-allow-origin')).toBeUndefined();
    const post = await call('POST', `${origin}/uploads`, {
      Origin: 'https://elsewhere.example',
      'Upload-Length': 1,
      ...DEMO_AUTH,
    });
    expect(post.status).toBe(201);
    expect(post.get('access-control-allow-origin')).toBeUndefined();
  });
});
