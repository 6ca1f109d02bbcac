/**
 * `npm run bench`: throughput, memory and temp disk of this module against lib-storage (the ceiling) and
 * @tus/server + @tus/s3-store, on the local RGW and Redis. Writes BENCHMARKS.md, bench/results.svg and
 * bench/results.json (a quick or partial run writes to .bench-tmp/ instead). See BENCHMARKS.md for the method.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { evaluateChecks } from './checks';
import { BUCKET, loadConfig, serviceEnv } from './config';
import { closeBenchContext, openBenchContext } from './context';
import { flushRgwGarbage } from './measure/rgw-gc';
import { renderChart } from './report/chart';
import { fingerprintSources } from './report/fingerprint';
import { machineInfo } from './report/machine';
import { extractWhy, renderMarkdown } from './report/markdown';
import type { BenchResults, ScenarioResult } from './results';
import { runRssCheck } from './steps/rss-step';
import { runScenario } from './steps/scenario-step';
import { stallLimitMs, watchForStalls } from './stall-watchdog';

async function main(): Promise<void> {
  const started = Date.now();
  const config = loadConfig();
  const moduleSource = fingerprintSources(config.root);
  const env = serviceEnv();
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
  const runPrefix = `bench-${stamp}-${randomBytes(2).toString('hex')}-`;
  const ctx = openBenchContext(config, env, runPrefix);
  // Every step logs when it ends; a run that stops logging is waiting on a service that stopped answering.
  const watchdog = watchForStalls(stallLimitMs(), () => ctx.bucket.deletePrefix(runPrefix));
  const log = (line: string) => {
    watchdog.progress();
    console.log(line);
  };
  await ctx.bucket.ensure();
  await flushRgwGarbage();
  if (config.cpuProfile) rmSync(config.profileDir, { recursive: true, force: true });
  log(`bench ${config.quick ? '(quick) ' : ''}${config.rounds} round(s), objects under s3://${BUCKET}/${runPrefix}`);

  const scenarios: ScenarioResult[] = [];
  try {
    for (const scenario of config.scenarios) {
      log(`scenario ${scenario.id}: ${scenario.title}`);
      scenarios.push(await runScenario(ctx, scenario, log));
    }
    if (config.rssCheck) log('memory against upload size');
    const rss = config.rssCheck ? await runRssCheck(ctx, log) : [];

    const results: BenchResults = {
      date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      quick: config.quick,
      rounds: config.rounds,
      warmupRounds: config.warmupRounds,
      serverNodeArgs: config.serverNodeArgs,
      moduleSettings: config.module,
      durationSeconds: (Date.now() - started) / 1000,
      machine: machineInfo(),
      module: moduleSource,
      scenarios,
      rss,
      checks: evaluateChecks(scenarios, rss, config.module),
    };
    writeReports(results, config.output);
    log('');
    for (const c of results.checks) log(`${c.pass ? 'PASS' : 'FAIL'}  ${c.name}: ${c.detail}`);
    log(`\nwrote ${config.output.markdown} (${results.durationSeconds.toFixed(0)} s)`);
  } finally {
    const left = await ctx.bucket.deletePrefix(runPrefix);
    if (left.length > 0)
      log(`deleted ${left.length} leftover object(s) under ${runPrefix}: ${left.slice(0, 5).join(', ')}`);
    closeBenchContext(ctx);
    watchdog.stop();
  }
}

function writeReports(results: BenchResults, output: ReturnType<typeof loadConfig>['output']): void {
  for (const file of [output.markdown, output.svg, output.json]) mkdirSync(dirname(file), { recursive: true });
  const previous = existsSync(output.markdown) ? extractWhy(readFileSync(output.markdown, 'utf8')) : undefined;
  const subtitle = `${results.machine.cores} cores shared by client, server and RGW · median of ${results.rounds} round(s) · ${results.date.slice(0, 10)}`;
  writeFileSync(output.svg, renderChart(results.scenarios, subtitle));
  writeFileSync(output.json, JSON.stringify(results, null, 2) + '\n');
  writeFileSync(output.markdown, renderMarkdown(results, output.svgLink, previous));
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
