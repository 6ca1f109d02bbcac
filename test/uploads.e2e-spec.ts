import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { MiddlewareConsumer, Module, NestModule } from '@nestjs/common';
import { S3Store, TUS_STORE, TusDataStore, Upload, UploadLock, WriteLimits } from '@nestjs-tus/s3';
import { waitFor } from './support/eventually';
import { createUpload, stalledPatch } from './support/raw-http';
import { serviceEnv } from './support/s3-env';
import { b64, MiB, randomPayload, startTestApp, TestApp } from './support/test-app';
import { idOf, uploadWithTusClient } from './support/tus-client';

/** Real tus client, real S3: whatever the chunk sizes, the final object is byte-identical to what was sent. */
describe('uploads with tus-js-client into S3', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t.close();
  });

  async function expectStored(url: string, data: Buffer): Promise<string> {
    const id = idOf(url);
    const stored = await t.s3.bytes(`${t.prefix}${id}`);
    expect(stored.length).toBe(data.length);
    expect(stored.equals(data)).toBe(true);
    return id;
  }

  it('stores a whole file sent in one PATCH, with ASCII-only metadata on the object and the original on HEAD', async () => {
    const data = randomPayload(12 * MiB + 123);
    const url = await uploadWithTusClient(data, {
      endpoint: t.endpoint,
      metadata: { filename: 'Menü.pdf', filetype: 'application/pdf' },
    });
    const id = await expectStored(url, data);

    const head = await t.s3.head(`${t.prefix}${id}`);
    expect(head.Metadata).toEqual({ filename: 'Men?.pdf', filetype: 'application/pdf' });
    expect(head.ContentType).toBe('application/pdf');

    const response = await fetch(url, { method: 'HEAD', headers: { 'Tus-Resumable': '1.0.0' } });
    expect(response.status).toBe(200);
    expect(response.headers.get('upload-offset')).toBe(String(data.length));
    expect(response.headers.get('upload-metadata')).toBe(
      `filename ${b64('Menü.pdf')},filetype ${b64('application/pdf')}`,
    );

    // Layout: the final object and the info object, nothing held back, no multipart upload left.
    expect(await t.s3.keys(`${t.prefix}${id}`)).toEqual([`${t.prefix}${id}`, `${t.prefix}${id}.info`]);
    expect(await t.s3.multipartUploads(`${t.prefix}${id}`)).toBe(0);
    // Up to two parts (storeWholeUpTo) and sent in one PATCH: one PutObject, whose ETag has no part count.
    expect(head.ETag).toMatch(/^"[0-9a-f]{32}"$/);
  });

  it.each([
    ['one byte more than storeWholeUpTo, in one PATCH', 16 * MiB + 1, undefined, /^"[0-9a-f]{32}-3"$/],
    ['12 MiB in 3 MiB PATCHes (the first does not complete it)', 12 * MiB, 3 * MiB, /^"[0-9a-f]{32}-\d+"$/],
  ])('stores %s in parts, as its ETag shows', async (_, size, chunkSize, etag) => {
    const data = randomPayload(size);
    const url = await uploadWithTusClient(data, { endpoint: t.endpoint, ...(chunkSize ? { chunkSize } : {}) });
    const id = await expectStored(url, data);
    expect((await t.s3.head(`${t.prefix}${id}`)).ETag).toMatch(etag);
    expect(await t.s3.multipartUploads(`${t.prefix}${id}`)).toBe(0);
  });

  it.each([
    ['1 MiB chunks (below the 5 MiB part minimum)', 1 * MiB, 9 * MiB + 7],
    ['chunks of 5 MiB + 1 byte (straddling part bounds)', 5 * MiB + 1, 17 * MiB + 5],
    ['3,000,001-byte chunks', 3_000_001, 13 * MiB],
    ['64 KiB chunks', 64 * 1024, 6 * MiB + 1],
  ])('stores an upload sent in %s', async (_, chunkSize, size) => {
    const data = randomPayload(size);
    const url = await uploadWithTusClient(data, { endpoint: t.endpoint, chunkSize });
    const id = await expectStored(url, data);
    // Held-back chunks now in the final object are deleted after the last PATCH is answered.
    const left = [`${t.prefix}${id}`, `${t.prefix}${id}.info`];
    await waitFor(async () => JSON.stringify(await t.s3.keys(`${t.prefix}${id}`)) === JSON.stringify(left));
  });

  it('stores a file smaller than a part whole: no multipart upload, one object with ASCII-only metadata', async () => {
    const data = randomPayload(3 * MiB + 5);
    const created = await fetch(t.endpoint, {
      method: 'POST',
      headers: {
        'Tus-Resumable': '1.0.0',
        'Upload-Length': String(data.length),
        'Upload-Metadata': `filename ${b64('Menü.txt')},filetype ${b64('text/plain')}`,
      },
    });
    expect(created.status).toBe(201);
    const url = new URL(created.headers.get('location')!, t.endpoint).toString();
    const id = idOf(url);
    expect(await t.s3.multipartUploads(`${t.prefix}${id}`)).toBe(0);
    await uploadWithTusClient(data, { endpoint: t.endpoint, uploadUrl: url, chunkSize: MiB });
    await expectStored(url, data);
    expect(await t.s3.multipartUploads(`${t.prefix}${id}`)).toBe(0);
    const head = await t.s3.head(`${t.prefix}${id}`);
    expect(head.Metadata).toEqual({ filename: 'Men?.txt', filetype: 'text/plain' });
    expect(head.ContentType).toBe('text/plain');
    const left = [`${t.prefix}${id}`, `${t.prefix}${id}.info`];
    await waitFor(async () => JSON.stringify(await t.s3.keys(`${t.prefix}${id}`)) === JSON.stringify(left));
  });

  it.each([
    ['in parts', 24 * MiB + 99, /^"[0-9a-f]{32}-\d+"$/],
    ['stored whole', 12 * MiB + 99, /^"[0-9a-f]{32}"$/],
  ])('resumes, with tus-js-client, an upload whose connection dropped mid-PATCH (%s)', async (_, size, etag) => {
    const data = randomPayload(size);
    const url = await createUpload(t.endpoint, data.length);
    const socket = await stalledPatch(url, 0, data.length, data.subarray(0, 10 * MiB));
    await new Promise((r) => setTimeout(r, 300));
    socket.destroy(); // the network goes away mid-body
    // The server saves what arrived before the connection dropped.
    const saved = await pollOffset(url, (offset) => offset > 0);
    expect(saved).toBeGreaterThan(0);
    expect(saved).toBeLessThanOrEqual(10 * MiB);

    const resumedUrl = await uploadWithTusClient(data, { uploadUrl: url, endpoint: t.endpoint });
    expect(resumedUrl).toBe(url);
    const id = await expectStored(url, data);
    expect((await t.s3.head(`${t.prefix}${id}`)).ETag).toMatch(etag);
  });

  it('stores zero-length uploads', async () => {
    const url = await uploadWithTusClient(Buffer.alloc(0), { endpoint: t.endpoint, metadata: { filename: 'empty' } });
    await expectStored(url, Buffer.alloc(0));
  });
});

