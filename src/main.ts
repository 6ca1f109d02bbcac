import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module';
import { demoConfigFromEnv } from './demo.config';

async function bootstrap(): Promise<void> {
  const { port, tusPath } = demoConfigFromEnv();
  const app = await NestFactory.create(AppModule);
  app.enableShutdownHooks();
  await app.listen(port);
  new Logger('Demo').log(`upload page on http://localhost:${port}/ ; tus endpoint at ${tusPath}`);
}

void bootstrap();
