/**
 * A small app for test/finish-crash.e2e-spec.ts, run as a child process (ts-node, see that spec). It stores under
 * FINISH_CRASH_PREFIX, copies finished uploads to FINISH_CRASH_COPY_BUCKET part by part (multipart copy forced on
 * small objects), and prints `LISTENING <port>` and one `FINISHED <json>` line per upload.finished it receives.
 *
 * With FINISH_CRASH=1 it kills itself (SIGKILL, synchronously: nothing after it runs) on the upload.progress of an
 * upload's last bytes: the store has completed the upload and recorded in the same journal save that its copy and
 * upload.finished are owed, and neither has happened yet. This is a test app's listener, not a branch in the library.
 */
import 'reflect-metadata';
import { writeSync } from 'node:fs';
import type { Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { EventEmitterModule, OnEvent } from '@nestjs/event-emitter';
import { TusEvents, TusS3Module, UploadFinishedEvent, UploadProgressEvent } from '@nestjs-tus/s3';
import { readServiceEnv, s3ConfigOf } from './service-env';

const env = readServiceEnv(process.env, 'export the variables from `scripts/services.sh env`');
const MiB = 1024 * 1024;

@Injectable()
class CrashingListener {
  @OnEvent(TusEvents.UploadProgress)
  onProgress({ upload }: UploadProgressEvent): void {
    if (process.env.FINISH_CRASH !== '1' || upload.finishedAt === null) return;
    writeSync(1, `CRASHING ${upload.id}\n`);
    process.kill(process.pid, 'SIGKILL');
  }

  @OnEvent(TusEvents.UploadFinished)
  onFinished({ upload, copy, attempt, replayed }: UploadFinishedEvent): void {
    writeSync(1, `FINISHED ${JSON.stringify({ id: upload.id, copy, attempt, replayed })}\n`);
  }
}

@Module({
  imports: [
    EventEmitterModule.forRoot(),
    TusS3Module.forRoot({
      bucket: 'tus-e2e',
      objectPrefix: process.env.FINISH_CRASH_PREFIX!,
      s3: s3ConfigOf(env),
      createBucket: true,
      redis: { urls: env.redisUrls },
      lock: { ttlMs: 2_000 },
      copyOnFinish: {
        bucket: process.env.FINISH_CRASH_COPY_BUCKET!,
        prefix: 'copies/',
        multipartAbove: 5 * MiB,
        partSize: 5 * MiB,
      },
      announcementGraceMs: 1_000,
      announcementScanMs: Number(process.env.FINISH_CRASH_SCAN_MS ?? 0),
    }),
  ],
  providers: [CrashingListener],
})
class FinishCrashAppModule {}

async function main(): Promise<void> {
  const app = await NestFactory.create(FinishCrashAppModule, { logger: ['error', 'warn'] });
  app.enableShutdownHooks();
  await app.listen(0, '127.0.0.1');
  const server = app.getHttpServer() as Server;
  writeSync(1, `LISTENING ${(server.address() as AddressInfo).port}\n`);
}

void main();
