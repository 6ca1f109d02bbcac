import { Module } from '@nestjs/common';
import { EventEmitterModule } from '@nestjs/event-emitter';
import { TusS3Module } from '@nestjs-tus/s3';
import { demoConfigFromEnv } from './demo.config';
import { DemoPageController } from './demo-page.controller';
import { UploadLogListener } from './upload-log.listener';

const config = demoConfigFromEnv();

@Module({
  imports: [
    EventEmitterModule.forRoot(),
    TusS3Module.forRootAsync({
      path: config.tusPath,
      useFactory: () => demoConfigFromEnv().tus,
    }),
  ],
  controllers: [DemoPageController],
  providers: [UploadLogListener],
})
export class AppModule {}
