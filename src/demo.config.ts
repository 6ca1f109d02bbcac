import type { TusS3ModuleOptions } from '@nestjs-tus/s3';

/** Everything the demo needs comes from the environment (see README, "Configuration"). */
export interface DemoConfig {
  port: number;
  tusPath: string;
  tus: TusS3ModuleOptions;
}

export function demoConfigFromEnv(env: NodeJS.ProcessEnv = process.env): DemoConfig {
  const accessKeyId = env.S3_ACCESS_KEY_ID;
  const secretAccessKey = env.S3_SECRET_ACCESS_KEY;
  const endpoint = env.S3_ENDPOINT || undefined;
  const maxSize = env.TUS_MAX_SIZE ? Number(env.TUS_MAX_SIZE) : undefined;
  const copyBucket = env.TUS_COPY_BUCKET || undefined;
  return {
    port: Number(env.PORT ?? 3000),
    tusPath: env.TUS_PATH || '/files',
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
      redis: { urls: (env.REDIS_URLS ?? '').split(',').filter((u) => u.trim() !== '') },
      cors: { origins: '*' },
      copyOnFinish: copyBucket ? { bucket: copyBucket } : undefined,
      // Passed on as given: the module names a wrong value at boot.
      holdBackIn: (env.TUS_HOLD_BACK_IN || undefined) as TusS3ModuleOptions['holdBackIn'],
      createBucket: true,
    },
  };
}
