import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { Injectable } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { EventEmitterModule, OnEvent } from '@nestjs/event-emitter';
import { Test } from '@nestjs/testing';
import {
  TUS_CLOCK,
  TUS_ID_GENERATOR,
  TusEvents,
  TusS3Module,
  UploadCreatedEvent,
  UploadFinishedEvent,
  UploadProgressEvent,
} from '@nestjs-tus/s3';
import { s3ConfigOf, serviceEnv, testS3Client } from './support/s3-env';
import { S3Inspector } from './support/s3-inspect';
import { MiB, startTestApp, TEST_BUCKET } from './support/test-app';
import { idOf, uploadWithTusClient } from './support/tus-client';

@Injectable()
class RecordingListener {
  readonly events: Array<[string, unknown]> = [];

  @OnEvent(TusEvents.UploadCreated)
  created(event: UploadCreatedEvent) {
    this.events.push([TusEvents.UploadCreated, event]);
  }
  @OnEvent(TusEvents.UploadProgress)
  progress(event: UploadProgressEvent) {
    this.events.push([TusEvents.UploadProgress, event]);
  }
  @OnEvent(TusEvents.UploadFinished)
  finished(event: UploadFinishedEvent) {
    this.events.push([TusEvents.UploadFinished, event]);
  }
}

describe('the module in a user app', () => {
  it('is configured with forRootAsync and ConfigService, at a custom path, with overridden id generator and clock', async () => {
    const env = serviceEnv();
    const prefix = `async-${randomBytes(4).toString('hex')}/`;
    const fixedId = `fixed${randomBytes(6).toString('hex')}`;
    const moduleRef = await Test.createTestingModule({
      imports: [
        EventEmitterModule.forRoot(),
        ConfigModule.forRoot({
          ignoreEnvFile: true,
          load: [() => ({ UPLOAD_BUCKET: TEST_BUCKET, UPLOAD_PREFIX: prefix })],
        }),
        TusS3Module.forRootAsync({
          path: '/api/uploads',
          imports: [ConfigModule],
          inject: [ConfigService],
          useFactory: (config: ConfigService) => ({
            bucket: config.getOrThrow<string>('UPLOAD_BUCKET'),
            objectPrefix: config.getOrThrow<string>('UPLOAD_PREFIX'),
            s3: s3ConfigOf(env),
            createBucket: true,
          }),
        }),
      ],
    })
      .overrideProvider(TUS_ID_GENERATOR)
      .useValue(() => fixedId)
      .overrideProvider(TUS_CLOCK)
      .useValue({ now: () => new Date('2030-01-02T03:04:05.000Z') })
      .compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.listen(0, '127.0.0.1');
    const client = testS3Client(env);
    try {
      const { port } = (app.getHttpServer() as Server).address() as AddressInfo;
      const data = randomBytes(MiB);
      const url = await uploadWithTusClient(data, { endpoint: `http://127.0.0.1:${port}/api/uploads` });
      expect(url).toBe(`http://127.0.0.1:${port}/api/uploads/${fixedId}`);
      const s3 = new S3Inspector(client, TEST_BUCKET);
      expect((await s3.bytes(`${prefix}${fixedId}`)).equals(data)).toBe(true);
      const info = await s3.info(`${prefix}${fixedId}.info`);
      expect(info.createdAt).toBe('2030-01-02T03:04:05.000Z');
      expect(info.finishedAt).toBe('2030-01-02T03:04:05.000Z');
    } finally {
      await app.close();
      client.destroy();
    }
  });

  it('emits created, progress and finished events, and copies finished uploads to another bucket', async () => {
    const copyBucket = 'tus-e2e-copies';
    const t = await startTestApp({
      options: { copyOnFinish: { bucket: copyBucket, prefix: 'copies/' } },
      providers: [RecordingListener],
    });
    try {
      const data = randomBytes(6 * MiB + 1);
      const url = await uploadWithTusClient(data, {
        endpoint: t.endpoint,
        chunkSize: 2 * MiB,
        metadata: { filename: 'a.bin' },
      });
      const id = idOf(url);
      const { events } = t.app.get(RecordingListener);
      expect(events.map(([name]) => name)).toEqual([
        TusEvents.UploadCreated,
        TusEvents.UploadProgress,
        TusEvents.UploadProgress,
        TusEvents.UploadProgress,
        TusEvents.UploadProgress,
        TusEvents.UploadFinished,
      ]);
      const progress = events
        .filter(([name]) => name === TusEvents.UploadProgress)
        .map(([, e]) => (e as UploadProgressEvent).offset);
      expect(progress).toEqual([2 * MiB, 4 * MiB, 6 * MiB, 6 * MiB + 1]);
      const finished = events.at(-1)![1] as UploadFinishedEvent;
      expect(finished.upload.id).toBe(id);
      expect(finished.upload.metadata.filename).toBe('a.bin');
      expect(finished.object).toEqual({ bucket: TEST_BUCKET, key: `${t.prefix}${id}` });
      expect(finished.copy).toEqual({ bucket: copyBucket, key: `copies/${id}` });
      const copies = new S3Inspector(t.s3.client, copyBucket);
      expect((await copies.bytes(`copies/${id}`)).equals(data)).toBe(true);

      // The copy survives termination of the upload.
      const deleted = await fetch(url, { method: 'DELETE', headers: { 'Tus-Resumable': '1.0.0' } });
      expect(deleted.status).toBe(204);
      expect(await t.s3.exists(`${t.prefix}${id}`)).toBe(false);
      expect(await copies.exists(`copies/${id}`)).toBe(true);
    } finally {
      await t.close();
    }
  });

  it('refuses to boot with invalid options, naming the problem', async () => {
    await expect(startTestApp({ options: { bucket: 'Bad_Bucket' } })).rejects.toThrow(
      /bucket must be a valid S3 bucket name/,
    );
  });
});

describe('Location of new uploads', () => {
  it('includes the global prefix, and honours X-Forwarded-* only with trustProxy', async () => {
    const t = await startTestApp({ options: { trustProxy: true }, globalPrefix: 'api/v1' });
    try {
      const plain = await fetch(`${t.origin}/api/v1/files`, {
        method: 'POST',
        headers: { 'Tus-Resumable': '1.0.0', 'Upload-Length': '1' },
      });
      expect(plain.headers.get('location')).toMatch(new RegExp(`^${t.origin}/api/v1/files/[0-9a-f]{32}$`));
      const proxied = await fetch(`${t.origin}/api/v1/files`, {
        method: 'POST',
        headers: {
          'Tus-Resumable': '1.0.0',
          'Upload-Length': '1',
          'X-Forwarded-Proto': 'https',
          'X-Forwarded-Host': 'uploads.example.com',
        },
      });
      expect(proxied.headers.get('location')).toMatch(
        /^https:\/\/uploads\.example\.com\/api\/v1\/files\/[0-9a-f]{32}$/,
      );
    } finally {
      await t.close();
    }
    const untrusting = await startTestApp({ globalPrefix: 'api/v1' });
    try {
      const proxied = await fetch(`${untrusting.origin}/api/v1/files`, {
        method: 'POST',
        headers: { 'Tus-Resumable': '1.0.0', 'Upload-Length': '1', 'X-Forwarded-Host': 'evil.example.com' },
      });
      expect(proxied.headers.get('location')).toMatch(new RegExp(`^${untrusting.origin}/api/v1/files/`));
    } finally {
      await untrusting.close();
    }
  });
});
