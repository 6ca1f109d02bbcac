import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** How long a bench may go without progress before it gives up (`BENCH_STALL_MINUTES`, default 5). */
export function stallLimitMs(): number {
  const minutes = Number(process.env.BENCH_STALL_MINUTES ?? 5);
  if (!(minutes > 0)) throw new Error('BENCH_STALL_MINUTES must be a positive number of minutes');
  return minutes * 60_000;
}

export interface StallWatchdog {
  /** The run moved on (a round answered, a step ended): the quiet period starts again. */
  progress(): void;
  stop(): void;
}

/**
 * Ends a bench run that stopped moving, instead of letting it wait forever: an RGW that stops answering leaves the
 * bench's S3 and HTTP requests open with no error, and every later step (cleanup included) waits on them. After
 * `limitMs` without `progress()`, it says so on stderr with what it can find out about RGW, gives `cleanUp` up to a
 * minute, and exits with status 3. Its own timer does not keep the process alive.
 */
export function watchForStalls(limitMs: number, cleanUp: () => Promise<unknown>): StallWatchdog {
  let last = Date.now();
  let firing = false;
  const timer = setInterval(
    () => {
      const quiet = Date.now() - last;
      if (quiet < limitMs || firing) return;
      firing = true;
      console.error(
        `\nbench: no progress for ${Math.round(quiet / 1000)} s: giving up (BENCH_STALL_MINUTES sets the limit).\n` +
          stallDiagnosis(),
      );
      const deadline = new Promise((resolve) => setTimeout(resolve, 60_000));
      void Promise.race([
        cleanUp().catch((error: unknown) => console.error(`cleanup failed: ${String(error)}`)),
        deadline,
      ]).finally(() => process.exit(3));
    },
    Math.min(limitMs, 5_000),
  );
  timer.unref();
  return {
    progress: () => (last = Date.now()),
    stop: () => clearInterval(timer),
  };
}

/** The services' OSD log names the one stall seen here so far: its memstore "full" failsafe (BENCHMARKS.md, Why). */
function stallDiagnosis(): string {
  const osdLog = join(process.env.SERVICES_DIR ?? '/tmp/tus-s3-services', 'log', 'osd.0.log');
  const advice =
    'If S3 is the local RGW, restart the services (scripts/services.sh down; scripts/services.sh up) and run again.';
  if (!existsSync(osdLog)) return `S3 or Redis may have stopped answering. ${advice}`;
  const failsafe = lastLineWith(osdLog, 'full status failsafe');
  return failsafe
    ? `The local OSD's log last reported its "full" failsafe, which stops RGW from storing (is the time recent?):\n  ${failsafe}\n${advice}`
    : `S3 or Redis may have stopped answering (nothing about the OSD's failsafe in ${osdLog}). ${advice}`;
}

/** The last line containing `text` in the final megabyte of `file`. */
function lastLineWith(file: string, text: string): string | undefined {
  const size = statSync(file).size;
  const length = Math.min(size, 1024 * 1024);
  const buffer = Buffer.alloc(length);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, buffer, 0, length, size - length);
  } finally {
    closeSync(fd);
  }
  return buffer
    .toString('utf8')
    .split('\n')
    .filter((line) => line.includes(text))
    .pop();
}
