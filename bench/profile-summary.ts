/**
 * Summarizes a V8 .cpuprofile (from `node --cpu-prof`): self time by package/area and the top functions.
 * Usage: node .bench-tmp/build/bench/profile-summary.js bench/profiles/nest-patch-1mib.cpuprofile [top]
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export function summarize(file: string, top = 15): string {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));

  const functions = new Map<string, number>();
  const areas = new Map<string, number>();
  let total = 0;
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)!.callFrame;
    total += us;
    const where = frame.url ? `${shortUrl(frame.url)}:${frame.lineNumber + 1}` : '';
    const fn = `${frame.functionName || '(anonymous)'} ${where}`.trim();
    functions.set(fn, (functions.get(fn) ?? 0) + us);
    areas.set(areaOf(frame), (areas.get(areaOf(frame)) ?? 0) + us);
  }
  const busy = total - (areas.get('(idle)') ?? 0);
  const pct = (us: number) => `${((us / busy) * 100).toFixed(1).padStart(5)}%`;
  const lines = [
    `${basename(file)}: ${(total / 1e6).toFixed(1)} s sampled, ${(busy / 1e6).toFixed(1)} s busy (percentages of busy)`,
    '  by area:',
  ];
  for (const [area, us] of sortDesc(areas)
    .filter(([area]) => area !== '(idle)')
    .slice(0, top))
    lines.push(`    ${pct(us)}  ${area}`);
  lines.push(`  top ${top} functions (self time):`);
  for (const [fn, us] of sortDesc(functions)
    .filter(([fn]) => !fn.startsWith('(idle)'))
    .slice(0, top))
    lines.push(`    ${pct(us)}  ${fn}`);
  return lines.join('\n');
}

function areaOf(frame: ProfileNode['callFrame']): string {
  const { url, functionName } = frame;
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  if (url.startsWith('node:'))
    return `node:${url.slice(5).split('/')[0] === 'internal' ? (url.slice(5).split('/')[1] ?? 'internal') : url.slice(5)}`;
  if (url.includes('/libs/tus-s3/')) return 'this module (libs/tus-s3)';
  if (url.includes('/bench/')) return 'bench harness';
  return url;
}

function shortUrl(url: string): string {
  return url
    .replace(/^file:\/\//, '')
    .replace(/^.*node_modules\//, '')
    .replace(/^.*\/\.bench-tmp\/build\//, '');
}

function sortDesc(map: Map<string, number>): Array<[string, number]> {
  return [...map.entries()].sort((a, b) => b[1] - a[1]);
}

if (require.main === module) {
  const [file, top] = process.argv.slice(2);
  if (!file) {
    console.error('usage: profile-summary <file.cpuprofile> [top]');
    process.exit(2);
  }
  console.log(summarize(file, top ? Number(top) : undefined));
}
