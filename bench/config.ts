import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { readServiceEnv, s3ConfigOf as rgwS3Config, ServiceEnv } from '../test/support/service-env';

export type { ServiceEnv };

export const MiB = 1024 * 1024;
export const PART_SIZE = 8 * MiB;
/** Our module's default `partUploadConcurrency`: parts of one PATCH in flight at once. */
export const OUR_PART_CONCURRENCY = 4;
/**
 * (a)'s parts: the fastest direct upload measured on this machine, not the tus servers' part size. 256 MiB from
 * memory, medians of 5-6 alternating rounds (2026-11-27): 8 MiB parts 4 at a time 460-490 MB/s, 8 at a time 490-497,
 * 16 at a time 498-523; 32 MiB parts 8 at a time 561-587, 16 at a time 553; 64 MiB parts 4 or 8 at a time 575-578;
 * one PutObject 446. RGW spends less CPU per MiB on bigger parts (3.3 ms against 3.7 for 8 MiB ones). 64 MiB:
 * 32 MiB parts 556, 16 MiB 568, 8 MiB 542, one PutObject 490. 16 concurrent uploads of 16 MiB: one PutObject each
 * 627, one 32 MiB part 562, two 8 MiB parts 573, so what fits in one part is one PutObject.
 */
export const DIRECT_PART_SIZE = 32 * MiB;
export const DIRECT_PART_CONCURRENCY = 8;
export const BUCKET = 'tus-bench';
/** Where (b) holds back bytes between PATCHes: the module's option `holdBackIn`. */
export type HoldBackIn = 's3' | 'redis';

export type TargetName = 'direct' | 'libStream' | 'nest' | 'peer';
export const TARGETS: readonly TargetName[] = ['direct', 'libStream', 'nest', 'peer'];
/** The targets that upload straight into S3, without a tus server in between. */
export const DIRECT_TARGETS: readonly TargetName[] = ['direct', 'libStream'];

/**
 * The targets in the order they run in round `round` (1-based; warm-ups count from 1 too): a, a', b, c, then a', b,
 * c, a, and so on. Where a target runs in a round moves its speed here by several percent (in A/Bs, of two identical
 * servers the one right after (a) ran 8% slower), so every target takes every place in turn.
 */
export function roundOrder(round: number): TargetName[] {
  const shift = (((round - 1) % TARGETS.length) + TARGETS.length) % TARGETS.length;
  return [...TARGETS.slice(shift), ...TARGETS.slice(0, shift)];
}
export const TARGET_LABELS: Record<TargetName, string> = {
  direct: '(a) direct from memory',
  libStream: "(a') lib-storage, stream-fed",
  nest: '(b) this module',
  peer: '(c) @tus/server + s3-store',
};

export interface Scenario {
  id: string;
  title: string;
  /** Bytes of each upload. */
  size: number;
  /** Bytes per PATCH (the last one may be shorter). Direct uploads ignore it. */
  patchSize: number;
  /** Uploads running at once. */
  uploads: number;
  /** Compare a sha256 of the stored bytes (besides the size, which is always checked). */
  sha256: boolean;
  /** Where (b) holds back bytes between PATCHes in this scenario. */
  holdBackIn: HoldBackIn;
}

/**
 * How (b) is configured: the module's defaults, unless BENCH_PREFERRED_PART_SIZE, BENCH_PART_UPLOAD_CONCURRENCY or
 * BENCH_MEMORY_BUDGET (bytes) set its `partSize.preferred`, `partUploadConcurrency` or `memoryBudget` (a partial run).
 */
export interface ModuleSettings {
  partSize: number;
  partUploadConcurrency: number;
  /** Unset: the module's default, `(partUploadConcurrency + 1) × partSize`. */
  memoryBudget?: number;
}

export function moduleSettings(env: NodeJS.ProcessEnv = process.env): ModuleSettings {
  const wholeNumber = (name: string): number | undefined => {
    const value = env[name];
    if (!value) return undefined;
    const parsed = Number(value);
    if (!Number.isSafeInteger(parsed) || parsed < 0) throw new Error(`${name} must be a whole number, got ${value}`);
    return parsed;
  };
  const memoryBudget = wholeNumber('BENCH_MEMORY_BUDGET');
  return {
    partSize: wholeNumber('BENCH_PREFERRED_PART_SIZE') || PART_SIZE,
    partUploadConcurrency: wholeNumber('BENCH_PART_UPLOAD_CONCURRENCY') || OUR_PART_CONCURRENCY,
    ...(memoryBudget !== undefined ? { memoryBudget } : {}),
  };
}

/** What the module holds itself to on disk per concurrent upload: a PATCH's parts in flight plus the one filling. */
export function tempDiskPerUpload(settings: ModuleSettings): number {
  return (settings.partUploadConcurrency + 1) * settings.partSize;
}

export interface BenchConfig {
  quick: boolean;
  rounds: number;
  /** Rounds run first and thrown away, so fresh server children are warm (JIT) when measuring starts. */
  warmupRounds: number;
  scenarios: Scenario[];
  /** The RSS check: peak RSS of our server for one PATCH of `rssSmall` bytes vs one of `rssLarge`. */
  rssSmall: number;
  rssLarge: number;
  /** Run the RSS check (by default only with all scenarios, or with BENCH_RSS=1). */
  rssCheck: boolean;
  cpuProfile: boolean;
  /** Node options for both server children (BENCH_SERVER_NODE_ARGS), e.g. V8 heap flags; none by default. */
  serverNodeArgs: string[];
  /** (b)'s part and memory settings. */
  module: ModuleSettings;
  root: string;
  /** Scratch space (git-ignored): compiled bench, temp dirs of the servers. */
  workDir: string;
  /** Where BENCHMARKS.md, results.svg and results.json go. */
  output: { markdown: string; svg: string; json: string; svgLink: string };
  profileDir: string;
}

