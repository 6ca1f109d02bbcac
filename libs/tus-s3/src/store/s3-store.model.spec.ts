/**
 * The store against a model of an upload (issue 11): random PATCH sizes at the model's offset through several
 * instances sharing one S3 (and Redis), PATCHes at wrong offsets, bodies that stop early, instances that die
 * mid-PATCH (their late part uploads landing after another instance took over), HEADs and deferred lengths. Every
 * offset any instance reports must agree with the model, and the final object must hold exactly the bytes
 * acknowledged. S3 in memory; in the Redis mode a redis-server of its own.
 */
import { S3Client } from '@aws-sdk/client-s3';
import fc from 'fast-check';
import Redis from 'ioredis';
import { FakeS3 } from '../../../../test/support/fake-s3';
import { freePorts, RedisMaster, waitForRedisServerBinary } from '../../../../test/support/redis-masters';
import { runScenario, RunResult, S3View } from '../../../../test/support/store-model/model-run';
import { scenarios } from '../../../../test/support/store-model/scenario';
import { StoreFleet } from '../../../../test/support/store-model/store-fleet';
import { TusS3ModuleOptions } from '../tus-s3.options';

const KiB = 1024;
const PART = 8 * KiB;
/** More runs for a deeper search: `MODEL_RUNS_SCALE=10 npx jest s3-store.model` (the suite runs 1x, ~20 s). */
const SCALE = Number(process.env.MODEL_RUNS_SCALE ?? 1);
/** Replays a failure: `MODEL_SEED=<seed> MODEL_PATH=<path>`, both as fast-check printed them. */
const REPLAY = process.env.MODEL_SEED ? { seed: Number(process.env.MODEL_SEED), path: process.env.MODEL_PATH } : {};
jest.setTimeout(60_000 * SCALE);
const s3 = new FakeS3();
const view: S3View = {
  object: async (key) => s3.body(`uploads/${key}`),
  parts: async (_key, uploadId) =>
    new Map([...(s3.uploads.get(uploadId)?.parts ?? new Map<number, { etag: string }>())].map(([n, p]) => [n, p.etag])),
};
/**
 * Parts of 8 KiB, 5 KiB at least: S3's rules at a size a spec can afford. The default memory budget is then less than
 * one slab (1 MiB): every part goes through a file. `inMemory` gives parts their slabs, and with them the transfers
 * that start while their bytes arrive (early parts and chunk objects).
 */
const base: TusS3ModuleOptions = {
  bucket: 'uploads',
  objectPrefix: 'm/',
  partSize: { min: 5 * KiB, preferred: PART },
  partUploadConcurrency: 2,
  maxSize: 64 * KiB * KiB,
};
const inMemory: Partial<TusS3ModuleOptions> = { memoryBudget: 64 * KiB * KiB };
/**
 * Uploads stored whole up to the default two parts, or (as before `storeWholeUpTo`) only those that fit in one; and
 * uploads of up to 6 parts rather than 5: so that the runs still reach parts, and their stale writers' late parts, at
 * least as often as before more uploads were stored whole.
 */
const storedWholeUpTo = fc.constantFrom(2 * PART, PART);
const MAX_PARTS = 6;

/** Runs `numRuns` scenarios, a fresh fleet each; returns how they ended (to show the runs reached what they aim at). */
async function check(options: TusS3ModuleOptions, instances: number, numRuns: number): Promise<RunResult[]> {
  const results: RunResult[] = [];
  let run = 0;
  await fc.assert(
    fc.asyncProperty(
      scenarios(PART, instances, { maxParts: MAX_PARTS }),
      storedWholeUpTo,
      async (scenario, storeWholeUpTo) => {
        s3.reset();
        const fleet = new StoreFleet({
          size: instances,
          options: { ...options, storeWholeUpTo },
          newClient: () => new S3Client({ region: 'us-east-1' }),
        });
        try {
          results.push(await runScenario(fleet, view, scenario, `model${++run}`));
        } finally {
          fleet.close();
        }
      },
    ),
    { numRuns, endOnFailure: true, ...REPLAY },
  );
  return results;
}

function summary(results: RunResult[]) {
  return {
    finished: results.filter((r) => r.finished).length,
    staleCaught: results.filter((r) => r.staleCaught).length,
    crashes: results.reduce((n, r) => n + r.crashes, 0),
    lateParts: results.reduce((n, r) => n + r.lateParts, 0),
  };
}

describe('S3Store against a model of the upload', () => {
  it('holding bytes back in S3: 3 instances, offsets always honest, final bytes exact', async () => {
    // Late parts come in clusters: per 150 runs their count ranged from 3 to 20, so 150 runs now and then fell short
    // of the check below; per 300 runs, 19-31 against its 6.
    const runs = 300 * SCALE;
    const results = [
      ...(await check(base, 3, runs - runs / 3)),
      ...(await check({ ...base, ...inMemory }, 3, runs / 3)),
    ];

    const seen = summary(results);
    expect(seen.finished + seen.staleCaught).toBe(runs);
    // The runs did what they are for: instances died, their late parts landed, and most uploads still finished.
    expect(seen.crashes).toBeGreaterThan(runs / 3);
    expect(seen.lateParts).toBeGreaterThan(runs / 50);
    expect(seen.finished).toBeGreaterThan(runs * 0.8);
  });

  describe('holding bytes back in Redis', () => {
    let master: RedisMaster;
    let redis: Redis;

    beforeAll(async () => {
      await waitForRedisServerBinary();
      const [port] = await freePorts(1, 6650);
      master = new RedisMaster(port);
      await master.start();
      redis = new Redis(master.url);
    });
    afterAll(async () => {
      redis?.disconnect();
      await master?.stop();
    });

    it('2 instances sharing one Redis: offsets always honest, final bytes exact', async () => {
      const options: TusS3ModuleOptions = {
        ...base,
        holdBackIn: 'redis',
        redis: { urls: [master.url], keyPrefix: 'model:' },
      };
      const runs = 60 * SCALE;
      const results = [
        ...(await check(options, 2, runs - runs / 3)),
        ...(await check({ ...options, ...inMemory }, 2, runs / 3)),
      ];

      const seen = summary(results);
      expect(seen.finished + seen.staleCaught).toBe(runs);
      expect(seen.crashes).toBeGreaterThan(runs / 3);
      expect(seen.finished).toBeGreaterThan(runs * 0.8);
    });
  });
});
