import { mib, Scenario } from '../config';
import { BenchContext, startTargets } from '../context';
import { readProcStatus } from '../measure/rss';
import { dirUsage } from '../measure/temp-dir';
import type { RssSample } from '../results';
import type { ServerKind } from '../targets/server-child';
import { runRound } from './upload-round';

/**
 * Does the server's memory grow with the upload? One upload in one PATCH through a fresh child, for a small and a
 * large size: the child's VmHWM (exact peak) and VmRSS polled every 50 ms. Ours, and the peer for comparison.
 */
export async function runRssCheck(ctx: BenchContext, log: (line: string) => void): Promise<RssSample[]> {
  const samples: RssSample[] = [];
  for (const kind of ['nest', 'peer'] as ServerKind[]) {
    for (const size of [ctx.config.rssSmall, ctx.config.rssLarge]) {
      samples.push(await measureOne(ctx, kind, size));
      const s = samples[samples.length - 1];
      log(
        `  rss ${kind.padEnd(4)} ${mib(size).padStart(9)}: peak ${mib(s.peakRss)} (start ${mib(s.startRss)}), ${s.mbps.toFixed(1)} MB/s${s.error ? `  FAILED: ${s.error}` : ''}`,
      );
    }
  }
  return samples;
}

async function measureOne(ctx: BenchContext, kind: ServerKind, size: number): Promise<RssSample> {
  const label = `rss-${size / (1024 * 1024)}`;
  const running = await startTargets(ctx, label, 's3', [kind]);
  try {
    const server = running.servers[kind];
    const startRss = readProcStatus(server.pid).vmRss;
    let polledPeakRss = startRss;
    const poll = setInterval(() => {
      polledPeakRss = Math.max(polledPeakRss, readProcStatus(server.pid).vmRss);
    }, 50);
    const scenario: Scenario = {
      id: label,
      title: label,
      size,
      patchSize: size,
      uploads: 1,
      sha256: false,
      holdBackIn: 's3',
    };
    let tempAfter = 0;
    const outcome = await runRound(ctx, scenario, running.targets[kind], server.pid, () => {
      clearInterval(poll);
      tempAfter = dirUsage(running.tempDirs[kind]).bytes;
    });
    return {
      target: kind,
      size,
      startRss,
      peakRss: server.peakRss(),
      polledPeakRss,
      mbps: outcome.mbps,
      verified: outcome.verified,
      tempAfter,
      error: outcome.error,
    };
  } finally {
    await running.close();
  }
}
