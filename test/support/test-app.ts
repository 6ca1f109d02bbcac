import { randomBytes } from 'node:crypto';
import { AddressInfo } from 'node:net';
import { INestApplication, ModuleMetadata, Provider, Type } from '@nestjs/common';
import { EventEmitterModule } from '@nestjs/event-emitter';
import { Test, TestingModuleBuilder } from '@nestjs/testing';
import { TUS_S3_OPTIONS_TYPE, TusS3Module } from '@nestjs-tus/s3';
import { s3ConfigOf, serviceEnv, testS3Client } from './s3-env';
import { S3Inspector } from './s3-inspect';

export const TEST_BUCKET = 'tus-e2e';

export interface TestApp {
  app: INestApplication;
  /** Base URL of the server, e.g. http://127.0.0.1:45678 */
  origin: string;
  /** The tus collection URL. */
  endpoint: string;
  s3: S3Inspector;
  /** Unique per app, so tests never see each other's objects. */
  prefix: string;
  close(): Promise<void>;
}

export interface TestAppOptions {
  path?: string;
  /** Module options and extras (guards, hooks, imports...) for `forRoot`. */
  options?: Partial<typeof TUS_S3_OPTIONS_TYPE>;
  /** Use Redlock over REDIS_URLS (default: the in-memory locker). */
  redis?: boolean;
  customize?: (builder: TestingModuleBuilder) => TestingModuleBuilder;
  /** Extra providers of the app, e.g. event listeners. */
  providers?: Provider[];
  /** Extra modules and controllers of the app, e.g. TerminusModule and a health controller. */
  imports?: ModuleMetadata['imports'];
  controllers?: Type<unknown>[];
  /** Nest's global prefix (`app.setGlobalPrefix`). */
  globalPrefix?: string;
}

/** A Nest app with the module, listening on a free port, storing under a fresh prefix of the test bucket. */
export async function startTestApp(opts: TestAppOptions = {}): Promise<TestApp> {
  const env = serviceEnv();
  const prefix = opts.options?.objectPrefix ?? `t-${randomBytes(6).toString('hex')}/`;
  const path = opts.path ?? '/files';
  let builder = Test.createTestingModule({
    imports: [
      EventEmitterModule.forRoot(),
      TusS3Module.forRoot({
        path,
        bucket: TEST_BUCKET,
        s3: s3ConfigOf(env),
        createBucket: true,
        objectPrefix: prefix,
        redis: { urls: opts.redis ? env.redisUrls : [] },
        ...opts.options,
      }),
      ...(opts.imports ?? []),
    ],
    controllers: opts.controllers ?? [],
    providers: opts.providers ?? [],
  });
  if (opts.customize) builder = opts.customize(builder);
  const moduleRef = await builder.compile();
  const app = moduleRef.createNestApplication({ logger: ['error', 'warn'] });
  if (opts.globalPrefix) app.setGlobalPrefix(opts.globalPrefix);
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  const client = testS3Client(env);
  return {
    app,
    origin,
    endpoint: `${origin}${opts.globalPrefix ? `/${opts.globalPrefix}` : ''}${path}`,
    s3: new S3Inspector(client, TEST_BUCKET),
    prefix,
    close: async () => {
      await app.close();
      client.destroy();
    },
  };
}

export const MiB = 1024 * 1024;

export function randomPayload(size: number): Buffer {
  return randomBytes(size);
}

export function b64(value: string): string {
  return Buffer.from(value, 'utf8').toString('base64');
}
