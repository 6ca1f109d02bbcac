import { S3Client } from '@aws-sdk/client-s3';
import { createS3Client } from '@nestjs-tus/s3';

/** The real services the end-to-end tests run against: `scripts/services.sh up` and `env` provide them. */
export interface ServiceEnv {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  redisUrls: string[];
}

export function serviceEnv(): ServiceEnv {
  const endpoint = process.env.S3_ENDPOINT;
  if (!endpoint) {
    throw new Error('S3_ENDPOINT is not set: run the tests with `npm test` (it starts local S3 and Redis), or export the variables from `scripts/services.sh env`');
  }
  return {
    endpoint,
    region: process.env.S3_REGION ?? 'us-east-1',
    accessKeyId: process.env.S3_ACCESS_KEY_ID ?? 'tusdev',
    secretAccessKey: process.env.S3_SECRET_ACCESS_KEY ?? 'tusdevsecret',
    redisUrls: (process.env.REDIS_URLS ?? '').split(',').filter(Boolean),
  };
}

export function s3ConfigOf(env: ServiceEnv) {
  return {
    endpoint: env.endpoint,
    region: env.region,
    forcePathStyle: true,
    credentials: { accessKeyId: env.accessKeyId, secretAccessKey: env.secretAccessKey },
  };
}

export function testS3Client(env = serviceEnv()): S3Client {
  return createS3Client(s3ConfigOf(env));
}
