import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module';
import { report } from './consumer.config';

async function bootstrap(): Promise<void> {
  const app = await NestFactory.create(AppModule, { logger: ['error', 'warn'] });
  app.enableShutdownHooks();
  await app.listen(0, '127.0.0.1');
  report('listening', { port: Number(new URL(await app.getUrl()).port) });
}

bootstrap().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
