import { randomBytes } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import { Logger, Provider } from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { Locker } from './locker/locker.interface';
import { createRedisClients } from './locker/redis-clients';
import { MemoryLocker } from './locker/memory-locker';
import { RedlockLocker } from './locker/redlock-locker';
import { MeasuredLocker } from './metrics/measured-locker';
import { TusMetrics } from './metrics/tus-metrics';
import { createHeldBytesRedis } from './store/held-bytes/redis-client';
import { RedisHeldBytes } from './store/held-bytes/redis-held-bytes';
import { createS3Client } from './store/s3-client.factory';
import { S3Objects } from './store/s3-objects';
import { S3Store } from './store/s3-store';
import {
  Clock,
  IdGenerator,
  TUS_CLOCK,
  TUS_HELD_BYTES,
  TUS_ID_GENERATOR,
  TUS_LOCKER,
  TUS_METRICS,
  TUS_REDIS_CLIENTS,
  TUS_S3_CLIENT,
  TUS_S3_OPTIONS,
  TUS_STORE,
} from './tus-s3.constants';
import { TUS_S3_MODULE_OPTIONS } from './tus-s3.module-definition';
import { resolveOptions, ResolvedTusS3Options, TusS3ModuleOptions } from './tus-s3.options';

const systemClock: Clock = { now: () => new Date() };
/** 128 random bits, hex: unguessable, and nothing in it can form another object's key. */
const randomId: IdGenerator = () => randomBytes(16).toString('hex');

export const tusS3Providers: Provider[] = [
  {
    provide: TUS_S3_OPTIONS,
    useFactory: (raw: TusS3ModuleOptions) => resolveOptions(raw),
    inject: [TUS_S3_MODULE_OPTIONS],
  },
  {
    provide: TUS_S3_CLIENT,
    useFactory: (options: ResolvedTusS3Options) => options.s3Client ?? createS3Client(options.s3),
    inject: [TUS_S3_OPTIONS],
  },
  {
    provide: TUS_METRICS,
    useFactory: (options: ResolvedTusS3Options) => TusMetrics.create(options.metrics),
    inject: [TUS_S3_OPTIONS],
  },
  { provide: TUS_CLOCK, useValue: systemClock },
  { provide: TUS_ID_GENERATOR, useValue: randomId },
  {
    provide: TUS_REDIS_CLIENTS,
    useFactory: (options: ResolvedTusS3Options): Redis[] =>
      options.redis.clients ?? (options.redis.urls.length > 0 ? createRedisClients(options.redis.urls) : []),
    inject: [TUS_S3_OPTIONS],
  },
  {
    provide: TUS_LOCKER,
    useFactory: (clients: Redis[], options: ResolvedTusS3Options, metrics: TusMetrics | null): Locker => {
      const hooks = metrics?.lockerHooks();
      let locker: Locker;
      if (clients.length > 0) {
        locker = new RedlockLocker(clients, options.lock, options.redis.keyPrefix, hooks);
      } else {
        new Logger('TusS3').warn(
          'No Redis configured: using the in-memory locker, which is safe for ONE instance only. ' +
            'Set redis.urls to run several instances.',
        );
        locker = new MemoryLocker(options.lock, hooks);
      }
      // Lock waits are timed around whichever locker it is.
      return metrics ? new MeasuredLocker(locker, metrics) : locker;
    },
    inject: [TUS_REDIS_CLIENTS, TUS_S3_OPTIONS, TUS_METRICS],
  },
  {
    // With its own Redis connection, which it closes on shutdown (the locker's clients fail fast, by design).
    provide: TUS_HELD_BYTES,
    useFactory: (options: ResolvedTusS3Options, client: S3Client): RedisHeldBytes | null =>
      options.holdBackIn === 'redis'
        ? new RedisHeldBytes(
            createHeldBytesRedis(options.redis),
            new S3Objects(client, options.bucket, options.tagIncomplete),
            {
              objectPrefix: options.objectPrefix,
              keyPrefix: options.redis.keyPrefix,
              minPartSize: options.minPartSize,
              equalParts: options.equalParts,
            },
          )
        : null,
    inject: [TUS_S3_OPTIONS, TUS_S3_CLIENT],
  },
  S3Store,
  { provide: TUS_STORE, useExisting: S3Store },
];
