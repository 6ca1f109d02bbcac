import { Inject, MiddlewareConsumer, Module, NestModule, Type } from '@nestjs/common';
import { UploadEvents } from './events/upload-events';
import { HttpServerSetup } from './http/http-server-setup';
import { CreationRules } from './http/creation-rules';
import { ConcatenationHandler } from './http/handlers/concatenation.handler';
import { CreationHandler } from './http/handlers/creation.handler';
import { DownloadHandler } from './http/handlers/download.handler';
import { HeadHandler } from './http/handlers/head.handler';
import { OptionsHandler } from './http/handlers/options.handler';
import { PatchHandler } from './http/handlers/patch.handler';
import { TerminationHandler } from './http/handlers/termination.handler';
import { TusRequestMiddleware } from './http/tus-request.middleware';
import { TusRouter } from './http/tus-router';
import { FinishedAnnouncements } from './http/announcements';
import { UploadLocks } from './http/upload-locks';
import { UploadExpiry } from './http/upload-expiry';
import { UploadWrites } from './http/upload-writes';
import { S3Store } from './store/s3-store';
import { TusHealthIndicator } from './health/tus-health.indicator';
import { TusMetricsBinding } from './metrics/tus-metrics.binding';
import { TusMetricsMiddleware } from './metrics/tus-metrics.middleware';
import {
  TUS_CLOCK,
  TUS_CONTROLLER,
  TUS_ID_GENERATOR,
  TUS_LOCKER,
  TUS_METRICS,
  TUS_REDIS_CLIENTS,
  TUS_S3_CLIENT,
  TUS_S3_OPTIONS,
  TUS_STORE,
} from './tus-s3.constants';
import { TusS3Lifecycle } from './tus-s3.lifecycle';
import { TusSweeper } from './lifecycle/tus-sweeper';
import { ConfigurableTusS3Module } from './tus-s3.module-definition';
import { tusS3Providers } from './tus-s3.providers';

const httpProviders = [
  UploadLocks,
  FinishedAnnouncements,
  UploadWrites,
  UploadExpiry,
  CreationRules,
  OptionsHandler,
  CreationHandler,
  ConcatenationHandler,
  HeadHandler,
  PatchHandler,
  TerminationHandler,
  DownloadHandler,
  TusRouter,
  HttpServerSetup,
];

/**
 * tus 1.0.0 resumable uploads into S3. `TusS3Module.forRoot({ bucket, s3, redis, path })` or `forRootAsync(...)`;
 * see the README for every option.
 */
@Module({
  providers: [
    ...tusS3Providers,
    ...httpProviders,
    UploadEvents,
    TusS3Lifecycle,
    TusHealthIndicator,
    TusMetricsBinding,
    TusSweeper,
  ],
  exports: [
    S3Store,
    TUS_STORE,
    TUS_S3_CLIENT,
    TUS_LOCKER,
    TUS_S3_OPTIONS,
    TUS_CLOCK,
    TUS_ID_GENERATOR,
    TUS_REDIS_CLIENTS,
    TUS_METRICS,
    TusHealthIndicator,
    TusSweeper,
  ],
})
export class TusS3Module extends ConfigurableTusS3Module implements NestModule {
  constructor(@Inject(TUS_CONTROLLER) private readonly controller: Type<unknown>) {
    super();
  }

  configure(consumer: MiddlewareConsumer): void {
    // Metrics first: every request is counted, also those the module's middleware answers or guards refuse.
    consumer.apply(TusMetricsMiddleware, TusRequestMiddleware).forRoutes(this.controller);
  }
}
