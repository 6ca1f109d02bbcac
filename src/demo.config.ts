import type { TusS3ModuleOptions } from '@nestjs-tus/s3';

/** The token the demo accepts when DEMO_TOKEN is not set. Public knowledge: set your own outside a laptop. */
export const DEFAULT_DEMO_TOKEN = 'demo-token';

/** Everything the demo needs comes from the environment (see README, "Demo configuration"). */
export interface DemoConfig {
  port: number;
  tusPath: string;
  /** Bearer token required on the tus routes and on /events (DEMO_TOKEN). */
  token: string;
  /** Redis for the demo's own pub/sub of finished uploads: the first of REDIS_URLS; none: this instance only. */
  eventsRedisUrl: string | undefined;
  tus: TusS3ModuleOptions;
}

export function demoConfigFromEnv(env: NodeJS.ProcessEnv = process.env): DemoConfig {
  const accessKeyId = env.S3_ACCESS_KEY_ID;
  const secretAccessKey = env.S3_SECRET_ACCESS_KEY;
  const endpoint = env.S3_ENDPOINT || undefined;
  const maxSize = env.TUS_MAX_SIZE ? Number(env.TUS_MAX_SIZE) : undefined;
  const copyBucket = env.TUS_COPY_BUCKET || undefined;
  // Seconds in the environment, milliseconds in the module; '0' switches either off.
  const expireAfterSeconds = Number(env.TUS_EXPIRE_AFTER ?? 24 * 3600);
  const sweepEverySeconds = Number(env.TUS_SWEEP_EVERY ?? 3600);
  const redisUrls = (env.REDIS_URLS ?? '')
    .split(',')
    .map((u) => u.trim())
    .filter((u) => u !== '');
  return {
    port: Number(env.PORT ?? 3000),
    tusPath: env.TUS_PATH || '/files',
    token: env.DEMO_TOKEN || DEFAULT_DEMO_TOKEN,
    eventsRedisUrl: redisUrls[0],
    tus: {
      bucket: env.S3_BUCKET || 'tus-uploads',
      objectPrefix: env.S3_OBJECT_PREFIX || undefined,
      s3: {
        region: env.S3_REGION || 'us-east-1',
        endpoint,
        // Path-style addressing works with every S3-compatible server; AWS accepts it too.
        forcePathStyle: endpoint !== undefined,
        // Without explicit keys the SDK's default chain applies (env, profile, instance role...).
        credentials: accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey } : undefined,
      },
      maxSize,
      redis: { urls: redisUrls },
      // No CORS: the upload page is served by this app, same origin as the tus endpoint. Only a page served from
      // another origin needs it; then list exactly that origin, e.g. `cors: { origins: ['https://app.example.com'] }`
      // (the module allows the Authorization header the page sends; avoid '*' once uploads carry a token).
      copyOnFinish: copyBucket ? { bucket: copyBucket } : undefined,
      // Passed on as given: the module names a wrong value at boot.
      holdBackIn: (env.TUS_HOLD_BACK_IN || undefined) as TusS3ModuleOptions['holdBackIn'],
      createBucket: true,
      // Passed on as given (a wrong value is named at boot); 0 means off.
      expireAfterMs: expireAfterSeconds === 0 ? undefined : expireAfterSeconds * 1000,
      sweepEveryMs: sweepEverySeconds === 0 || expireAfterSeconds === 0 ? undefined : sweepEverySeconds * 1000,
    },
  };
}
