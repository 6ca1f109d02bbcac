/**
 * Where the local services are, as `scripts/services.sh env` exports them: read by the end-to-end tests
 * (test/support/s3-env.ts) and by the bench (bench/config.ts). No imports, so the bench can compile it without the
 * project's path aliases.
 */
export interface ServiceEnv {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  redisUrls: string[];
}

/**
 * @param missing what to tell the user when S3_ENDPOINT is not set (how to start the services for this tool)
 * @param defaultRedisUrls REDIS_URLS when it is not set (comma-separated; empty: none)
 */
export function readServiceEnv(env: NodeJS.ProcessEnv, missing: string, defaultRedisUrls = ''): ServiceEnv {
  if (!env.S3_ENDPOINT) throw new Error(`S3_ENDPOINT is not set: ${missing}`);
  return {
    endpoint: env.S3_ENDPOINT,
    region: env.S3_REGION ?? 'us-east-1',
    accessKeyId: env.S3_ACCESS_KEY_ID ?? 'tusdev',
    secretAccessKey: env.S3_SECRET_ACCESS_KEY ?? 'tusdevsecret',
    redisUrls: (env.REDIS_URLS ?? defaultRedisUrls).split(',').filter(Boolean),
  };
}

/** S3 client settings for the local RGW: path-style addressing and the service's keys. */
export function s3ConfigOf(env: ServiceEnv) {
  return {
    endpoint: env.endpoint,
    region: env.region,
    forcePathStyle: true,
    credentials: { accessKeyId: env.accessKeyId, secretAccessKey: env.secretAccessKey },
  };
}
