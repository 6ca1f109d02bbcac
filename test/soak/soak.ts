/**
 * A bounded soak (issue 11): several app instances (child processes) sharing S3 and Redis, several tus-js-client
 * clients uploading random files with random chunk sizes to random instances, while a random instance is SIGKILLed
 * and restarted every few seconds; the clients resume on any live instance. At the end every finished upload's
 * object is compared by sha256 with what was sent. Exits 1 on any mismatch, failed or stuck upload.
 *
 *   scripts/soak.sh   (SOAK_SECONDS per mode, default 60; SOAK_MODES=s3,redis; SOAK_CLIENTS=4; SOAK_INSTANCES=3;
 *                      SOAK_KILL_EVERY_S=6; SOAK_MAX_MIB=24)
 */
import { randomBytes } from 'node:crypto';
import { S3Client } from '@aws-sdk/client-s3';
import { readServiceEnv, s3ConfigOf } from '../support/service-env';
import { InstanceFleet } from './instance-fleet';
import { runUpload } from './soak-client';
import { cleanUp } from '../support/prefix-cleanup';
import { sha256, storedSha256, storedText } from './soak-storage';

const MiB = 1024 * 1024;
/** The end-to-end tests' bucket (test/support/test-app.ts, not imported: it needs Jest's path mapping). */
const TEST_BUCKET = 'tus-e2e';
const numberEnv = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const config = {
  seconds: numberEnv('SOAK_SECONDS', 60),
  modes: (process.env.SOAK_MODES ?? 's3,redis').split(',') as Array<'s3' | 'redis'>,
  clients: numberEnv('SOAK_CLIENTS', 4),
  instances: numberEnv('SOAK_INSTANCES', 3),
  killEverySeconds: numberEnv('SOAK_KILL_EVERY_S', 6),
  maxBytes: numberEnv('SOAK_MAX_MIB', 24) * MiB,
  /** After the deadline, uploads under way get this long to finish before they count as stuck. */
  drainSeconds: numberEnv('SOAK_DRAIN_S', 90),
};

interface Tally {
  mode: string;
  started: number;
  finished: number;
  verified: number;
  mismatched: string[];
  failed: string[];
  stuck: number;
  bytes: number;
  retries: number;
  kills: number;
  /** Instances started again after a kill that never came up. */
  failedStarts: string[];
  seconds: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const pickOne = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)];

/** 0 B to `max`: empty files, small ones (below a part), a few MiB, and multi-part ones. */
function randomSize(max: number): number {
  const kind = Math.random();
  if (kind < 0.05) return 0;
  if (kind < 0.3) return Math.floor(Math.random() * 64 * 1024);
  if (kind < 0.65) return Math.floor(Math.random() * 5 * MiB);
  return Math.floor(Math.random() * max);
}

const CHUNK_SIZES = [256 * 1024, 1 * MiB, 3 * MiB, 5 * MiB + 17, 8 * MiB, 16 * MiB, Infinity];

