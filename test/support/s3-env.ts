import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { createS3Client } from '@nestjs-tus/s3';
import { readServiceEnv, s3ConfigOf, ServiceEnv } from './service-env';

export { s3ConfigOf };
export type { ServiceEnv };

/** The real services the end-to-end tests run against: `scripts/services.sh up` and `env` provide them. */
export function serviceEnv(): ServiceEnv {
  return readServiceEnv(
    process.env,
    'run the tests with `npm test` (it starts local S3 and Redis), or export the variables from `scripts/services.sh env`',
  );
}

export function testS3Client(env = serviceEnv()): S3Client {
  return createS3Client(s3ConfigOf(env));
}

/**
 * Creates `bucket` unless it is there. Suites that build stores without the module (whose `createBucket` does this)
 * call it: the bucket is gone after a restart of the services, and such a suite may be the first to run.
 */
export async function ensureBucket(client: S3Client, bucket: string): Promise<void> {
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (error) {
    const name = (error as Error).name;
    if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw error;
  }
}
