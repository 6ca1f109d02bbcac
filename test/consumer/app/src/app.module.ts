import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { EventEmitterModule } from '@nestjs/event-emitter';
import { TusS3Module, TusS3ModuleOptions } from '@nestjs-tus/s3';
import { BearerGuard } from './bearer.guard';
import { env } from './consumer.config';
import { UploadsListener } from './uploads.listener';

const options: TusS3ModuleOptions = {
  bucket: env('CONSUMER_BUCKET'),
  objectPrefix: env('CONSUMER_OBJECT_PREFIX'),
  createBucket: true,
  s3: {
    endpoint: env('S3_ENDPOINT'),
    region: process.env.S3_REGION ?? 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: env('S3_ACCESS_KEY_ID'), secretAccessKey: env('S3_SECRET_ACCESS_KEY') },
  },
  redis: { urls: (process.env.REDIS_URLS ?? '').split(',').filter(Boolean) },
  maxSize: 64 * 1024 * 1024,
};

@Module({
  imports: [EventEmitterModule.forRoot(), TusS3Module.forRoot({ path: '/files', ...options })],
  providers: [{ provide: APP_GUARD, useClass: BearerGuard }, UploadsListener],
})
export class AppModule {}
