import { S3Client } from '@aws-sdk/client-s3';
import { createHeldBytesRedis } from '../../../libs/tus-s3/src/store/held-bytes/redis-client';
import { RedisHeldBytes } from '../../../libs/tus-s3/src/store/held-bytes/redis-held-bytes';
import { S3Objects } from '../../../libs/tus-s3/src/store/s3-objects';
import { S3Store } from '../../../libs/tus-s3/src/store/s3-store';
import { resolveOptions, ResolvedTusS3Options, TusS3ModuleOptions } from '../../../libs/tus-s3/src/tus-s3.options';
import { GatedS3 } from './gated-s3';

/** One instance of the app, as far as the store goes: its own S3 client (which can die) and Redis connection. */
export interface StoreInstance {
  readonly name: string;
  readonly store: S3Store;
  readonly s3: GatedS3;
  readonly held: RedisHeldBytes | null;
}

export interface FleetConfig {
  /** Instances serving at once (a crashed one is replaced by a new one). */
  size: number;
  /** Module options of every instance: bucket, prefix, small parts; `holdBackIn` and `redis` for the Redis mode. */
  options: TusS3ModuleOptions;
  newClient: () => S3Client;
}

/**
 * Several store instances over the same S3 (and Redis), as several app processes would be. A crashed instance is
 * abandoned as it is (its S3 client answers nothing more, its Redis connection is closed) and a fresh one takes its
 * place; the crashed ones are kept only so that their held requests can land late.
 */
export class StoreFleet {
  readonly options: ResolvedTusS3Options;
  readonly live: StoreInstance[] = [];
  readonly crashed: StoreInstance[] = [];
  private started = 0;

  constructor(private readonly config: FleetConfig) {
    this.options = resolveOptions(config.options);
    for (let i = 0; i < config.size; i++) this.live.push(this.start());
  }

  /** The live instance at `index` (modulo their number). */
  at(index: number): StoreInstance {
    return this.live[index % this.live.length];
  }

  /** The instance dies: nothing it does reaches S3 or Redis any more (unless let through late); a new one replaces it. */
  crash(instance: StoreInstance): void {
    instance.s3.crash();
    instance.held?.close();
    this.live.splice(this.live.indexOf(instance), 1, this.start());
    this.crashed.push(instance);
  }

  /**
   * Closes every Redis connection (the crashed instances' are closed already) and lets the crashed instances' requests
   * fail, so that their abandoned writes end and close their files.
   */
  close(): void {
    for (const instance of this.live) instance.held?.close();
    for (const instance of this.crashed) instance.s3.bury();
  }

  private start(): StoreInstance {
    const { options } = this;
    const s3 = new GatedS3(this.config.newClient());
    const held =
      options.holdBackIn === 'redis'
        ? new RedisHeldBytes(
            createHeldBytesRedis(options.redis),
            new S3Objects(s3.client, options.bucket, options.tagIncomplete),
            {
              objectPrefix: options.objectPrefix,
              keyPrefix: options.redis.keyPrefix,
              minPartSize: options.minPartSize,
              equalParts: options.equalParts,
            },
          )
        : null;
    const clock = { now: () => new Date() };
    const newId = () => {
      throw new Error('the model names its uploads');
    };
    const store = new S3Store(s3.client, options, clock, newId, held);
    return { name: `instance${++this.started}`, store, s3, held };
  }
}