async function pollOffset(url: string, done: (offset: number) => boolean): Promise<number> {
  let offset = -1;
  for (let i = 0; i < 50; i++) {
    const response = await fetch(url, { method: 'HEAD', headers: { 'Tus-Resumable': '1.0.0' } });
    offset = Number(response.headers.get('upload-offset'));
    if (done(offset)) return offset;
    await new Promise((r) => setTimeout(r, 100));
  }
  return offset;
}

/** Every chunk the store read of a request body, as Node's HTTP parser handed it over. */
const chunksRead: Buffer[] = [];

/** The module's own store, with each body's `read` watched. */
function watchingStore(store: S3Store): TusDataStore {
  return new Proxy(store, {
    get(target, name, receiver) {
      if (name !== 'write') return Reflect.get(target, name, receiver);
      return (upload: Upload, body: Readable, lock: UploadLock, limits: WriteLimits) => {
        const read = body.read.bind(body);
        body.read = (size?: number) => {
          const chunk = read(size) as Buffer | null;
          if (chunk) chunksRead.push(chunk);
          return chunk;
        };
        return target.write(upload, body, lock, limits);
      };
    },
  });
}

/**
 * Once the store has copied a chunk of a request body, it frees the chunk's memory at once instead of leaving it to
 * the garbage collector (see ChunkRelease): the bytes must land whole all the same.
 */
describe('request bodies, freed chunk by chunk as they are copied', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({
      customize: (builder) =>
        builder.overrideProvider(TUS_STORE).useFactory({ factory: watchingStore, inject: [S3Store] }),
    });
  });
  afterAll(async () => {
    await t.close();
  });

  it('frees what the parser handed over, and stores every byte', async () => {
    const data = randomPayload(20 * MiB + 11);
    const url = await uploadWithTusClient(data, { endpoint: t.endpoint });

    const stored = await t.s3.bytes(`${t.prefix}${idOf(url)}`);
    expect(stored.equals(data)).toBe(true);
    // Each was copied into a slab of the memory budget (ample here), then freed.
    expect(chunksRead.length).toBeGreaterThanOrEqual(data.length / (64 * 1024));
    expect(chunksRead.filter((chunk) => chunk.byteLength > 0).length).toBe(0); // a count: a failure would print megabytes
  });
});

