import type { Scenario } from '../config';
import type { BenchContext } from '../context';
import { CpuSplit, startCpuMeter } from '../measure/cpu';
import { flushRgwGarbage } from '../measure/rgw-gc';
import type { Target, UploadOutcome } from '../targets/target';

export interface RoundOutcome {
  mbps: number;
  verified: boolean;
  error?: string;
  outcomes: UploadOutcome[];
  /** CPU ms each party used during the timed part. */
  cpu: CpuSplit;
}

/**
 * `scenario.uploads` uploads at once through `target`, timed from the first request to the last answer. Then,
 * outside the timing, every stored object is checked (size, and sha256 when the scenario asks) and deleted, and
 * RGW is asked to free the deleted data at once, so that the next round starts on an idle RGW.
 */
export async function runRound(
  ctx: BenchContext,
  scenario: Scenario,
  target: Target,
  serverPid?: number,
  /** Called as soon as the last upload answered, before any checking: for measurements of that moment. */
  onAnswered?: () => void,
): Promise<RoundOutcome> {
  target.prepare?.(scenario.size);
  const cpuMeter = startCpuMeter(serverPid, ctx.servicePids);
  const started = performance.now();
  let outcomes: UploadOutcome[];
  try {
    outcomes = await Promise.all(
      Array.from({ length: scenario.uploads }, () => target.upload(scenario.size, scenario.patchSize)),
    );
  } catch (error) {
    onAnswered?.();
    return { mbps: 0, verified: false, error: (error as Error).message, outcomes: [], cpu: cpuMeter() };
  }
  const seconds = (performance.now() - started) / 1000;
  const cpu = cpuMeter();
  onAnswered?.();
  const mbps = (scenario.size * scenario.uploads) / 1e6 / seconds;
  const problems = await verify(ctx, scenario, outcomes);
  await Promise.all(outcomes.map((o) => ctx.bucket.deletePrefix(o.key)));
  await flushRgwGarbage();
  return problems.length === 0
    ? { mbps, verified: true, outcomes, cpu }
    : { mbps: 0, verified: false, error: problems.join('; '), outcomes, cpu };
}

async function verify(ctx: BenchContext, scenario: Scenario, outcomes: UploadOutcome[]): Promise<string[]> {
  const problems: string[] = [];
  for (const { key } of outcomes) {
    const size = await ctx.bucket.sizeOf(key);
    if (size !== scenario.size) {
      problems.push(`${key}: size ${size}, expected ${scenario.size}`);
    } else if (scenario.sha256 && (await ctx.bucket.sha256Of(key)) !== ctx.payload.sha256(scenario.size)) {
      problems.push(`${key}: sha256 differs from the bytes sent`);
    }
  }
  return problems;
}
