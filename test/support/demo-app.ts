import './demo-env'; // first: the demo reads the environment as it loads
import { AddressInfo } from 'node:net';
import { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { AppModule } from '../../src/app.module';
import { serviceEnv } from './s3-env';

export interface DemoApp {
  app: INestApplication;
  /** e.g. http://127.0.0.1:45678 */
  origin: string;
  close(): Promise<void>;
}

/** The demo app, configured from the environment exactly as `npm run start:prod` would be, on a free port. */
export async function startDemoApp(): Promise<DemoApp> {
  serviceEnv(); // fails with instructions when the services are not configured
  const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
  const app = moduleRef.createNestApplication({ logger: ['error', 'warn'] });
  await app.listen(0, '127.0.0.1');
  const origin = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  return { app, origin, close: () => app.close() };
}
