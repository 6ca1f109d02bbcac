import { randomBytes } from 'node:crypto';
import { GetObjectCommand, ListPartsCommand } from '@aws-sdk/client-s3';
import fc from 'fast-check';
import { cleanUp } from './support/prefix-cleanup';
import { ensureBucket, serviceEnv, testS3Client } from './support/s3-env';
import { runScenario, RunResult, S3View } from './support/store-model/model-run';
import { scenarios } from './support/store-model/scenario';
import { StoreFleet } from './support/store-model/store-fleet';
import { MiB, TEST_BUCKET } from './support/test-app';

/**
 * The model spec of the store (libs/tus-s3/src/store/s3-store.model.spec.ts) against the real RGW and Redis, bytes
 * held back in Redis: fewer and smaller scenarios (RGW's parts are 5 MiB at least), its own object prefix and Redis
 * key prefix, both removed afterwards.
 */
describe('S3Store against a model of the upload, on RGW and Redis', () => {
  const env = serviceEnv();
  const tag = randomBytes(4).toString('hex');
  const prefix = `model-${tag}/`;
  const keyPrefix = `tus-model-${tag}:`;
  const client = testS3Client(env);
  const view: S3View = {
    object: async (key) => {
      try {
        const object = await client.send(new GetObjectCommand({ Bucket: TEST_BUCKET, Key: key }));
        return Buffer.from(await object.Body!.transformToByteArray());
      } catch (error) {
        if ((error as Error).name === 'NoSuchKey') return undefined;
        throw error;
      }
    },
    parts: async (key, uploadId) => {
      const listed = await client.send(new ListPartsCommand({ Bucket: TEST_BUCKET, Key: key, UploadId: uploadId }));
      return new Map((listed.Parts ?? []).map((p) => [p.PartNumber!, p.ETag!]));
    },
  };

  beforeAll(() => ensureBucket(client, TEST_BUCKET));
  afterAll(async () => {
    await cleanUp(client, TEST_BUCKET, prefix, env.redisUrls[0], keyPrefix);
    client.destroy();
  });

  it('holding bytes back in Redis, 2 instances: offsets always honest, final bytes exact', async () => {
    if (env.redisUrls.length === 0) throw new Error('REDIS_URLS is not set: run through `npm test`');
    const part = 5 * MiB;
    const results: RunResult[] = [];
    let run = 0;
    // Uploads of up to two parts: stored whole (the default `storeWholeUpTo`), or in parts once more than one.
    const storeWholeUpTo = fc.constantFrom(2 * part, part);
    await fc.assert(
      fc.asyncProperty(scenarios(part, 2, { maxCommands: 8, maxParts: 2 }), storeWholeUpTo, async (scenario, upTo) => {
        const fleet = new StoreFleet({
          size: 2,
          options: {
            bucket: TEST_BUCKET,
            objectPrefix: prefix,
            partSize: { min: part, preferred: part },
            storeWholeUpTo: upTo,
            holdBackIn: 'redis',
            redis: { urls: env.redisUrls, keyPrefix },
          },
          newClient: () => testS3Client(env),
        });
        try {
          results.push(await runScenario(fleet, view, scenario, `run${++run}`));
        } finally {
          fleet.close();
        }
      }),
      { numRuns: 20, endOnFailure: true },
    );

    expect(results.filter((r) => r.finished || r.staleCaught)).toHaveLength(20);
    expect(results.reduce((n, r) => n + r.crashes, 0)).toBeGreaterThan(3);
  }, 120_000);
});
