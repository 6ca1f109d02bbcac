import { MiB, Scenario, TargetName } from '../config';
import { addCpu, CpuSplit, NO_CPU } from '../measure/cpu';
import type { RedisCommandCounts } from '../measure/redis-stats';
import { mean, median, ServerMeasurements, TargetResult } from '../results';
import type { ChildStats, S3CallStats } from '../servers/child-protocol';
import type { RoundOutcome } from './upload-round';

/** What a server child showed during one round, besides the round's own outcome. */
export interface RoundServerView extends ChildStats {
  tempPeak: number;
  tempAfter: number;
  redis?: RedisCommandCounts;
}

/** Adds up one target's rounds in one scenario and turns them into its result. */
export class TargetTally {
  private readonly mbps: number[] = [];
  private readonly errors: string[] = [];
  private readonly postMs: number[] = [];
  private readonly patchMs: number[] = [];
  private cpu: CpuSplit = NO_CPU;
  private readonly s3: S3CallStats = {};
  private majorGcs = 0;
  private readonly redis: RedisCommandCounts = {};
  private tempPeak = 0;
  private tempAfter = 0;

  constructor(readonly target: TargetName) {}

  add(round: number, outcome: RoundOutcome, server?: RoundServerView): void {
    this.mbps.push(outcome.mbps);
    if (outcome.error) this.errors.push(`round ${round}: ${outcome.error}`);
    this.cpu = addCpu(this.cpu, outcome.cpu);
    for (const o of outcome.outcomes) {
      if (o.postMs !== undefined) this.postMs.push(o.postMs);
      this.patchMs.push(...(o.patchMs ?? []));
    }
    if (!server) return;
    this.tempPeak = Math.max(this.tempPeak, server.tempPeak);
    this.tempAfter = Math.max(this.tempAfter, server.tempAfter);
    this.majorGcs += server.majorGcs;
    for (const [cmd, s] of Object.entries(server.s3)) {
      const entry = (this.s3[cmd] ??= { count: 0, ms: 0 });
      entry.count += s.count;
      entry.ms += s.ms;
    }
    for (const [cmd, n] of Object.entries(server.redis ?? {})) this.redis[cmd] = (this.redis[cmd] ?? 0) + n;
  }

  /** `memory` is given for server targets: RSS once started and the child's peak at the end. */
  result(scenario: Scenario, memory?: { startRss: number; peakRss: number }): TargetResult {
    const uploads = this.mbps.length * scenario.uploads;
    const mebibytes = (uploads * scenario.size) / MiB;
    const result: TargetResult = {
      target: this.target,
      mbps: this.mbps,
      median: median(this.mbps),
      verified: this.errors.length === 0,
      errors: this.errors,
      cpuMsPerMiB: addCpu(NO_CPU, this.cpu, 1 / mebibytes),
    };
    if (!memory) return result;
    const server: ServerMeasurements = {
      ...memory,
      tempPeak: this.tempPeak,
      tempAfter: this.tempAfter,
      s3PerUpload: perUpload(Object.fromEntries(Object.entries(this.s3).map(([cmd, s]) => [cmd, s.count])), uploads),
      s3MsPerUpload: Object.values(this.s3).reduce((sum, s) => sum + s.ms, 0) / uploads,
      redisPerUpload: this.target === 'nest' ? perUpload(this.redis, uploads) : undefined,
      majorGcsPerGiB: this.majorGcs / (mebibytes / 1024),
    };
    return { ...result, postMs: mean(this.postMs), patchMs: mean(this.patchMs), server };
  }
}

function perUpload(counts: Record<string, number>, uploads: number): Record<string, number> {
  return Object.fromEntries(Object.entries(counts).map(([cmd, n]) => [cmd, n / uploads]));
}
