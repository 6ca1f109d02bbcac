import { Module } from '@nestjs/common';
import { TusService } from './http/tus.service';
import {
  TUS_CLOCK,
  TUS_HELD_BYTES,
  TUS_ID_GENERATOR,
  TUS_LOCKER,
  TUS_REDIS_CLIENTS,
  TUS_S3_CLIENT,
  TUS_S3_OPTIONS,
  TUS_STORE,
} from './tus-s3.constants';
import { TusS3Lifecycle } from './tus-s3.lifecycle';
import { ConfigurableTusS3Module } from './tus-s3.module-definition';
import { tusS3Providers } from './tus-s3.providers';
import { S3Store } from './store/s3-store';

/**
 * tus 1.0.0 resumable uploads into S3. `TusS3Module.forRoot({ bucket, s3, redis, path })` or `forRootAsync(...)`;
 * see the README for every option.
 */
@Module({
  providers: [...tusS3Providers, TusService, TusS3Lifecycle],
  exports: [S3Store, TUS_STORE, TUS_S3_CLIENT, TUS_LOCKER, TUS_S3_OPTIONS, TUS_CLOCK, TUS_ID_GENERATOR, TUS_REDIS_CLIENTS, TUS_HELD_BYTES],
})
export class TusS3Module extends ConfigurableTusS3Module {}
