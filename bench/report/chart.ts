import { TARGET_LABELS, TARGETS } from '../config';
import type { ScenarioResult } from '../results';

const COLORS = { direct: '#4a5568', libStream: '#a0aec0', nest: '#2b6cb0', peer: '#dd6b20' } as const;
const WIDTH = 860;
const HEIGHT = 460;
const MARGIN = { top: 92, right: 24, bottom: 64, left: 72 };

/** Grouped bars: MB/s per scenario for (a), (b), (c), with value labels and a legend. Plain SVG, no library. */
export function renderChart(scenarios: ScenarioResult[], subtitle: string): string {
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const max = niceCeiling(Math.max(1, ...scenarios.flatMap((s) => TARGETS.map((t) => s.targets[t].median))));
  const y = (v: number) => MARGIN.top + plotH - (v / max) * plotH;
  const groupW = plotW / Math.max(1, scenarios.length);
  const barW = Math.min(64, (groupW * 0.78) / TARGETS.length);
  const out: string[] = [];

  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="Helvetica, Arial, sans-serif" font-size="13">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`,
    `<text x="${MARGIN.left}" y="26" font-size="17" font-weight="bold" fill="#1a202c">Upload throughput into S3 (Ceph RGW), MB/s — higher is better</text>`,
    `<text x="${MARGIN.left}" y="46" fill="#4a5568">${esc(subtitle)}</text>`,
  );
  for (let i = 0; i <= 5; i++) {
    const v = (max / 5) * i;
    out.push(
      `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${y(v)}" y2="${y(v)}" stroke="${i === 0 ? '#2d3748' : '#e2e8f0'}"/>`,
      `<text x="${MARGIN.left - 8}" y="${y(v) + 4}" text-anchor="end" fill="#4a5568">${round(v)}</text>`,
    );
  }
  out.push(
    `<text transform="translate(18 ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle" fill="#4a5568">MB/s (10^6 bytes/s, median)</text>`,
  );

  scenarios.forEach((s, g) => {
    const x0 = MARGIN.left + g * groupW + (groupW - barW * TARGETS.length) / 2;
    TARGETS.forEach((t, i) => {
      const r = s.targets[t];
      const x = x0 + i * barW;
      const top = y(r.median);
      const failed = !r.verified;
      out.push(
        `<rect x="${x + 2}" y="${top}" width="${barW - 4}" height="${MARGIN.top + plotH - top}" fill="${COLORS[t]}"${failed ? ' fill-opacity="0.35"' : ''}><title>${esc(`${TARGET_LABELS[t]}: ${r.median.toFixed(1)} MB/s`)}</title></rect>`,
        `<text x="${x + barW / 2}" y="${top - 6}" text-anchor="middle" font-size="12" fill="#1a202c">${failed ? 'FAIL' : round(r.median)}</text>`,
      );
    });
    const cx = MARGIN.left + g * groupW + groupW / 2;
    const label = wrap(s.scenario.title, Math.floor(groupW / 7.5))
      .map((line, i) => `<tspan x="${cx}" dy="${i === 0 ? 0 : 16}">${esc(line)}</tspan>`)
      .join('');
    out.push(`<text x="${cx}" y="${MARGIN.top + plotH + 22}" text-anchor="middle" fill="#1a202c">${label}</text>`);
  });

  let lx = MARGIN.left;
  TARGETS.forEach((t) => {
    out.push(
      `<rect x="${lx}" y="58" width="14" height="14" fill="${COLORS[t]}"/>`,
      `<text x="${lx + 20}" y="70" fill="#1a202c">${esc(TARGET_LABELS[t])}</text>`,
    );
    lx += 40 + TARGET_LABELS[t].length * 7;
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** Greedy word wrap at `width` characters. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  for (const word of text.split(' ')) {
    const last = lines[lines.length - 1];
    if (last !== undefined && (last + ' ' + word).length <= width) lines[lines.length - 1] = `${last} ${word}`;
    else lines.push(word);
  }
  return lines;
}

function niceCeiling(v: number): number {
  const step = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * step >= v * 1.08) return m * step;
  return 10 * step;
}

function round(v: number): string {
  return v >= 100 ? v.toFixed(0) : v.toFixed(1).replace(/\.0$/, '');
}

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
