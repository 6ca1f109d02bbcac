import { DIRECT_TARGETS, mib, roundOrder, Scenario, TargetName, TARGETS } from '../config';
import { BenchContext, RunningTargets, startTargets } from '../context';
import { measureHoldFloor } from '../measure/hold-floor';
import { RedisCommandCounter } from '../measure/redis-stats';
import { measureReceiveFloor } from '../measure/receive-floor';
import { flushRgwGarbage } from '../measure/rgw-gc';
import { readProcStatus } from '../measure/rss';
import { dirUsage, DirHighWater } from '../measure/temp-dir';
import type { ScenarioResult, TargetResult } from '../results';
import { RoundServerView, TargetTally } from './target-tally';
import { RoundOutcome, runRound } from './upload-round';

type Log = (line: string) => void;

/**
 * One scenario: fresh server children, warm-up rounds (not counted), then `rounds` rounds in which the targets take
 * turns, so that drift of the shared machine spreads over all of them, in an order that rotates every round
 * (`roundOrder`), so that none always runs in the same place.
 */
export async function runScenario(ctx: BenchContext, scenario: Scenario, log: Log): Promise<ScenarioResult> {
  const running = await startTargets(ctx, scenario.id, scenario.holdBackIn);
  const startRss = {
    nest: readProcStatus(running.servers.nest.pid).vmRss,
    peer: readProcStatus(running.servers.peer.pid).vmRss,
  };
  const tallies = Object.fromEntries(TARGETS.map((t) => [t, new TargetTally(t)])) as Record<TargetName, TargetTally>;
  await flushRgwGarbage();
  try {
    for (let round = 1; round <= ctx.config.warmupRounds; round++) {
      for (const name of roundOrder(round)) {
        const pid = isServer(name) ? running.servers[name].pid : undefined;
        const outcome = await runRound(ctx, scenario, running.targets[name], pid);
        log(roundLine(scenario, `warm-up ${round}`, name, outcome) + ' (not counted)');
      }
    }
    for (let round = 1; round <= ctx.config.rounds; round++) {
      for (const name of roundOrder(round)) {
        const { outcome, server } = await measuredRound(ctx, scenario, running, name);
        tallies[name].add(round, outcome, server);
        log(roundLine(scenario, `round ${round}`, name, outcome));
      }
    }
    const targets = {} as Record<TargetName, TargetResult>;
    for (const name of TARGETS) {
      const memory = isServer(name)
        ? { startRss: startRss[name], peakRss: running.servers[name].peakRss() }
        : undefined;
      targets[name] = tallies[name].result(scenario, memory);
      const server = targets[name].server;
      if (server)
        log(
          `  ${scenario.id} ${name}: peak RSS ${mib(server.peakRss)}, temp peak ${mib(server.tempPeak)}, left ${server.tempAfter} B`,
        );
    }
    const receiveFloor = await measureReceiveFloor(scenario, ctx.payload);
    log(
      `  ${scenario.id} receive floor: client ${receiveFloor.clientMsPerMiB.toFixed(2)} + server ${receiveFloor.serverMsPerMiB.toFixed(2)} ms/MiB`,
    );
    const holdFloor = await measureHoldFloor(ctx, scenario);
    if (holdFloor)
      log(
        `  ${scenario.id} ${holdFloor.held ? 'hold' : 'part'} floor (${holdFloor.in}): client ${holdFloor.clientMsPerMiB.toFixed(2)} + services ${holdFloor.servicesMsPerMiB.toFixed(2)} ms/MiB, ${holdFloor.wallMsPerMiB?.toFixed(2)} ms/MiB one after another`,
      );
    return { scenario, targets, receiveFloor, ...(holdFloor ? { holdFloor } : {}) };
  } finally {
    await running.close();
  }
}

/** One round of one target, with what its server child did meanwhile: temp dir, S3 requests, Redis commands. */
async function measuredRound(
  ctx: BenchContext,
  scenario: Scenario,
  running: RunningTargets,
  name: TargetName,
): Promise<{ outcome: RoundOutcome; server?: RoundServerView }> {
  if (!isServer(name)) return { outcome: await runRound(ctx, scenario, running.targets[name]) };
  const child = running.servers[name];
  const tempDir = running.tempDirs[name];
  await child.stats(); // forget whatever came before this round
  const redisBefore = name === 'nest' ? await ctx.redis.snapshot() : undefined;
  const temp = new DirHighWater(tempDir);
  let tempPeak = 0;
  let tempAfter = 0;
  const outcome = await runRound(ctx, scenario, running.targets[name], child.pid, () => {
    tempPeak = temp.stop();
    tempAfter = dirUsage(tempDir).bytes;
  });
  return {
    outcome,
    server: {
      tempPeak,
      tempAfter,
      ...(await child.stats()),
      redis: redisBefore && RedisCommandCounter.diff(redisBefore, await ctx.redis.snapshot()),
    },
  };
}

function isServer(name: TargetName): name is 'nest' | 'peer' {
  return !DIRECT_TARGETS.includes(name);
}

function roundLine(scenario: Scenario, label: string, name: TargetName, outcome: RoundOutcome): string {
  const noise =
    outcome.cpu.other > 200 ? `  (other processes used ${(outcome.cpu.other / 1000).toFixed(1)} CPU-s)` : '';
  const failure = outcome.error ? `  FAILED: ${outcome.error}` : '';
  return `  ${scenario.id} ${label} ${name.padEnd(9)} ${outcome.mbps.toFixed(1).padStart(7)} MB/s${noise}${failure}`;
}
