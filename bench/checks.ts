import { mib, MiB, ModuleSettings, TargetName, tempDiskPerUpload } from './config';
import { physicalLimit } from './physical-limit';
import { Check, ratioToDirect, RssSample, ScenarioResult } from './results';

const RSS_LIMIT = 200 * MiB;
const RSS_GROWTH = 1.25;

/** The targets this module is held to, all measured within one run. */
export function evaluateChecks(scenarios: ScenarioResult[], rss: RssSample[], settings: ModuleSettings): Check[] {
  const checks: Check[] = [];
  const ratio = (id: string, min: number, name: string) => {
    const s = scenarios.find((x) => x.scenario.id === id);
    if (!s) return;
    const ours = s.targets.nest.median;
    const direct = s.targets.direct.median;
    const r = ratioToDirect(s);
    const limit = physicalLimit(s);
    const where =
      limit && limit.holdMsPerMiB > 0 ? ` holding bytes in ${s.scenario.holdBackIn === 's3' ? 'S3' : 'Redis'}` : '';
    const by = limit?.boundBy === 'sequential' ? ', storing its PATCHes one after another' : '';
    const best = limit ? `; the best any tus server${where} could reach here${by}: ${limit.bestRatio.toFixed(2)}x` : '';
    checks.push({
      name,
      pass: r >= min,
      detail: `${ours.toFixed(1)} / ${direct.toFixed(1)} MB/s = ${r.toFixed(3)}x (need >= ${min}x${best})`,
    });
  };
  ratio('one-patch', 0.9, 'one big PATCH >= 0.9x direct');
  ratio('patch-1mib-redis', 0.5, '1 MiB PATCHes held back in Redis >= 0.5x direct');
  ratio('patch-1mib-s3', 0.25, '1 MiB PATCHes held back in S3 (the default) >= 0.25x direct');
  ratio('concurrent', 0.85, 'concurrent uploads >= 0.85x concurrent direct');

  const concurrent = scenarios.find((x) => x.scenario.id === 'concurrent');
  const concurrentPeak = concurrent?.targets.nest.server?.peakRss;
  if (concurrent && concurrentPeak !== undefined) {
    checks.push({
      name: `peak RSS of our server < ${mib(RSS_LIMIT)} with ${concurrent.scenario.uploads} concurrent uploads`,
      pass: concurrentPeak < RSS_LIMIT,
      detail: mib(concurrentPeak),
    });
  }

  const small = rss.find((s) => s.target === 'nest' && s.size === Math.min(...rss.map((x) => x.size)));
  const large = rss.find((s) => s.target === 'nest' && s.size === Math.max(...rss.map((x) => x.size)));
  if (small && large) {
    checks.push({
      name: `peak RSS of our server < ${mib(RSS_LIMIT)} during the ${mib(large.size)} upload`,
      pass: large.verified && large.peakRss < RSS_LIMIT,
      detail: `${mib(large.peakRss)}${large.verified ? '' : ' (upload failed)'}`,
    });
    checks.push({
      name: `peak RSS does not grow with size (${mib(large.size)} within +25% of ${mib(small.size)})`,
      pass: large.verified && small.verified && large.peakRss <= small.peakRss * RSS_GROWTH,
      detail: `${mib(large.peakRss)} vs ${mib(small.peakRss)} (${((large.peakRss / small.peakRss - 1) * 100).toFixed(1)}%)`,
    });
  }

  const perUpload = tempDiskPerUpload(settings);
  const over = scenarios.filter((s) => (s.targets.nest.server?.tempPeak ?? 0) > s.scenario.uploads * perUpload);
  checks.push({
    name: `temp disk <= (${settings.partUploadConcurrency} + 1) x ${mib(settings.partSize)} per concurrent upload`,
    pass: over.length === 0,
    detail: scenarios
      .map(
        (s) => `${s.scenario.id} ${mib(s.targets.nest.server?.tempPeak ?? 0)} / ${mib(s.scenario.uploads * perUpload)}`,
      )
      .join(', '),
  });
  const leftovers = [
    ...scenarios.filter((s) => (s.targets.nest.server?.tempAfter ?? 0) > 0).map((s) => s.scenario.id),
    ...rss.filter((s) => s.target === 'nest' && s.tempAfter > 0).map((s) => `rss ${mib(s.size)}`),
  ];
  checks.push({
    name: 'temp dir empty after every upload',
    pass: leftovers.length === 0,
    detail: leftovers.length === 0 ? 'empty' : `files left after: ${leftovers.join(', ')}`,
  });

  const failed: string[] = [];
  for (const s of scenarios) {
    for (const t of Object.values(s.targets)) if (!t.verified) failed.push(`${s.scenario.id}/${label(t.target)}`);
  }
  for (const s of rss) if (!s.verified) failed.push(`rss ${mib(s.size)}/${label(s.target)}`);
  checks.push({
    name: 'every upload stored correctly (size; sha256 where checked), all targets',
    pass: failed.length === 0,
    detail: failed.length === 0 ? 'all verified' : `failed: ${failed.join(', ')}`,
  });
  return checks;
}

function label(target: TargetName): string {
  return { direct: 'a', libStream: "a'", nest: 'b', peer: 'c' }[target];
}
