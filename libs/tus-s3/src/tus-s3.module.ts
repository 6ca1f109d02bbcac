import { Inject, MiddlewareConsumer, Module, NestModule, Type } from '@nestjs/common';
import { UploadEvents } from './events/upload-events';
import { HttpServerSetup } from './http/http-server-setup';
import { TUS_REQUEST_PROVIDERS } from './http/request-providers';
import { TusRequestMiddleware } from './http/tus-request.middleware';
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

const httpProviders = [...TUS_REQUEST_PROVIDERS, HttpServerSetup];

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
