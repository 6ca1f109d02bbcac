import { Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { EventEmitterModule } from '@nestjs/event-emitter';
import { TerminusModule } from '@nestjs/terminus';
import { TusS3Module } from '@nestjs-tus/s3';
import { demoConfigFromEnv } from './demo.config';
import { DemoAuthGuard, UnauthorizedFilter } from './demo-auth';
import { DemoPageController } from './demo-page.controller';
import { EventsController } from './events.controller';
import { FinishedUploads } from './finished-uploads';
import { HealthController } from './health.controller';
import { MetricsController } from './metrics.controller';
import { UploadLogListener } from './upload-log.listener';

const config = demoConfigFromEnv();

@Module({
  imports: [
    EventEmitterModule.forRoot(),
    TerminusModule.forRoot(),
    TusS3Module.forRootAsync({
      path: config.tusPath,
      useFactory: () => demoConfigFromEnv().tus,
    }),
  ],
  controllers: [DemoPageController, EventsController, HealthController, MetricsController],
  providers: [
    UploadLogListener,
    FinishedUploads,
    // Every route needs the token (DEMO_TOKEN) unless marked @Public(): the tus endpoint, /events and /metrics do.
    { provide: APP_GUARD, useClass: DemoAuthGuard },
    { provide: APP_FILTER, useClass: UnauthorizedFilter },
  ],
})
export class AppModule {}
