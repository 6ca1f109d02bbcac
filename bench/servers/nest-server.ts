/**
 * Server child (b): a Nest app with this module, as a user would configure it, against the local RGW and Redis.
 * Started by bench/run.ts with fork(); see child-protocol.ts for the environment it reads.
 */
import 'reflect-metadata';
import type { Server } from 'node:http';
import type { S3Client } from '@aws-sdk/client-s3';
import { NestFactory } from '@nestjs/core';
import { Module } from '@nestjs/common';
import { EventEmitterModule } from '@nestjs/event-emitter';
import { TUS_S3_CLIENT, TusS3Module } from '../../libs/tus-s3/src';
import { s3ConfigOf, serviceEnv } from '../config';
import { childSettings, countS3Calls, S3CallStats, serveChildProtocol } from './child-protocol';

async function main(): Promise<void> {
  const settings = childSettings();
  const env = serviceEnv();

  @Module({
    imports: [
      EventEmitterModule.forRoot(),
      TusS3Module.forRoot({
        path: '/files',
        bucket: settings.bucket,
        objectPrefix: settings.prefix,
        s3: s3ConfigOf(env),
        createBucket: true,
        redis: { urls: env.redisUrls },
        holdBackIn: settings.holdBackIn,
        partSize: { preferred: settings.partSize },
        partUploadConcurrency: settings.partUploadConcurrency,
        tempDir: settings.tempDir,
        ...(settings.memoryBudget !== undefined ? { memoryBudget: settings.memoryBudget } : {}),
      }),
    ],
  })
  class BenchAppModule {}

  const app = await NestFactory.create(BenchAppModule, { logger: ['error', 'warn'] });
  const stats: S3CallStats = {};
  countS3Calls(app.get<S3Client>(TUS_S3_CLIENT), stats);
  await app.listen(0, '127.0.0.1');
  serveChildProtocol(app.getHttpServer() as Server, stats, () => app.close());
}

main().catch((error) => {
  console.error('nest-server failed to start:', error);
  process.exit(1);
});
