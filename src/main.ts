import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { collectDefaultMetrics } from 'prom-client';
import { AppModule } from './app.module';
import { demoConfigFromEnv } from './demo.config';

async function bootstrap(): Promise<void> {
  const { port, tusPath } = demoConfigFromEnv();
  collectDefaultMetrics(); // process metrics beside the module's, in the same global registry /metrics serves
  const app = await NestFactory.create(AppModule);
  app.enableShutdownHooks();
  await app.listen(port);
  new Logger('Demo').log(
    `upload page on http://localhost:${port}/ ; tus endpoint at ${tusPath} ; GET /health, GET /metrics`,
  );
}

void bootstrap();