export function loadConfig(env = process.env): BenchConfig {
  const quick = env.BENCH_QUICK === '1';
  const cpuProfile = env.BENCH_CPU_PROF === '1';
  const root = projectRoot();
  const workDir = join(root, '.bench-tmp');
  const size = (full: number, small: number) => (quick ? small : full);
  const big = size(256 * MiB, 32 * MiB);
  const series = size(64 * MiB, 16 * MiB);
  const each = size(16 * MiB, 8 * MiB);
  const concurrent = size(16, 4);
  const smallFile = size(4 * MiB, MiB);
  const all: Scenario[] = [
    {
      id: 'one-patch',
      title: `${mib(big)} in one PATCH`,
      size: big,
      patchSize: big,
      uploads: 1,
      sha256: false,
      holdBackIn: 's3',
    },
    {
      id: 'patch-1mib-redis',
      title: `${mib(series)} in 1 MiB PATCHes, held back in Redis`,
      size: series,
      patchSize: MiB,
      uploads: 1,
      sha256: true,
      holdBackIn: 'redis',
    },
    {
      id: 'patch-1mib-s3',
      title: `${mib(series)} in 1 MiB PATCHes, held back in S3`,
      size: series,
      patchSize: MiB,
      uploads: 1,
      sha256: true,
      holdBackIn: 's3',
    },
    {
      id: 'patch-5mib1',
      title: `${mib(series)} in 5 MiB + 1 B PATCHes`,
      size: series,
      patchSize: 5 * MiB + 1,
      uploads: 1,
      sha256: true,
      holdBackIn: 's3',
    },
    {
      id: 'concurrent',
      title: `${concurrent} concurrent x ${mib(each)}`,
      size: each,
      patchSize: each,
      uploads: concurrent,
      sha256: false,
      holdBackIn: 's3',
    },
    {
      // Files smaller than a part (photos, documents): what an upload costs beyond its bytes decides here.
      id: 'small-files',
      title: `${concurrent} concurrent x ${mib(smallFile)} (less than a part)`,
      size: smallFile,
      patchSize: smallFile,
      uploads: concurrent,
      sha256: false,
      holdBackIn: 's3',
    },
  ];
  const only = (env.BENCH_SCENARIOS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const scenarios = only.length > 0 ? all.filter((s) => only.includes(s.id)) : all;
  const official =
    !quick &&
    !cpuProfile &&
    only.length === 0 &&
    env.BENCH_ROUNDS === undefined &&
    !env.BENCH_MEMORY_BUDGET &&
    !env.BENCH_PREFERRED_PART_SIZE &&
    !env.BENCH_PART_UPLOAD_CONCURRENCY &&
    !env.BENCH_SERVER_NODE_ARGS;
  const outDir = official ? root : join(workDir, quick ? 'quick' : 'partial');
  return {
    quick,
    // Nine: with five, one slow or fast round of a target moved a median by up to 10% on this machine, and the
    // targets' verdicts with it (the issue asks for medians a rerun puts on the same side).
    rounds: Number(env.BENCH_ROUNDS ?? (quick ? 1 : 9)),
    warmupRounds: Number(env.BENCH_WARMUP ?? (quick ? 0 : 2)),
    scenarios,
    rssSmall: size(256 * MiB, 32 * MiB),
    rssLarge: size(1024 * MiB, 128 * MiB),
    rssCheck: only.length === 0 || env.BENCH_RSS === '1',
    cpuProfile,
    serverNodeArgs: (env.BENCH_SERVER_NODE_ARGS ?? '').split(/\s+/).filter(Boolean),
    module: moduleSettings(env),
    root,
    workDir,
    output: official
      ? {
          markdown: join(root, 'BENCHMARKS.md'),
          svg: join(root, 'bench', 'results.svg'),
          json: join(root, 'bench', 'results.json'),
          svgLink: 'bench/results.svg',
        }
      : {
          markdown: join(outDir, 'BENCHMARKS.md'),
          svg: join(outDir, 'results.svg'),
          json: join(outDir, 'results.json'),
          svgLink: 'results.svg',
        },
    profileDir: join(root, 'bench', 'profiles'),
  };
}

export function serviceEnv(env = process.env): ServiceEnv {
  const missing = 'run `npm run bench` (it starts the local services) or eval "$(scripts/services.sh env)"';
  return readServiceEnv(env, missing, 'redis://127.0.0.1:6379');
}

/**
 * The client config every party uses against RGW: the tests' settings, plus checksums only where an operation needs
 * them (RGW refuses the SDK's default aws-chunked CRC32 bodies; the @tus/s3-store peer builds its own client).
 */
export function s3ConfigOf(env: ServiceEnv) {
  return {
    ...rgwS3Config(env),
    requestChecksumCalculation: 'WHEN_REQUIRED' as const,
    responseChecksumValidation: 'WHEN_REQUIRED' as const,
  };
}

export function mib(bytes: number): string {
  const value = bytes / MiB;
  return `${Number.isInteger(value) ? value : value.toFixed(1)} MiB`;
}

/** The nearest directory with a package.json: the project, whether this runs compiled (.bench-tmp/build) or not. */
function projectRoot(): string {
  let dir = __dirname;
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('package.json not found above ' + __dirname);
    dir = parent;
  }
  return dir;
}
