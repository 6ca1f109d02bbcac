import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { createS3Client } from '../libs/tus-s3/src';
import { BenchConfig, BUCKET, HoldBackIn, PART_SIZE, s3ConfigOf, ServiceEnv, TargetName } from './config';
import { pidsNamed } from './measure/cpu';
import { RedisCommandCounter } from './measure/redis-stats';
import { BenchBucket } from './measure/s3-objects';
import { Payload } from './payload';
import { DirectTarget, sendUnsignedPayloads } from './targets/direct-target';
import { LibStorageStreamTarget } from './targets/lib-storage-target';
import { ServerChild, ServerKind } from './targets/server-child';
import type { Target } from './targets/target';
import { TusTarget } from './targets/tus-target';

/** Everything a bench step needs. */
export interface BenchContext {
  config: BenchConfig;
  env: ServiceEnv;
  payload: Payload;
  bucket: BenchBucket;
  /** The direct targets' client (built like the module builds its own). */
  s3: S3Client;
  /** The same, sending unsigned payloads, for the ceiling (see DirectTarget). */
  unsignedS3: S3Client;
  /** Starts every object key of this run, so that one prefix deletes them all. */
  runPrefix: string;
  /** Parent of the server children's temp dirs for this run. */
  tempRoot: string;
  /** radosgw, ceph-osd and redis-server: their CPU time is charged to the round that used them. */
  servicePids: number[];
  /** Redis commands served while our server's rounds run (its Redlock traffic). */
  redis: RedisCommandCounter;
}

/** The context of one bench run (`npm run bench`, `npm run bench:remote`): its clients, objects under `runPrefix`. */
export function openBenchContext(config: BenchConfig, env: ServiceEnv, runPrefix: string): BenchContext {
  const s3 = createS3Client(s3ConfigOf(env));
  return {
    config,
    env,
    payload: new Payload(),
    bucket: new BenchBucket(s3, BUCKET),
    s3,
    unsignedS3: sendUnsignedPayloads(createS3Client(s3ConfigOf(env))),
    runPrefix,
    tempRoot: join(config.workDir, 'tmp', runPrefix.replace(/-$/, '')),
    servicePids: pidsNamed(['radosgw', 'ceph-osd', 'redis-server']),
    redis: new RedisCommandCounter(env.redisUrls[0]),
  };
}

/** Closes what `openBenchContext` opened and removes the run's temp dirs (its objects are the caller's to delete). */
export function closeBenchContext(ctx: BenchContext): void {
  rmSync(ctx.tempRoot, { recursive: true, force: true });
  ctx.s3.destroy();
  ctx.unsignedS3.destroy();
  ctx.redis.close();
}

const SERVER_LETTER: Record<ServerKind, string> = { nest: 'b', peer: 'c' };

export interface RunningTargets {
  /** direct, and a tus target per server kind started (all three unless `kinds` says otherwise). */
  targets: Record<TargetName, Target>;
  servers: Record<ServerKind, ServerChild>;
  tempDirs: Record<ServerKind, string>;
  close(): Promise<void>;
}

/** The targets for one step (`label`): fresh server children, so that their peak RSS belongs to this step. */
export async function startTargets(
  ctx: BenchContext,
  label: string,
  holdBackIn: HoldBackIn,
  kinds: ServerKind[] = ['nest', 'peer'],
): Promise<RunningTargets> {
  const servers = {} as Record<ServerKind, ServerChild>;
  const tempDirs = {} as Record<ServerKind, string>;
  const targets: Partial<Record<TargetName, Target>> = {
    direct: new DirectTarget(ctx.unsignedS3, BUCKET, `${ctx.runPrefix}a-${label}/`, ctx.payload),
    libStream: new LibStorageStreamTarget(ctx.s3, BUCKET, `${ctx.runPrefix}a2-${label}/`, ctx.payload),
  };
  for (const kind of kinds) {
    const letter = SERVER_LETTER[kind];
    // The peer's ids are its object keys and the last segment of its URLs: no slash in its prefix.
    const prefix = `${ctx.runPrefix}${letter}-${label}${kind === 'nest' ? '/' : '-'}`;
    tempDirs[kind] = join(ctx.tempRoot, `${kind}-${label}`);
    servers[kind] = await ServerChild.start({
      kind,
      settings: {
        bucket: BUCKET,
        prefix,
        tempDir: tempDirs[kind],
        // The peer gets the tus servers' usual part size; its part uploads in flight are its own.
        partSize: kind === 'nest' ? ctx.config.module.partSize : PART_SIZE,
        partUploadConcurrency: ctx.config.module.partUploadConcurrency,
        holdBackIn,
      },
      cpuProfile: ctx.config.cpuProfile ? { dir: ctx.config.profileDir, name: `${kind}-${label}` } : undefined,
      nodeArgs: ctx.config.serverNodeArgs,
    });
    const keyOf = kind === 'nest' ? (id: string) => `${prefix}${id}` : (id: string) => id;
    targets[kind] = new TusTarget(kind, `${servers[kind].origin}/files`, ctx.payload, keyOf);
  }
  return {
    targets: targets as Record<TargetName, Target>, // holds direct plus the kinds started
    servers,
    tempDirs,
    close: async () => {
      for (const target of Object.values(targets)) (target as Partial<TusTarget>).close?.();
      await Promise.all(Object.values(servers).map((s) => s.stop()));
    },
  };
}
