import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';

/**
 * What a server child and the bench say to each other over the IPC channel of `fork()`. The child reads its
 * settings from the environment (BENCH_*, S3_*, REDIS_URLS), answers `ready` once it listens, reports the S3
 * requests it made and its major garbage collections since the last `stats` (so the bench can show them per
 * upload), and exits on SIGTERM.
 */
export type ToChild = { type: 'stats' };
export type FromChild = { type: 'ready'; port: number } | ({ type: 'stats' } & ChildStats);

/** Per S3 command: how many were sent and their summed duration. */
export type S3CallStats = Record<string, { count: number; ms: number }>;

/** What a child did since the bench last asked. */
export interface ChildStats {
  s3: S3CallStats;
  /**
   * V8's major collections (mark-compacts). More than a few per GiB uploaded means V8 is in a loop of them that
   * costs the server a third to half of its CPU (BENCHMARKS.md, "Why").
   */
  majorGcs: number;
}

export interface ChildSettings {
  bucket: string;
  /** Prefix of every object key the server writes. */
  prefix: string;
  tempDir: string;
  partSize: number;
  /** Our module's `holdBackIn` (the peer has no such choice). */
  holdBackIn: 's3' | 'redis';
  /** Our module's `partUploadConcurrency` (the peer's part uploads are its own business). */
  partUploadConcurrency: number;
  /** Our module's `memoryBudget`, when BENCH_MEMORY_BUDGET sets one (else the module's default). */
  memoryBudget?: number;
}

export function childSettings(env = process.env): ChildSettings {
  const need = (name: string) => {
    const value = env[name];
    if (value === undefined) throw new Error(`${name} is not set: server children are started by bench/run.ts`);
    return value;
  };
  return {
    bucket: need('BENCH_BUCKET'),
    prefix: need('BENCH_PREFIX'),
    tempDir: need('BENCH_TEMP_DIR'),
    partSize: Number(need('BENCH_PART_SIZE')),
    holdBackIn: need('BENCH_HOLD_BACK_IN') === 'redis' ? 'redis' : 's3',
    partUploadConcurrency: Number(need('BENCH_CHILD_PART_UPLOAD_CONCURRENCY')),
    ...(env.BENCH_MEMORY_BUDGET ? { memoryBudget: Number(env.BENCH_MEMORY_BUDGET) } : {}),
  };
}

/** Something with the AWS SDK's middleware stack (an S3Client, or the aggregated S3 class). */
interface HasMiddleware {
  middlewareStack: {
    add(middleware: unknown, options: { step: 'initialize'; name: string }): void;
  };
}

type Next = (args: unknown) => Promise<unknown>;

/** Counts and times every command the client sends. One extra function call per S3 request. */
export function countS3Calls(client: HasMiddleware, stats: S3CallStats): void {
  const middleware = (next: Next, context: { commandName?: string }) => async (args: unknown) => {
    const name = (context.commandName ?? 'unknown').replace(/Command$/, '');
    const started = performance.now();
    try {
      return await next(args);
    } finally {
      const entry = (stats[name] ??= { count: 0, ms: 0 });
      entry.count += 1;
      entry.ms += performance.now() - started;
    }
  };
  client.middlewareStack.add(middleware, { step: 'initialize', name: 'benchS3CallCounter' });
}

/** Wires the IPC side: announce the port, answer stats requests, shut down cleanly on SIGTERM. */
export function serveChildProtocol(server: Server, stats: S3CallStats, close: () => Promise<void>): void {
  const send = (message: FromChild) => process.send?.(message);
  let majorGcs = 0;
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const { detail } = entry as PerformanceEntry & { detail?: { kind?: number } };
      if (detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) majorGcs++;
    }
  }).observe({ entryTypes: ['gc'] });
  process.on('message', (message: ToChild) => {
    if (message.type !== 'stats') return;
    send({ type: 'stats', s3: { ...stats }, majorGcs });
    for (const key of Object.keys(stats)) delete stats[key];
    majorGcs = 0;
  });
  // A bench that died (or gave up on a stalled service: bench/stall-watchdog.ts) must not leave servers behind.
  process.once('disconnect', () => process.exit(1));
  // A clean exit (not death by signal) is what lets --cpu-prof write its profile.
  process.once('SIGTERM', () => {
    close()
      .catch((error) => console.error('closing failed:', error))
      .finally(() => process.exit(0));
  });
  send({ type: 'ready', port: (server.address() as AddressInfo).port });
}
