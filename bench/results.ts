import type { ModuleSettings, Scenario, TargetName } from './config';
import type { CpuSplit } from './measure/cpu';
import type { HoldFloor } from './measure/hold-floor';
import type { ReceiveFloor } from './measure/receive-floor';
import type { SourceFingerprint } from './report/fingerprint';
import type { MachineInfo } from './report/machine';

/** What one target did in one scenario, over all rounds. */
export interface TargetResult {
  target: TargetName;
  /** MB/s (10^6 bytes per second) of each round, in the order they ran; 0 for a failed round. */
  mbps: number[];
  /** Median of `mbps`: the figure the table, the chart and the targets use. */
  median: number;
  /** Every upload of every round had the right size (and sha256 where checked). */
  verified: boolean;
  errors: string[];
  /** CPU ms per MiB uploaded, by party, over all rounds. */
  cpuMsPerMiB: CpuSplit;
  /** Server children only (b and c). */
  server?: ServerMeasurements;
  /** tus targets only: mean latency of the creation POST and of one PATCH, ms. */
  postMs?: number;
  patchMs?: number;
}

export interface ServerMeasurements {
  /** RSS once started, before any upload; and the child's VmHWM at the end of the scenario (bytes). */
  startRss: number;
  peakRss: number;
  /** Highest total size of the child's temp dir seen while its uploads ran (20 ms polling), bytes. */
  tempPeak: number;
  /** Bytes left in the temp dir right after an upload answered (largest over rounds). */
  tempAfter: number;
  /** S3 requests per upload, by command (mean over rounds), and the time they took in total per upload. */
  s3PerUpload: Record<string, number>;
  s3MsPerUpload: number;
  /** Redis commands per upload (ours only: the peer uses an in-memory locker). Server-wide counters. */
  redisPerUpload?: Record<string, number>;
  /** V8's major collections (mark-compacts) in the server per GiB uploaded, over the timed rounds. */
  majorGcsPerGiB: number;
}

export interface ScenarioResult {
  scenario: Scenario;
  targets: Record<TargetName, TargetResult>;
  /** What getting the scenario's bytes into a Node server costs with nothing done with them (the physical limit). */
  receiveFloor?: ReceiveFloor;
  /** What storing each PATCH costs, one after another, for uploads in several PATCHes (hold-floor.ts). */
  holdFloor?: HoldFloor;
}

/** One upload in one PATCH through a fresh server child. */
export interface RssSample {
  target: TargetName;
  size: number;
  startRss: number;
  peakRss: number;
  /** Highest VmRSS seen by 50 ms polling during the upload (VmHWM is the exact peak). */
  polledPeakRss: number;
  mbps: number;
  verified: boolean;
  tempAfter: number;
  error?: string;
}

export interface Check {
  name: string;
  pass: boolean;
  detail: string;
}

export interface BenchResults {
  date: string;
  quick: boolean;
  rounds: number;
  warmupRounds: number;
  /** Node options the server children ran with (none in an official run). */
  serverNodeArgs: string[];
  durationSeconds: number;
  machine: MachineInfo;
  /** The module's source as compiled for this run. */
  module: SourceFingerprint;
  /** (b)'s part and memory settings. */
  moduleSettings: ModuleSettings;
  scenarios: ScenarioResult[];
  rss: RssSample[];
  checks: Check[];
}

export function median(values: number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function mean(values: number[]): number {
  return values.length === 0 ? 0 : values.reduce((a, b) => a + b, 0) / values.length;
}

/** CPU per MiB of one target in the scenario, all parties counted (client, server, services). */
export function totalMsPerMiB(s: ScenarioResult, target: TargetName): number {
  const c = s.targets[target].cpuMsPerMiB;
  return c.client + c.server + c.services;
}

/** A target's median MB/s against (a)'s in the same scenario (0 when (a) failed). */
export function ratioToDirect(s: ScenarioResult, target: TargetName = 'nest'): number {
  const direct = s.targets.direct.median;
  return direct > 0 ? s.targets[target].median / direct : 0;
}