async function soak(mode: 's3' | 'redis'): Promise<Tally> {
  const env = readServiceEnv(process.env, 'run it through scripts/soak.sh');
  const tag = randomBytes(4).toString('hex');
  const prefix = `soak-${tag}/`;
  const keyPrefix = `soak-${tag}:`;
  const fleet = new InstanceFleet({
    objectPrefix: prefix,
    holdBackIn: mode,
    redis: { urls: env.redisUrls, keyPrefix },
    // A killed instance keeps its locks until their lease runs out: 3 s, while clients retry for longer.
    lock: { ttlMs: 3000, waitMs: 8000 },
    announcementScanMs: 0,
  });
  const s3 = new S3Client(s3ConfigOf(env));
  const tally: Tally = {
    mode,
    started: 0,
    finished: 0,
    verified: 0,
    mismatched: [],
    failed: [],
    stuck: 0,
    bytes: 0,
    retries: 0,
    kills: 0,
    failedStarts: [],
    seconds: 0,
  };
  const began = Date.now();
  const elapsed = () => Math.round((Date.now() - began) / 1000);
  try {
    await fleet.start(config.instances);
    console.log(`[${mode}] ${config.instances} instances up: ${fleet.live().join(' ')}`);
    const deadline = Date.now() + config.seconds * 1000;
    let running = true;
    const killer = (async () => {
      while (running) {
        await sleep(config.killEverySeconds * 1000 * (0.5 + Math.random()));
        if (!running) break;
        const killed = await fleet.killOne();
        if (killed) console.log(`[${mode}] ${elapsed()} s: SIGKILL ${killed}; live: ${fleet.live().join(' ')}`);
      }
    })();
    const finishedUploads: Array<{ url: string; hash: string; size: number }> = [];
    const client = async () => {
      while (Date.now() < deadline) {
        const data = randomBytes(randomSize(config.maxBytes));
        tally.started++;
        const end = await runUpload({ data, chunkSize: pickOne(CHUNK_SIZES) }, `${fleet.pick()}/files`, () =>
          fleet.pick(),
        );
        tally.retries += end.retries;
        if (end.error || !end.url) tally.failed.push(`${end.url ?? '(not created)'}: ${end.error?.message}`);
        else {
          tally.finished++;
          tally.bytes += data.length;
          finishedUploads.push({ url: end.url, hash: sha256(data), size: data.length });
        }
      }
    };
    const clients = Promise.all(Array.from({ length: config.clients }, client));
    const drained = await Promise.race([
      clients.then(() => true),
      sleep((config.seconds + config.drainSeconds) * 1000).then(() => false),
    ]);
    running = false;
    if (!drained) tally.stuck = tally.started - tally.finished - tally.failed.length;
    await killer;
    tally.kills = fleet.kills;
    for (const upload of finishedUploads) {
      const id = upload.url.slice(upload.url.lastIndexOf('/') + 1);
      const stored = await storedSha256(s3, TEST_BUCKET, `${prefix}${id}`);
      if (stored === upload.hash) tally.verified++;
      else {
        const journal = await storedText(s3, TEST_BUCKET, `${prefix}${id}.info`);
        tally.mismatched.push(`${id} (${upload.size} B): ${stored ? 'other bytes' : 'no object'}; journal: ${journal}`);
      }
    }
  } finally {
    tally.seconds = Math.round((Date.now() - began) / 1000);
    await fleet.stop();
    tally.failedStarts = [...fleet.failedStarts];
    await cleanUp(s3, TEST_BUCKET, prefix, env.redisUrls[0], keyPrefix);
    s3.destroy();
  }
  return tally;
}

async function main(): Promise<void> {
  const tallies: Tally[] = [];
  for (const mode of config.modes) tallies.push(await soak(mode));
  console.log(
    `\nsoak: ${config.seconds} s per mode, ${config.clients} clients, ${config.instances} instances, a kill every ~${config.killEverySeconds} s`,
  );
  console.table(
    tallies.map((t) => ({
      'held in': t.mode,
      started: t.started,
      finished: t.finished,
      verified: t.verified,
      MiB: Math.round(t.bytes / MiB),
      kills: t.kills,
      retries: t.retries,
      failed: t.failed.length,
      mismatched: t.mismatched.length,
      stuck: t.stuck,
      'failed starts': t.failedStarts.length,
      seconds: t.seconds,
    })),
  );
  const problems = tallies.flatMap((t) => [
    ...t.failed.map((f) => `[${t.mode}] failed: ${f}`),
    ...t.mismatched.map((m) => `[${t.mode}] mismatch: ${m}`),
    ...(t.stuck > 0 ? [`[${t.mode}] ${t.stuck} uploads stuck`] : []),
    ...t.failedStarts.map((f) => `[${t.mode}] an instance did not start: ${f}`),
  ]);
  for (const problem of problems) console.log(problem);
  console.log(problems.length === 0 ? 'soak: OK' : `soak: FAILED (${problems.length} problems)`);
  process.exit(problems.length === 0 ? 0 : 1);
}

void main().catch((error: unknown) => {
  console.error(error);
  process.exit(2);
});