/**
 * Small PATCHes held back in Redis: each body is copied into slabs and its chunks freed at once; the slabs stay in
 * the instance's segment cache, to cut parts from without reading Redis back, until their part is in S3.
 */
describe('small bodies held back in Redis, freed once in parts', () => {
  let t: TestApp;

  beforeAll(async () => {
    const { redisUrls } = serviceEnv();
    if (redisUrls.length === 0) throw new Error('REDIS_URLS is not set: run through `npm test`');
    t = await startTestApp({
      options: {
        holdBackIn: 'redis',
        redis: { urls: redisUrls, keyPrefix: `tus-e2e-${randomBytes(3).toString('hex')}:` },
      },
      customize: (builder) =>
        builder.overrideProvider(TUS_STORE).useFactory({ factory: watchingStore, inject: [S3Store] }),
    });
  });
  afterAll(async () => {
    await t.close();
  });

  it('frees every chunk of the 1 MiB PATCHes once the upload is complete, and stores every byte', async () => {
    chunksRead.length = 0;
    const data = randomPayload(20 * MiB + 11);
    const url = await uploadWithTusClient(data, { endpoint: t.endpoint, chunkSize: MiB });

    const stored = await t.s3.bytes(`${t.prefix}${idOf(url)}`);
    expect(stored.equals(data)).toBe(true);
    expect(chunksRead.length).toBeGreaterThanOrEqual(data.length / (64 * 1024));
    expect(chunksRead.filter((chunk) => chunk.byteLength > 0).length).toBe(0); // a count: a failure would print megabytes
  });
});

/**
 * Small PATCHes held back in S3 (the default) or in Redis: the instance keeps their bytes in the very slabs they were
 * received in, outside the memory budget (for chunk objects; for Redis, the segment cache), and gives the slabs back
 * to it once their part is in S3, where the next PATCH reuses them at once. With a budget of a few slabs and several
 * uploads at once, a slab given back too early would be overwritten while a part is still cut from it.
 */
describe.each(['s3', 'redis'] as const)(
  'small bodies held back in %s, in slabs the budget takes back',
  (holdBackIn) => {
    let t: TestApp;

    beforeAll(async () => {
      const redis =
        holdBackIn === 'redis'
          ? { urls: serviceEnv().redisUrls, keyPrefix: `tus-e2e-${randomBytes(3).toString('hex')}:` }
          : undefined;
      t = await startTestApp({ options: { memoryBudget: 4 * MiB, holdBackIn, ...(redis ? { redis } : {}) } });
    });
    afterAll(async () => {
      await t.close();
    });

    it('stores every byte of four uploads sent at once in 1 MiB PATCHes', async () => {
      const uploads = [9 * MiB + 3, 11 * MiB, 12 * MiB + 77, 10 * MiB + 1].map((size) => randomPayload(size));
      const urls = await Promise.all(
        uploads.map((data) => uploadWithTusClient(data, { endpoint: t.endpoint, chunkSize: MiB })),
      );

      for (const [i, url] of urls.entries()) {
        const stored = await t.s3.bytes(`${t.prefix}${idOf(url)}`);
        expect(stored.equals(uploads[i])).toBe(true);
      }
    });
  },
);

/** The SHA-256 of each PATCH body as an app middleware saw it: it keeps the chunks and hashes them at the end. */
const tappedBodies: string[] = [];

@Module({})
class BodyTapModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer
      .apply((req: IncomingMessage, _res: ServerResponse, next: () => void) => {
        if (req.method !== 'PATCH') return next();
        const chunks: Buffer[] = [];
        // Watches without reading: paused, so the chunks wait for the module, which reads them and so emits them here.
        req.on('data', (chunk: Buffer) => chunks.push(chunk)).pause();
        req.on('end', () => tappedBodies.push(createHash('sha256').update(Buffer.concat(chunks)).digest('hex')));
        next();
      })
      .forRoutes('*');
  }
}

describe('a request body that an app middleware also reads', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ imports: [BodyTapModule] });
  });
  afterAll(async () => {
    await t.close();
  });

  it('reaches both whole: the middleware keeps its chunks intact, and one PATCH stores every byte', async () => {
    const data = randomPayload(10 * MiB + 11);
    const url = await uploadWithTusClient(data, { endpoint: t.endpoint });

    // One PATCH took the whole body: the module read every chunk, not only those the listener left it.
    expect(tappedBodies).toEqual([createHash('sha256').update(data).digest('hex')]);
    const stored = await t.s3.bytes(`${t.prefix}${idOf(url)}`);
    expect(stored.equals(data)).toBe(true);
  });
});
