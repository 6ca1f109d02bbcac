import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export interface DirUsage {
  bytes: number;
  files: number;
}

/** Total size of the regular files directly in `dir` (the servers spool flat). Files may vanish while we look. */
export function dirUsage(dir: string): DirUsage {
  let bytes = 0;
  let files = 0;
  for (const name of readdirSync(dir)) {
    try {
      const stat = statSync(join(dir, name));
      if (!stat.isFile()) continue;
      bytes += stat.size;
      files += 1;
    } catch {
      // deleted between readdir and stat
    }
  }
  return { bytes, files };
}

/**
 * Polls a directory's total size every `intervalMs` and keeps the highest value seen. A sample, so a peak shorter
 * than the interval can be missed; with 8 MiB parts spooled for hundreds of milliseconds each, 20 ms is fine.
 */
export class DirHighWater {
  private peak = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly dir: string,
    intervalMs = 20,
  ) {
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.sample();
  }

  private sample(): void {
    this.peak = Math.max(this.peak, dirUsage(this.dir).bytes);
  }

  /** Stops polling; returns the highest total size seen, in bytes. */
  stop(): number {
    clearInterval(this.timer);
    this.sample();
    return this.peak;
  }
}
